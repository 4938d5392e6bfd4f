"""Watching a model after release: drift statistics and their verdicts (`drift`), the
monitor's runs (`run` for `dockyard monitor`, `pipeline` for the monitor stage), decay
(`performance`), and retraining as a pull request (`retrain`). Adding a batch is data
work (`dockyard.data.append`); the pull-request calls live at the GitHub boundary
(`dockyard.github`). The commands' wiring is in `commands`."""
