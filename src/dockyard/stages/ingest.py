"""ingest: read the configured data source, check it against its schema, write Parquet.

The check runs before anything is written: a bad table stops the pipeline at its first
stage, and dvc.lock keeps describing the last good run.
"""

from __future__ import annotations

from dockyard.config import load_params, refuse_silent_switch
from dockyard.data.readers import BATCH_ROWS_ATTR
from dockyard.data.sources import build_source
from dockyard.data.validation import check_dataset
from dockyard.io import write_table
from dockyard.paths import RAW_TABLE
from dockyard.runtime import output_lock, stage_main


@stage_main
def main() -> None:
    cfg = load_params()
    refuse_silent_switch(cfg.data.name)
    table = build_source(cfg.data.source)
    check_dataset(table, cfg)
    with output_lock(RAW_TABLE):
        write_table(table, RAW_TABLE)
    batches = table.attrs.get(BATCH_ROWS_ATTR)  # a folder of batch files (data.window)
    read = f" from {len(batches)} batch file(s)" if batches else ""
    print(f"ingest: {len(table):,} rows x {table.shape[1]} columns{read} -> {RAW_TABLE}")


if __name__ == "__main__":
    main()
