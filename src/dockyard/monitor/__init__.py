"""Watching a model after release: one batch checked against the training data with the
drift statistics of `dockyard.drift` (`check`), the monitor's runs (`run` for
`dockyard monitor`, `pipeline` for the monitor stage), its settings (`policy`), the
project's files (`project`), decay (`performance`), the markdown section (`render`) and
retraining as a pull request (`retrain`). Adding a batch is data work
(`dockyard.data.append`); the pull-request calls live at the GitHub boundary
(`dockyard.github`); the command line is `dockyard.cli.monitor`.

The package face names its modules and imports none of them.
"""

__all__ = [
    "check",
    "performance",
    "pipeline",
    "policy",
    "project",
    "render",
    "retrain",
    "run",
]
