"""validate: check the raw table against the dataset's declared schema (pandera, lazy)."""

from __future__ import annotations

from dockyard.config import load_params
from dockyard.data.schemas import validate_table
from dockyard.errors import ValidationFailed, exit_on_user_error
from dockyard.io import read_table, write_json
from dockyard.paths import RAW_TABLE, VALIDATION_REPORT


@exit_on_user_error
def main() -> None:
    cfg = load_params()
    table = read_table(RAW_TABLE, produced_by="the ingest stage")
    fix_in = f"conf/data/{cfg.data.name}.yaml (data.schema)"
    path = cfg.data.source.get("path")
    where = f"{path} (ingested as {RAW_TABLE})" if path else RAW_TABLE
    if cfg.data.target not in table.columns:
        shown = ", ".join(map(str, table.columns[:20])) + (" ..." if table.shape[1] > 20 else "")
        raise ValidationFailed(
            f"{where} has no target column {cfg.data.target!r} (data.target). Its columns "
            f"are: {shown}. "
            f"Fix data.target in conf/data/{cfg.data.name}.yaml or the data."
        )
    report = validate_table(
        table,
        cfg.data.schema,
        where=where,
        fix_in=fix_in,
        target=cfg.data.target,
        task=cfg.data.task,
    )
    report["dataset"] = cfg.data.name
    write_json(report, VALIDATION_REPORT)
    print(f"validate: {report['rows']:,} rows passed the {cfg.data.name} schema")


if __name__ == "__main__":
    main()
