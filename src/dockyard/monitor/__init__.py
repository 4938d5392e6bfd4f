"""Watching a model after release: drift statistics and their verdicts (`drift`), batches
of new data (`append`), the monitor's runs (`run` for `dockyard monitor`, `pipeline` for the
monitor stage), decay (`performance`), and retraining as a pull request (`retrain`,
`pulls`). The commands' wiring is in `commands`."""
