"""Data sources: callables that return a pandas DataFrame, named by `data.source._target_`.

A user adds a source by pointing `data.source._target_` at any function returning a
DataFrame; its other keys are passed as keyword arguments.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dockyard.errors import DataError

_SKLEARN_LOADERS = {
    "digits": "load_digits",
    "breast_cancer": "load_breast_cancer",
    "iris": "load_iris",
    "wine": "load_wine",
}


def sklearn_dataset(name: str) -> pd.DataFrame:
    """One of scikit-learn's bundled (offline) datasets as a table with a `target` column."""
    if name not in _SKLEARN_LOADERS:
        raise DataError(
            f"data.source.name is {name!r}, but the bundled scikit-learn datasets are: "
            f"{', '.join(sorted(_SKLEARN_LOADERS))}. Fix data.source.name in conf/data/.",
            kind="unknown-dataset",
            key="data.source.name",
        )
    if name == "digits":
        frame = _digits_without_sklearn()
        if frame is not None:
            return frame
    import sklearn.datasets

    loader = getattr(sklearn.datasets, _SKLEARN_LOADERS[name])
    frame = loader(as_frame=True).frame
    return frame.reset_index(drop=True)


def _digits_without_sklearn() -> pd.DataFrame | None:
    """scikit-learn's digits table read straight from the file it ships, or None.

    Importing scikit-learn costs about a second, most of the ingest stage's time on this
    small table; the file itself is 1,797 rows of 64 pixel counts and the digit. The
    result equals `load_digits(as_frame=True).frame` (a test checks it); when the file is
    not where it was, scikit-learn's loader is used instead.
    """
    import importlib.util
    from pathlib import Path

    import numpy as np

    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), "datasets", "data", "digits.csv.gz")
    if not path.is_file():
        return None
    values = np.loadtxt(path, delimiter=",", dtype=np.float64)
    if values.shape != (1797, 65):
        return None
    names = [f"pixel_{row}_{col}" for row in range(8) for col in range(8)]
    frame = pd.DataFrame(values[:, :64], columns=names)
    frame["target"] = values[:, 64].astype(np.int64)
    return frame


def table_file(
    path: str,
    format: str | None = None,
    delimiter: str = ",",
    drop_columns: list[str] | None = None,
    window: int | None = None,
    time: str | None = None,
    time_format: str | None = None,
) -> pd.DataFrame:
    """A CSV or Parquet file, or a folder of batch files, in the repository (registered by
    `dockyard data add`).

    A folder's batches are read in order (of their earliest `time` value when the schema
    has a time axis, read with `time_format` when it is not ISO 8601, else of their names)
    and stacked; `window` (data.window) keeps
    the last N of them (None: all), so training on recent data is a param change. Each
    batch's row count rides along in `table.attrs` (see `readers.read_batches`) rather
    than as a column, so the batch name never becomes a feature. `drop_columns` are left
    out as the table is read (`data add` lists entirely empty columns there: they carry
    nothing to learn and no type to check)."""
    from pathlib import Path

    from dockyard.data.readers import batch_files, read_batches, read_table

    if Path(path).is_dir():
        files = window_files(batch_files(path, format, time, time_format), window)
        table = read_batches(files, format=format, delimiter=delimiter)
    elif window is not None:
        raise DataError(
            f"data.window is {window}, but {path} is a single file, not a folder of batches: "
            "a window selects batches. Remove data.window (or set it to null) in its conf/data "
            "file, or register a batch folder with `dockyard data add FOLDER`.",
            kind="not-a-folder",
            key="data.window",
            path=path,
        )
    else:
        table = read_table(path, format=format, delimiter=delimiter)
    drop = [c for c in (drop_columns or []) if c in table.columns]
    if drop:
        attrs = dict(table.attrs)
        table = table.drop(columns=drop)
        table.attrs.update(attrs)
    return table


def window_files(files: list[Any], window: int | None) -> list[Any]:
    """The batches a window trains on: the last `window` (all when None)."""
    if window is not None and window < 1:
        raise DataError(
            f"data.window is {window}: it counts the newest batches to train on and must be "
            "1 or more, or null for all of them. Fix it in conf/data/ or your override.",
            kind="out-of-range",
            key="data.window",
        )
    return list(files) if window is None else list(files)[-window:]


