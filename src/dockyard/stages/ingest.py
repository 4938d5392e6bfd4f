"""ingest: read the configured data source, check it against its schema, write Parquet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from dockyard.config import load_params
from dockyard.errors import DataError, exit_on_user_error
from dockyard.io import write_table
from dockyard.paths import RAW_TABLE


def ingest(source_cfg: Mapping[str, Any]) -> pd.DataFrame:
    """Build the source named by `_target_` and return its table."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        table = instantiate(source_cfg)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, DataError):
            raise cause from None
        raise DataError(
            f"Could not build the data source data.source ({source_cfg.get('_target_')}): "
            f"{str(error).strip().splitlines()[0]}. Check data.source in conf/data/."
        ) from None
    if not isinstance(table, pd.DataFrame):
        raise DataError(
            f"data.source._target_ ({source_cfg.get('_target_')}) must return a pandas "
            f"DataFrame, but returned {type(table).__name__}."
        )
    if table.empty:
        raise DataError(f"data.source ({source_cfg.get('_target_')}) returned an empty table.")
    return table


@exit_on_user_error
def main() -> None:
    from dockyard.stages.validate import check_table

    cfg = load_params()
    table = ingest(cfg.data.source)
    # Refuse a bad table here, before anything is written: the pipeline then stops at its
    # first stage and dvc.lock still describes the last good run.
    check_table(table, cfg)
    write_table(table, RAW_TABLE)
    print(f"ingest: {len(table):,} rows x {table.shape[1]} columns -> {RAW_TABLE}")


if __name__ == "__main__":
    main()
