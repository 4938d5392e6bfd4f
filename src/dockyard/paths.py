"""Where each stage reads and writes, relative to the project root (dvc.yaml mirrors these)."""

RAW_TABLE = "data/raw/table.parquet"
VALIDATION_REPORT = "data/validation.json"
PREPARED_DIR = "data/prepared"
SPLITS = ("train", "val", "test")
FEATURES_DIR = "data/features"
TRANSFORM_FILE = "data/features/transform.json"
MODEL_DIR = "models"
# The files of one model folder (models/seed-N/): dockyard.models.artifact saves and loads them
MODEL_WEIGHTS = "model.pt"
MODEL_CARD = "model.json"
MODEL_TRANSFORM = "transform.json"
TRAIN_LOG_DIR = "eval/train"
METRICS_FILE = "eval/metrics.json"
PLOTS_DIR = "eval/plots"


def split_path(name: str) -> str:
    return f"{PREPARED_DIR}/{name}.parquet"


def features_path(name: str) -> str:
    return f"{FEATURES_DIR}/{name}.parquet"


# Per-seed outputs of the train@SEED and evaluate@SEED stages.
SEEDS_DIR = "eval/seeds"


# Facts about each run that change every time (seconds, latency, logger run ids):
# committed to git for the report, but never a DVC output, so an identical re-run leaves
# dvc.lock as it was.
RUNS_DIR = "eval/runs"


def run_facts_path(seed: int) -> str:
    return f"{RUNS_DIR}/seed-{seed}.json"


def model_dir(seed: int) -> str:
    return f"{MODEL_DIR}/seed-{seed}"


def seed_dir(seed: int) -> str:
    return f"{SEEDS_DIR}/{seed}"


def train_log_dir(seed: int) -> str:
    """DVCLive's per-epoch curves of one seed's training."""
    return f"{seed_dir(seed)}/train"


def model_summary_path(seed: int) -> str:
    """Parameters and size of one seed's model (deterministic; read by the report)."""
    return f"{seed_dir(seed)}/model.json"
