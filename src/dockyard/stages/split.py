"""split: seeded, stratified train/val/test split of the validated table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dockyard.config import load_params
from dockyard.errors import DataError, exit_on_user_error
from dockyard.io import read_table, write_table
from dockyard.paths import RAW_TABLE, SPLITS, split_path


def split_table(
    table: pd.DataFrame,
    target: str,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool = True,
) -> dict[str, pd.DataFrame]:
    """Split rows into train/val/test; with `stratify`, every class keeps its proportion.

    Each class (or the whole table) is shuffled with a generator seeded by `seed` and cut
    by the fractions, rounding per class, so the result depends only on the data and seed.
    Rows keep their original order inside each split.
    """
    rng = np.random.default_rng(seed)
    if stratify:
        codes, classes = pd.factorize(table[target], sort=True)
        groups = [np.flatnonzero(codes == k) for k in range(len(classes))]
    else:
        groups = [np.arange(len(table))]
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for rows in groups:
        rows = rng.permutation(rows)
        n_test = int(round(len(rows) * test_fraction))
        n_val = int(round(len(rows) * val_fraction))
        # every class keeps at least one training row (tiny classes lose val rows first)
        n_val = max(0, min(n_val, len(rows) - 1 - n_test))
        n_test = max(0, min(n_test, len(rows) - 1))
        parts["test"].append(rows[:n_test])
        parts["val"].append(rows[n_test : n_test + n_val])
        parts["train"].append(rows[n_test + n_val :])
    result = {}
    for name in SPLITS:
        index = np.sort(np.concatenate(parts[name]))
        if index.size == 0:
            raise DataError(
                f"The {name} split is empty: {len(table)} rows with val_fraction={val_fraction} "
                f"and test_fraction={test_fraction} leave no rows for it. Use more data or "
                "change split.* in conf/config.yaml."
            )
        result[name] = table.iloc[index].reset_index(drop=True)
    return result


@exit_on_user_error
def main() -> None:
    cfg = load_params()
    table = read_table(RAW_TABLE, produced_by="the ingest stage")
    splits = split_table(
        table,
        cfg.data.target,
        val_fraction=cfg.split.val_fraction,
        test_fraction=cfg.split.test_fraction,
        seed=cfg.seed,
        stratify=cfg.split.stratify and cfg.data.task == "classification",
    )
    for name, part in splits.items():
        write_table(part, split_path(name))
    sizes = ", ".join(f"{name} {len(part):,}" for name, part in splits.items())
    print(f"split: {sizes} rows -> data/prepared/")


if __name__ == "__main__":
    main()
