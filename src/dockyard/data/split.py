"""Train/val/test splits of a table (pure: rows in, row numbers out): seeded and
stratified, or in time order (the past trains, the newest rows test)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dockyard.errors import DataError
from dockyard.paths import SPLITS


def split_indices(
    target: pd.Series,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool = True,
) -> dict[str, np.ndarray]:
    """Row numbers of train/val/test, each sorted; with `stratify`, every class keeps its
    proportion.

    Each class (or the whole table) is shuffled with a generator seeded by `seed` and cut
    by the fractions, rounding per class, so the result depends only on the data and seed.
    """
    rng = np.random.default_rng(seed)
    if stratify:
        codes, classes = pd.factorize(target, sort=True)
        groups = [np.flatnonzero(codes == k) for k in range(len(classes))]
    else:
        groups = [np.arange(len(target))]
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
                f"The {name} split is empty: {len(target)} rows with val_fraction="
                f"{val_fraction} and test_fraction={test_fraction} leave no rows for it. Use "
                "more data or change split.* in conf/config.yaml.",
                kind="empty-split",
            )
        result[name] = index
    return result


def time_indices(
    times: np.ndarray, *, val_fraction: float, test_fraction: float
) -> dict[str, np.ndarray]:
    """Row numbers of train/val/test in time order: the oldest rows train, the next
    validate, the newest test (rows with the same time keep their file order), each sorted.

    No seed is involved: the same table always splits the same way."""
    n = len(times)
    order = np.argsort(np.asarray(times), kind="stable")
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    cuts = {"train": order[: n - n_test - n_val], "val": order[n - n_test - n_val : n - n_test]}
    cuts["test"] = order[n - n_test :]
    for name in SPLITS:
        if cuts[name].size == 0:
            raise DataError(
                f"The {name} split is empty: {n} rows with val_fraction={val_fraction} and "
                f"test_fraction={test_fraction} leave no rows for it. Use more data or change "
                "split.* in conf/config.yaml.",
                kind="empty-split",
            )
    return {name: np.sort(cuts[name]) for name in SPLITS}


def split_table(
    table: pd.DataFrame,
    target: str,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool = True,
) -> dict[str, pd.DataFrame]:
    """`split_indices` applied to a DataFrame; rows keep their order inside each split."""
    indices = split_indices(
        table[target],
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        stratify=stratify,
    )
    return {name: table.iloc[index].reset_index(drop=True) for name, index in indices.items()}
