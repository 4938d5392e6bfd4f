"""Where each stage reads and writes, relative to the project root (dvc.yaml mirrors these)."""

RAW_TABLE = "data/raw/table.parquet"
VALIDATION_REPORT = "data/validation.json"
PREPARED_DIR = "data/prepared"
SPLITS = ("train", "val", "test")
MODEL_DIR = "models"
MODEL_WEIGHTS = "models/model.pt"
MODEL_CARD = "models/model.json"
TRAIN_LOG_DIR = "eval/train"
METRICS_FILE = "eval/metrics.json"
PLOTS_DIR = "eval/plots"


def split_path(name: str) -> str:
    return f"{PREPARED_DIR}/{name}.parquet"
