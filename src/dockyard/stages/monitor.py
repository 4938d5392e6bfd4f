"""monitor: how the dataset's newest batch differs from the batches before it.

For a dataset kept as a folder of batch files (`dockyard data append`), the stage compares
the newest batch (read from the folder, which is a dependency) with the window of batches
the previous run trained on: every feature, and the new model's predictions on both. It
writes eval/monitor.json (committed, `dvc metrics show` and the PR report read it) and the
same as markdown on stdout. Drift is recorded, never a failure: the stage exits 0 so
`dvc repro` carries on; `dockyard monitor` is the command whose exit status alarms. Other
datasets have no batches, and the file says the comparison was skipped.
"""

from __future__ import annotations

from dockyard.io import write_json
from dockyard.monitor.pipeline import monitor_pipeline
from dockyard.monitor.project import MONITOR_FILE
from dockyard.monitor.render import render_markdown
from dockyard.runtime import output_lock, stage_main


@stage_main
def main() -> None:
    result = monitor_pipeline(".")
    with output_lock(MONITOR_FILE):
        write_json(result, MONITOR_FILE)
    print(render_markdown(result), end="")
    print(f"monitor: {result['status']} -> {MONITOR_FILE}")


if __name__ == "__main__":
    main()