def previous_window(files: list[Any], window: int | None) -> list[Any]:
    """The batches the window held before the newest batch arrived: what the model before
    it was trained on (empty when the newest is the only batch)."""
    return window_files(list(files)[:-1], window) if len(files) > 1 else []


def synthetic(
    rows: int = 100_000,
    seed: int = 0,
    numeric: int = 24,
    categorical: int = 6,
    levels: int = 8,
    positive_rate: float = 0.03,
    drift: float = 0.0,
) -> pd.DataFrame:
    """A seeded, fraud-like table: numeric and categorical features, rare positive class.

    The label comes from a fixed logistic model over a few numeric columns and one
    category, its intercept calibrated so that about `positive_rate` of rows are positive.
    `drift` shifts and widens the numeric features (0 = the reference distribution),
    for monitoring work. Everything is vectorised: memory is the table's own size.
    """
    import numpy as np

    if rows < 1 or numeric < 1 or categorical < 0 or levels < 2:
        raise DataError(
            f"data.source for synthetic data needs rows >= 1, numeric >= 1, categorical >= 0 "
            f"and levels >= 2; got rows={rows}, numeric={numeric}, categorical={categorical}, "
            f"levels={levels}.",
            kind="out-of-range",
            key="data.source",
        )
    if not 0 < positive_rate < 1:
        raise DataError(
            f"data.source.positive_rate must be in (0, 1), got {positive_rate}.",
            kind="out-of-range",
            key="data.source.positive_rate",
        )
    rng = np.random.default_rng(seed)
    weights = np.random.default_rng(12345).normal(size=min(numeric, 6)).astype(np.float32)
    columns: dict[str, object] = {}
    logit = np.zeros(rows, dtype=np.float32)
    for i in range(numeric):
        values = rng.standard_normal(rows, dtype=np.float32)
        if drift:
            values *= np.float32(1 + drift / 2)
            values += np.float32(drift)
        if i < len(weights):
            logit += weights[i] * values
        columns[f"num_{i}"] = values
    labels = np.array([f"c{k}" for k in range(levels)])
    for j in range(categorical):
        codes = rng.integers(0, levels, size=rows, dtype=np.int8)
        if j == 0:
            logit += np.where(codes == 0, np.float32(1.5), np.float32(0.0))
        columns[f"cat_{j}"] = pd.Categorical.from_codes(codes, categories=labels)
    logit += np.float32(_calibrated_intercept(logit[:200_000], positive_rate))
    probability = 1.0 / (1.0 + np.exp(-logit))
    columns["target"] = (rng.random(rows, dtype=np.float32) < probability).astype(np.int8)
    return pd.DataFrame(columns)


def _calibrated_intercept(logit, rate: float) -> float:
    """The intercept b with mean(sigmoid(logit + b)) == rate, by bisection on a sample."""
    import numpy as np

    sample = logit.astype(np.float64)
    low, high = -30.0, 30.0
    for _ in range(50):
        middle = (low + high) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(sample + middle)))) > rate:
            high = middle
        else:
            low = middle
    return (low + high) / 2


def build_source(source_cfg: Any) -> pd.DataFrame:
    """Build the source named by `data.source._target_` and return its table."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    target = source_cfg.get("_target_")
    try:
        table = instantiate(source_cfg)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, DataError):
            raise cause from None
        raise DataError(
            f"Could not build the data source data.source ({target}): "
            f"{str(error).strip().splitlines()[0]}. Check data.source in conf/data/.",
            kind="build-failed",
            key="data.source",
        ) from None
    if not isinstance(table, pd.DataFrame):
        raise DataError(
            f"data.source._target_ ({target}) must return a pandas DataFrame, but returned "
            f"{type(table).__name__}.",
            kind="not-a-table",
            key="data.source._target_",
        )
    if table.empty:
        raise DataError(
            f"data.source ({target}) returned an empty table.", kind="no-rows", key="data.source"
        )
    return table
