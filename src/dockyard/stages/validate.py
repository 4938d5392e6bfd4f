"""validate: re-check the ingested table against the dataset's schema (pandera, lazy) and
write the data report (rows, columns, missing values, target distribution) that reviews
of later revisions compare with."""

from __future__ import annotations

from dockyard.config import load_params
from dockyard.data.validation import check_dataset, data_report
from dockyard.io import read_table, write_json
from dockyard.paths import RAW_TABLE, VALIDATION_REPORT
from dockyard.runtime import output_lock, stage_main


@stage_main
def main() -> None:
    cfg = load_params()
    table = read_table(RAW_TABLE, produced_by="the ingest stage")
    check_dataset(table, cfg)
    report = data_report(table, cfg)
    with output_lock(VALIDATION_REPORT):
        write_json(report, VALIDATION_REPORT)
    print(f"validate: {report['rows']:,} rows passed the {cfg.data.name} schema")


if __name__ == "__main__":
    main()
