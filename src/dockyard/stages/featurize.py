"""featurize: fit preprocessing on the training split; apply it unchanged to every split.

Writes data/features/transform.json (the fitted transform, plain JSON) and
data/features/{train,val,test}.parquet: float32 feature columns plus `__label__`.
Tables are transformed in chunks, so memory stays near the size of the input table.
"""

from __future__ import annotations

from dockyard.config import load_params, refuse_silent_switch
from dockyard.data.features import fit_transform, write_features
from dockyard.io import read_table, staged_dir
from dockyard.paths import FEATURES_DIR, SPLITS, TRANSFORM_FILE, split_path
from dockyard.runtime import output_lock, stage_main


@stage_main
def main() -> None:
    cfg = load_params()
    refuse_silent_switch(cfg.data.name)
    train = read_table(split_path("train"), produced_by="the split stage")
    # Column roles follow the table's dtypes: the validate stage has checked them against
    # data.schema. Key columns (identifiers) are never features.
    columns = cfg.data.schema.columns
    keys = [name for name, spec in columns.items() if spec.key]
    # datetime columns become the parts featurize.datetime names, in their declared zone
    times = {name: spec.tz for name, spec in columns.items() if spec.dtype == "datetime"}
    transform = fit_transform(
        train,
        target=cfg.data.target,
        task=cfg.data.task,
        policy=cfg.featurize,
        declared={name: "datetime" for name in times},
        keys=keys,
        timezones=times,
    )
    with output_lock(FEATURES_DIR), staged_dir(FEATURES_DIR) as out:
        (out / TRANSFORM_FILE.rsplit("/", 1)[-1]).write_text(transform.to_json(), "utf-8")
        for name in SPLITS:
            table = train if name == "train" else read_table(split_path(name), "the split stage")
            write_features(transform, table, str(out / f"{name}.parquet"), split_path(name))
    print(
        f"featurize: {len(transform.numeric)} numeric + {len(transform.categorical)} categorical "
        f"columns -> {len(transform.output_columns)} features ({transform.encoding}) -> "
        f"{FEATURES_DIR}/"
    )


if __name__ == "__main__":
    main()
