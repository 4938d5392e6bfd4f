"""Where each stage reads and writes, relative to the project root (dvc.yaml mirrors these)."""

RAW_TABLE = "data/raw/table.parquet"
VALIDATION_REPORT = "data/validation.json"
PREPARED_DIR = "data/prepared"
SPLITS = ("train", "val", "test")
FEATURES_DIR = "data/features"
TRANSFORM_FILE = "data/features/transform.json"
MODEL_DIR = "models"
MODEL_TRANSFORM = "models/transform.json"
MODEL_WEIGHTS = "models/model.pt"
MODEL_CARD = "models/model.json"
TRAIN_LOG_DIR = "eval/train"
METRICS_FILE = "eval/metrics.json"
PLOTS_DIR = "eval/plots"


def split_path(name: str) -> str:
    return f"{PREPARED_DIR}/{name}.parquet"


def features_path(name: str) -> str:
    return f"{FEATURES_DIR}/{name}.parquet"


# Per-seed outputs of the train@SEED and evaluate@SEED stages.
SEEDS_DIR = "eval/seeds"


def model_dir(seed: int) -> str:
    return f"{MODEL_DIR}/seed-{seed}"


def seed_dir(seed: int) -> str:
    return f"{SEEDS_DIR}/{seed}"
