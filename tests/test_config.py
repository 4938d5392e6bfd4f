"""Composition of conf/ into params.yaml, and every way it refuses bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from dockyard.config import compose, compose_params, load_params, validate
from dockyard.errors import ConfigError

from .helpers import ROOT, project_env


def dockyard(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dockyard.cli", *args],
        cwd=cwd,
        env=project_env(),
        capture_output=True,
        text=True,
    )


@pytest.fixture
def conf_root(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


def test_committed_params_yaml_is_fresh() -> None:
    assert compose_params([], ROOT) == (ROOT / "params.yaml").read_text()


def test_compose_writes_what_dvc_exp_run_writes(tmp_path: Path) -> None:
    """DVC composes conf/ itself for `dvc exp run -S`; both must write identical bytes."""
    from dvc.utils.hydra import compose_and_dump

    overrides = ["model=cnn", "train.lr=0.01", "trainer=cpu"]
    compose_and_dump(tmp_path / "dvc.yaml", str(ROOT / "conf"), None, "config", "", overrides)
    assert compose_params(overrides, ROOT) == (tmp_path / "dvc.yaml").read_text()


def test_overrides_reach_params(conf_root: Path) -> None:
    result = dockyard("compose", "model=cnn", "train.lr=0.01", "data=breast_cancer", cwd=conf_root)
    assert result.returncode == 2  # cnn needs image-shaped data: refused
    result = dockyard("compose", "model=cnn", "train.lr=0.01", cwd=conf_root)
    assert result.returncode == 0, result.stderr
    params = OmegaConf.load(conf_root / "params.yaml")
    assert params.model.name == "cnn"
    assert params.train.lr == 0.01
    # interpolation resolved: the CNN gets the dataset's image shape
    assert list(params.model.net.image_shape) == [1, 8, 8]


def test_trainer_variants_inherit_from_default() -> None:
    gpu = compose(["trainer=gpu"], ROOT).trainer
    ddp = compose(["trainer=ddp"], ROOT).trainer
    default = compose([], ROOT).trainer
    assert (gpu.accelerator, gpu.precision) == ("gpu", "auto")
    assert (ddp.strategy, ddp.devices, ddp.precision) == ("ddp", -1, "auto")
    assert default.accelerator == "auto"
    assert gpu.enable_progress_bar == default.enable_progress_bar


def test_precision_auto_follows_the_model_on_a_gpu_only() -> None:
    from dockyard.models.training import resolve_precision

    def resolved(*overrides: str) -> str:
        return resolve_precision(validate(compose(list(overrides), ROOT)))

    assert resolved("trainer=gpu") == "32-true"  # mlp: overhead-bound, fp32
    assert resolved("trainer=gpu", "model=cnn") == "bf16-mixed"
    assert resolved("trainer=gpu", "model=cnn", "trainer.accelerator=cpu") == "32-true"
    assert resolved("trainer=gpu", "trainer.precision=bf16-mixed") == "bf16-mixed"
    with pytest.raises(ConfigError, match="'trainer.precision' is 'bf17'"):
        validate(compose(["trainer.precision=bf17"], ROOT))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model=no_such_model"], ["'no_such_model'", "'model'", "cnn, linear, mlp"]),
        (["train.lrr=1"], ["'train.lrr'", "batch_size", "Did you mean 'train.lr'?"]),
        (["+train.lrr=1"], ["'train.lrr'", "Did you mean 'train.lr'?"]),
        (
            ["modle=cnn"],
            [
                "'modle'",
                "Did you mean 'model'?",
                "config groups: data, logger, model, monitor, promotion, trainer",
            ],
        ),
        (["train.lr=fast"], ["'train.lr'", "wrong type", "float"]),
        (["train.epochs=0"], ["'train.epochs'", "positive"]),
        (["split.test_fraction=0.9"], ["split.val_fraction + split.test_fraction"]),
        (["data=breast_cancer", "model=cnn"], ["image_shape", "model=mlp"]),
        (["train.early_stopping.mode=up"], ["'train.early_stopping.mode'", "min, max"]),
        (["train.lr"], ["Could not parse the override 'train.lr'"]),
        # settings that used to pass compose and crash a stage later with a traceback
        (["trainer.devices=0"], ["'trainer.devices' is 0", "at least one device"]),
        (
            ["train.early_stopping.monitor=val/f1"],
            ["'val/f1'", "logs only val/loss and val/accuracy"],
        ),
        (
            ["train.early_stopping.monitor=val/accuracy"],
            ["mode is 'min'", "higher-is-better", "train.early_stopping.mode=max"],
        ),
        (
            ["data=breast_cancer", "data.task=regression", "data.schema.columns.target.dtype=str"],
            ["regression", "'target' is declared dtype str", "must be numeric"],
        ),
        (["data.target=label"], ["data.target is 'label'", "declares no such column"]),
        # one place for the optimizer's settings: a value written elsewhere is never ignored
        (["train.optimizer.lr=0.5"], ["train.optimizer.lr is 0.5 but train.lr is 0.001"]),
        (["logger=wandb"], ["needs the 'wandb' package", 'pip install -e ".[wandb]"']),
        # the sections only `dockyard monitor` and `dockyard promote` read, checked here too
        (["monitor.fdr=1.5"], ["'monitor.fdr' must be a number in (0, 1)", "conf/monitor/"]),
        (["monitor.retrain_on=[weekly]"], ["'monitor.retrain_on' names 'weekly'"]),
        (["promotion.protected=[production]"], ["'promotion.protected' names production"]),
        (["+data.window=3"], ["data.window is 3 but data.source.window is None"]),
    ],
)
def test_bad_compose_is_refused_cleanly(
    conf_root: Path, overrides: list[str], expected: list[str]
) -> None:
    before = (conf_root / "params.yaml").read_bytes()
    result = dockyard("compose", *overrides, cwd=conf_root)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.startswith("dockyard: error:")
    assert len(message.splitlines()) == 1, "one paragraph"
    for fragment in expected:
        assert fragment in message
    assert (conf_root / "params.yaml").read_bytes() == before


def test_check_detects_stale_params(conf_root: Path) -> None:
    assert dockyard("compose", "--check", cwd=conf_root).returncode == 0
    text = (conf_root / "params.yaml").read_text().replace("lr: 0.001", "lr: 0.5")
    (conf_root / "params.yaml").write_text(text)
    result = dockyard("compose", "--check", cwd=conf_root)
    assert result.returncode == 1
    assert "-  lr: 0.5" in result.stdout and "+  lr: 0.001" in result.stdout
    assert "stale" in result.stderr
    assert (conf_root / "params.yaml").read_text() == text  # --check writes nothing
    # overrides are honoured by --check
    assert dockyard("compose", "train.lr=0.5", "--check", cwd=conf_root).returncode == 0


def test_stage_side_validation_names_the_key(tmp_path: Path) -> None:
    params = OmegaConf.load(ROOT / "params.yaml")
    params.train.lrr = 3
    (tmp_path / "params.yaml").write_text(OmegaConf.to_yaml(params))
    with pytest.raises(ConfigError, match=r"unknown config key 'train.lrr'.*train.lr"):
        load_params(tmp_path / "params.yaml")


def test_load_params_validates_types_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dockyard compose"):
        load_params(tmp_path / "params.yaml")
    params = OmegaConf.to_container(OmegaConf.load(ROOT / "params.yaml"))
    params["train"]["batch_size"] = "many"
    with pytest.raises(ConfigError, match="'train.batch_size' has the wrong type"):
        validate(params)
    params["train"]["batch_size"] = 32
    params["data"]["schema"]["columns"]["target"]["dtype"] = "int65"
    with pytest.raises(ConfigError, match="int64"):
        validate(params)


def test_unknown_target_module_is_refused() -> None:
    cfg = compose(["model.net._target_=nothing"], ROOT)
    with pytest.raises(ConfigError, match="dotted import path"):
        validate(cfg)


def test_help_explains_commands(tmp_path: Path) -> None:
    result = dockyard("compose", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "--check" in result.stdout and "dvc exp run -S" in result.stdout


def test_missing_conf_dir_is_a_clear_error(tmp_path: Path) -> None:
    result = dockyard("compose", cwd=tmp_path)
    assert result.returncode == 2
    assert "conf/config.yaml" in result.stderr.replace(str(tmp_path) + "/", "")
    assert "Traceback" not in result.stderr
