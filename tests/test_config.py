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

from .helpers import ROOT, error_of, run


def dockyard(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The CLI in `cwd`; `result.errors` holds the records of the errors it exited on."""
    return run([sys.executable, "-m", "dockyard.cli", *args], cwd, check=False)


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
    with pytest.raises(ConfigError) as caught:
        validate(compose(["trainer.precision=bf17"], ROOT))
    assert (caught.value.kind, caught.value.key) == ("not-a-choice", "trainer.precision")
    # the one wording check for kind 'not-a-choice'
    assert str(caught.value).startswith(
        "params.yaml: 'trainer.precision' is 'bf17', expected one of: 32-true, bf16-mixed,"
    )


@pytest.mark.parametrize(
    ("overrides", "kind", "key", "expected"),
    [
        # `expected`: what the message says beyond kind and key (values, hints, choices)
        (
            ["model=no_such_model"],
            "unknown-option",
            "model",
            [
                # the one wording check for kind 'unknown-option'
                "Unknown option 'no_such_model' for config group 'model': there is no "
                "conf/model/no_such_model.yaml.",
                "cnn, linear, mlp",
            ],
        ),
        (["train.lrr=1"], "unknown-key", "train.lrr", ["batch_size", "Did you mean 'train.lr'?"]),
        (["+train.lrr=1"], "unknown-key", "train.lrr", ["Did you mean 'train.lr'?"]),
        (
            ["modle=cnn"],
            "unknown-key",
            "modle",
            [
                "Did you mean 'model'?",
                "config groups: data, logger, model, monitor, promotion, trainer",
            ],
        ),
        (["train.lr=fast"], "wrong-type", "train.lr", ["'fast'", "float"]),
        (["train.epochs=0"], "out-of-range", "train.epochs", ["positive, found 0"]),
        (["split.test_fraction=0.9"], "conflict", "split", ["+ 0.9."]),
        (["data=breast_cancer", "model=cnn"], "conflict", "data.image_shape", ["model=mlp"]),
        (
            ["train.early_stopping.mode=up"],
            "not-a-choice",
            "train.early_stopping.mode",
            ["min, max"],
        ),
        # the one wording check for kind 'bad-override'
        (["train.lr"], "bad-override", None, ["Could not parse the override 'train.lr': "]),
        # settings that used to pass compose and crash a stage later with a traceback
        (
            ["trainer.devices=0"],
            "bad-value",
            "trainer.devices",
            # the one wording check for kind 'bad-value'
            ["'trainer.devices' is 0: Lightning needs at least one device."],
        ),
        (
            ["trainer.strategy=dpp"],
            "not-a-choice",
            "trainer.strategy",
            ["'dpp'", "ddp_spawn", "Did you mean 'ddp'?"],
        ),
        (
            ["trainer=ddp", "trainer.accelerator=cpu"],
            "bad-value",
            "trainer.devices",
            ["is -1 with trainer.accelerator=cpu", "trainer.devices=2"],
        ),
        (
            ["trainer.strategy=fsdp", "trainer.accelerator=cpu"],
            "conflict",
            "trainer.strategy",
            ["GPUs only", "trainer.strategy=ddp"],
        ),
        (
            ["train.early_stopping.monitor=val/f1"],
            "not-a-choice",
            "train.early_stopping.monitor",
            ["'val/f1'", "val/loss and val/accuracy"],
        ),
        (
            ["train.early_stopping.monitor=val/accuracy"],
            "conflict",
            "train.early_stopping.mode",
            ["mode is 'min'", "train.early_stopping.mode=max"],
        ),
        (
            ["data=breast_cancer", "data.task=regression", "data.schema.columns.target.dtype=str"],
            "conflict",
            "data.task",
            ["declared dtype str"],
        ),
        (
            ["data.target=label"],
            "missing-column",
            "data.target",
            # the one wording check for kind 'missing-column'
            [
                "data.target is 'label', but the schema in conf/data/digits.yaml declares no "
                "such column."
            ],
        ),
        # one place for the optimizer's settings: a value written elsewhere is never ignored
        (
            ["train.optimizer.lr=0.5"],
            "conflict",
            "train.optimizer.lr",
            [
                # the one wording check for kind 'conflict'
                "train.optimizer.lr is 0.5 but train.lr is 0.001: the optimizer takes lr from "
                "train.lr (`lr: ${train.lr}`). Set train.lr instead, so the two never disagree."
            ],
        ),
        (["logger=wandb"], "missing-package", "logger", ['pip install -e ".[wandb]"']),
        # the sections only `dockyard monitor` and `dockyard promote` read, checked here too
        (["monitor.fdr=1.5"], "out-of-range", "monitor.fdr", ["(0, 1)", "conf/monitor/"]),
        (["monitor.retrain_on=[weekly]"], "not-a-choice", "monitor.retrain_on", ["'weekly'"]),
        (
            ["promotion.protected=[production]"],
            "not-a-choice",
            "promotion.protected",
            ["names production"],
        ),
        (["+data.window=3"], "conflict", "data.window", ["is 3 but data.source.window is None"]),
        # dockyard's own networks: arguments the train stage could not build them with
        (
            ["model.net.hidden=[64,wide]"],
            "wrong-type",
            "model.net.hidden",
            ["a list of whole numbers of at least 1", "found [64, 'wide']", "conf/model/mlp.yaml"],
        ),
        (["model.net.dropout=1.5"], "wrong-type", "model.net.dropout", ["in [0, 1), found 1.5"]),
        (
            ["model=cnn", "model.net.channels=[32,0]"],
            "wrong-type",
            "model.net.channels",
            ["found [32, 0]", "conf/model/cnn.yaml"],
        ),
        (["model=cnn", "model.net.hidden=[64]"], "wrong-type", "model.net.hidden", ["whole"]),
    ],
)
def test_bad_compose_is_refused_cleanly(
    conf_root: Path, overrides: list[str], kind: str, key: str | None, expected: list[str]
) -> None:
    before = (conf_root / "params.yaml").read_bytes()
    result = dockyard("compose", *overrides, cwd=conf_root)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.startswith("dockyard: error:")
    assert len(message.splitlines()) == 1, "one paragraph"
    record = error_of(result)
    assert (record["type"], record["kind"], record["key"]) == ("ConfigError", kind, key)
    assert message == f"dockyard: error: {record['message']}"
    for fragment in expected:
        assert fragment in record["message"]
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
    with pytest.raises(ConfigError) as caught:
        load_params(tmp_path / "params.yaml")
    assert (caught.value.kind, caught.value.key) == ("unknown-key", "train.lrr")
    # the one wording check for kind 'unknown-key'
    assert str(caught.value).startswith(
        f"{tmp_path / 'params.yaml'}: unknown config key 'train.lrr'. Valid keys under 'train': "
    )
    assert "Did you mean 'train.lr'?" in str(caught.value)


def test_load_params_validates_types_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_params(tmp_path / "params.yaml")
    assert caught.value.kind == "missing-file"
    assert caught.value.path == str(tmp_path / "params.yaml")
    # the one wording check for kind 'missing-file'
    assert str(caught.value) == (
        f"Expected {tmp_path / 'params.yaml'} (the composed parameters), but it does not exist. "
        "Run `dockyard compose` to write it from conf/."
    )
    params = OmegaConf.to_container(OmegaConf.load(ROOT / "params.yaml"))
    params["train"]["batch_size"] = "many"
    with pytest.raises(ConfigError) as caught:
        validate(params)
    assert (caught.value.kind, caught.value.key) == ("wrong-type", "train.batch_size")
    # the one wording check for kind 'wrong-type'
    assert str(caught.value).startswith("params.yaml: 'train.batch_size' has the wrong type: ")
    params["train"]["batch_size"] = 32
    params["data"]["schema"]["columns"]["target"]["dtype"] = "int65"
    with pytest.raises(ConfigError) as caught:
        validate(params)
    assert caught.value.kind == "not-a-choice"
    assert caught.value.key == "data.schema.columns.target.dtype"
    assert caught.value.column == "target"
    assert "int64" in str(caught.value)  # the valid dtypes are listed


def test_unknown_target_module_is_refused() -> None:
    cfg = compose(["model.net._target_=nothing"], ROOT)
    with pytest.raises(ConfigError) as caught:
        validate(cfg)
    assert (caught.value.kind, caught.value.key) == ("bad-target", "model.net._target_")
    # the one wording check for kind 'bad-target'
    assert str(caught.value) == (
        "params.yaml: 'model.net._target_' must name a class or function by its dotted import "
        "path (e.g. my_package.nets.MyNet), found 'nothing'."
    )


def test_help_explains_commands(tmp_path: Path) -> None:
    result = dockyard("compose", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "--check" in result.stdout and "dvc exp run -S" in result.stdout


def test_missing_conf_dir_is_a_clear_error(tmp_path: Path) -> None:
    result = dockyard("compose", cwd=tmp_path)
    assert result.returncode == 2
    record = error_of(result)
    assert record["kind"] == "missing-file"
    assert Path(record["path"]) == (tmp_path / "conf/config.yaml").resolve()
    assert "Traceback" not in result.stderr
