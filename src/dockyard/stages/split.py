"""split: seeded, stratified train/val/test split of the validated table."""

from __future__ import annotations

from dockyard.config import load_params
from dockyard.data.split import split_indices
from dockyard.errors import DataError
from dockyard.io import read_arrow, staged_dir, write_arrow
from dockyard.paths import PREPARED_DIR, RAW_TABLE
from dockyard.runtime import output_lock, stage_main


@stage_main
def main() -> None:
    import pyarrow as pa

    cfg = load_params()
    # The table stays in Arrow form: each split is taken from it and written in turn, so
    # memory peaks near the table plus its largest split, not the table plus all three.
    table = read_arrow(RAW_TABLE, produced_by="the ingest stage")
    if cfg.data.target not in table.column_names:
        raise DataError(
            f"{RAW_TABLE} has no target column {cfg.data.target!r} (data.target). Fix "
            "data.target in conf/data/ or the data, then run `dvc repro` again."
        )
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
    print(f"split: {sizes} rows -> {PREPARED_DIR}/")


if __name__ == "__main__":
    main()
