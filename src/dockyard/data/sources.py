"""Data sources: callables that return a pandas DataFrame, named by `data.source._target_`.

A user adds a source by pointing `data.source._target_` at any function returning a
DataFrame; its other keys are passed as keyword arguments.
"""

from __future__ import annotations

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
            f"{', '.join(sorted(_SKLEARN_LOADERS))}. Fix data.source.name in conf/data/."
        )
    import sklearn.datasets

    loader = getattr(sklearn.datasets, _SKLEARN_LOADERS[name])
    frame = loader(as_frame=True).frame
    return frame.reset_index(drop=True)
