"""featurize: fit preprocessing on the training split; apply it unchanged to every split.

Writes data/features/transform.json (the fitted transform, plain JSON) and
data/features/{train,val,test}.parquet: float32 feature columns plus `__label__`.
Tables are transformed in chunks, so memory stays near the size of the input table.
"""

from __future__ import annotations

import pandas as pd

from dockyard.config import load_params
from dockyard.data.features import LABEL, FeatureTransform, fit_transform
from dockyard.errors import exit_on_user_error
from dockyard.io import atomic_path, read_table, write_text
from dockyard.paths import FEATURES_DIR, SPLITS, TRANSFORM_FILE, features_path, split_path

CHUNK_ROWS = 250_000


def write_features(transform: FeatureTransform, table: pd.DataFrame, path: str, where: str) -> int:
    """Transform `table` chunk by chunk into a Parquet file; return the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [(name, pa.float32()) for name in transform.output_columns]
        + [(LABEL, pa.float32() if transform.task == "regression" else pa.int64())]
    )
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, max(len(table), 1), CHUNK_ROWS):
            chunk = table.iloc[start : start + CHUNK_ROWS]
            matrix = transform.features(chunk, where)
            arrays = [pa.array(matrix[:, j]) for j in range(matrix.shape[1])]
            arrays.append(pa.array(transform.labels(chunk, where)))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    return len(table)


@exit_on_user_error
def main() -> None:
    cfg = load_params()
    train = read_table(split_path("train"), produced_by="the split stage")
    # Column roles follow the table's dtypes: the validate stage has checked them against
    # data.schema, so the schema itself is not a parameter of this stage.
    transform = fit_transform(
        train, target=cfg.data.target, task=cfg.data.task, policy=cfg.featurize
    )
    write_text(transform.to_json(), TRANSFORM_FILE)
    for name in SPLITS:
        table = train if name == "train" else read_table(split_path(name), "the split stage")
        write_features(transform, table, features_path(name), where=f"{split_path(name)}")
    print(
        f"featurize: {len(transform.numeric)} numeric + {len(transform.categorical)} categorical "
        f"columns -> {len(transform.output_columns)} features ({transform.encoding}) -> "
        f"{FEATURES_DIR}/"
    )


if __name__ == "__main__":
    main()
