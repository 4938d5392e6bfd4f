"""split: train/val/test split of the validated table: seeded and stratified
(split.by: random) or in time order along the schema's time axis (split.by: time)."""

from __future__ import annotations

from dockyard.config import load_params, refuse_silent_switch
from dockyard.data.split import split_indices, time_indices
from dockyard.errors import DataError
from dockyard.io import read_arrow, staged_dir, write_arrow
from dockyard.paths import PREPARED_DIR, RAW_TABLE
from dockyard.runtime import output_lock, stage_main


@stage_main
def main() -> None:
    import pyarrow as pa

    cfg = load_params()
    refuse_silent_switch(cfg.data.name)
    # The table stays in Arrow form: each split is taken from it and written in turn, so
    # memory peaks near the table plus its largest split, not the table plus all three.
    table = read_arrow(RAW_TABLE, produced_by="the ingest stage")
    if cfg.data.target not in table.column_names:
        raise DataError(
            f"{RAW_TABLE} has no target column {cfg.data.target!r} (data.target). Fix "
            "data.target in conf/data/ or the data, then run `dvc repro` again.",
            kind="missing-column",
            key="data.target",
            column=cfg.data.target,
            path=RAW_TABLE,
        )
    if cfg.split.by == "time":
        # the config check guarantees one datetime column marked `time: true`
        axis = next(n for n, spec in cfg.data.schema.columns.items() if spec.time)
        indices = time_indices(
            table.column(axis).to_numpy(),
            val_fraction=cfg.split.val_fraction,
            test_fraction=cfg.split.test_fraction,
        )
    else:
        indices = split_indices(
            table.column(cfg.data.target).to_pandas(),
            val_fraction=cfg.split.val_fraction,
            test_fraction=cfg.split.test_fraction,
            seed=cfg.seed,
            stratify=cfg.split.stratify and cfg.data.task == "classification",
        )
    with output_lock(PREPARED_DIR), staged_dir(PREPARED_DIR) as out:
        for name, index in indices.items():
            write_arrow(table.take(pa.array(index)), out / f"{name}.parquet")
    sizes = ", ".join(f"{name} {len(index):,}" for name, index in indices.items())
    how = " in time order" if cfg.split.by == "time" else ""
    print(f"split{how}: {sizes} rows -> {PREPARED_DIR}/")


if __name__ == "__main__":
    main()
