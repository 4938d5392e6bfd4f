"""Networks, batching, and the train/evaluate functions on small in-memory data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from sklearn.datasets import load_breast_cancer

from dockyard.config import compose, validate
from dockyard.data.features import fit_transform
from dockyard.data.split import split_table
from dockyard.errors import ConfigError
from dockyard.models.batches import TensorBatches
from dockyard.models.nets import MLP, Linear, SmallCNN, build_model

from .helpers import ROOT


@pytest.mark.parametrize(
    ("net", "shape"),
    [
        (MLP(64, 10, hidden=[32]), (5, 10)),
        (Linear(64, 3), (5, 3)),
        (SmallCNN(64, 10, image_shape=[1, 8, 8], channels=[4, 8], hidden=16), (5, 10)),
    ],
)
def test_networks_map_flat_rows_to_logits(net: torch.nn.Module, shape: tuple[int, int]) -> None:
    net.eval()
    assert net(torch.randn(5, 64)).shape == shape


def test_cnn_refuses_a_shape_that_does_not_fit() -> None:
    with pytest.raises(ConfigError) as caught:
        SmallCNN(64, 10, image_shape=[1, 4, 4])
    assert (caught.value.kind, caught.value.key) == ("shape-mismatch", "data.image_shape")
    # the one wording check for kind 'shape-mismatch'
    assert str(caught.value).startswith(
        "model.net.image_shape [1, 4, 4] does not fit the 64 feature columns (channels x height "
        "x width must equal the number of features)."
    )


def test_user_network_plugs_in_by_target() -> None:
    model = build_model({"_target_": "tests.custom_net.TinyNet", "width": 7}, 30, 2)
    assert model.width == 7
    assert model(torch.randn(3, 30)).shape == (3, 2)


def test_bad_network_settings_are_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        build_model({"_target_": "dockyard.models.nets.MLP", "hiden": [3]}, 4, 2)
    assert (caught.value.kind, caught.value.key) == ("build-failed", "model.net")
    # the one wording check for kind 'build-failed'
    assert str(caught.value).startswith("Could not build model.net (dockyard.models.nets.MLP): ")
    assert "hiden" in str(caught.value)  # the constructor's own complaint names the key
    with pytest.raises(ConfigError) as caught:
        build_model({"_target_": "builtins.dict"}, 4, 2)
    assert (caught.value.kind, caught.value.key) == ("bad-target", "model.net._target_")


def test_batches_are_slices_covering_every_row_once() -> None:
    features = torch.arange(23, dtype=torch.float32).reshape(-1, 1)
    batches = TensorBatches(features, torch.arange(23), batch_size=5, shuffle=True, seed=1)
    assert len(batches) == 5
    first = list(batches)
    assert [len(y) for _, y in first] == [5, 5, 5, 5, 3]
    seen = torch.cat([y for _, y in first])
    assert sorted(seen.tolist()) == list(range(23))
    assert seen.tolist() != list(range(23))  # shuffled
    second = torch.cat([y for _, y in batches])
    assert sorted(second.tolist()) == list(range(23))
    assert not torch.equal(seen, second)  # a new order each epoch
    again = TensorBatches(features, torch.arange(23), batch_size=5, shuffle=True, seed=1)
    assert torch.equal(torch.cat([y for _, y in again]), seen)  # the same seed, the same order
    for x, y in first:  # features travel with their labels
        assert torch.equal(x[:, 0].long(), y)
    ordered = TensorBatches(features, torch.arange(23), batch_size=5, shuffle=False)
    assert torch.cat([y for _, y in ordered]).tolist() == list(range(23))


def test_batches_shard_disjoint_equal_rows_per_process(monkeypatch) -> None:
    """Under DDP each process takes its own rows of one shared permutation."""
    import dockyard.models.batches as batches_module

    features = torch.arange(23, dtype=torch.float32).reshape(-1, 1)
    shares = []
    for rank in (0, 1):
        monkeypatch.setattr(batches_module, "_world", lambda rank=rank: (rank, 2))
        batches = TensorBatches(features, torch.arange(23), batch_size=4, shuffle=True, seed=3)
        assert len(batches) == 3  # 11 rows each (23 // 2), in batches of 4
        shares.append(torch.cat([y for _, y in batches]).tolist())
    assert len(shares[0]) == len(shares[1]) == 11
    assert not set(shares[0]) & set(shares[1])


@pytest.fixture(scope="module")
def cancer_splits() -> dict[str, pd.DataFrame]:
    table = load_breast_cancer(as_frame=True).frame
    return split_table(table, "target", val_fraction=0.15, test_fraction=0.2, seed=0)


def small_cfg(*overrides: str):
    cfg = compose(
        ["data=breast_cancer", "trainer=cpu", "trainer.enable_progress_bar=false", *overrides],
        ROOT,
    )
    return validate(cfg)


def featurized(cfg, splits):
    transform = fit_transform(
        splits["train"], target="target", task=cfg.data.task, policy=cfg.featurize
    )
    arrays = {
        name: (transform.features(part), transform.labels(part)) for name, part in splits.items()
    }
    return transform, arrays


def test_fit_save_load_evaluate_in_process(tmp_path, cancer_splits) -> None:
    """train's and evaluate's functions on a small binary table, without DVC."""
    from dockyard.models.artifact import load_model, model_card, save_model
    from dockyard.models.evaluation import evaluate
    from dockyard.models.training import fit

    cfg = small_cfg("train.epochs=8")
    transform, arrays = featurized(cfg, cancer_splits)
    result = fit(cfg, arrays["train"], arrays["val"], 2, str(tmp_path / "log"))
    training = result["training"]
    assert 1 <= training["best_epoch"] <= training["epochs_run"] <= 8
    assert (tmp_path / "log/plots/metrics/val/loss.tsv").is_file()
    # curves the task does not log still exist (header only), so dvc plots finds them
    assert (tmp_path / "log/plots/metrics/val/mae.tsv").read_text() == "step\tmae\n"

    (tmp_path / "transform.json").write_text(transform.to_json())
    card = model_card(
        cfg,
        seed=0,
        result=result,
        features=transform.output_columns,
        classes=transform.classes,
        params_hash="sha256:test",
        data={},
    )
    model_dir = save_model(tmp_path / "models", result["state"], card, tmp_path / "transform.json")
    model = load_model(model_dir)
    assert model.transform == transform
    assert model.card == {"format": "dockyard-model/1", **json.loads(json.dumps(card))}
    for name, tensor in model.net.state_dict().items():  # dockyard's artifact, not torch's
        assert torch.equal(tensor, result["state"][name]), name
    metrics, plots = evaluate(model, *arrays["test"])
    assert set(metrics) == {"test/accuracy", "test/f1_macro", "test/log_loss", "test/roc_auc"}
    assert metrics["test/accuracy"] > 0.9
    assert metrics["test/roc_auc"] > 0.95
    assert len(plots["confusion"]) == len(cancer_splits["test"])
    assert plots["roc"][0] == {"fpr": 0.0, "tpr": 0.0, "threshold": None}
    assert plots["roc"][-1]["fpr"] == 1.0 and plots["roc"][-1]["tpr"] == 1.0


def test_several_steps_per_call_train_exactly_like_one(tmp_path, cancer_splits) -> None:
    """Chunks of batches per training_step call are an overhead cut, not a change: the
    weights after two epochs are bit for bit those of one batch per call."""
    from dockyard.models.training import fit, steps_per_call

    states, curves = [], []
    for steps in (1, 3):
        cfg = small_cfg("train.epochs=2", "train.batch_size=32", f"train.steps_per_call={steps}")
        assert steps_per_call(cfg) == steps
        _, arrays = featurized(cfg, cancer_splits)
        result = fit(cfg, arrays["train"], arrays["val"], 2, str(tmp_path / f"log{steps}"))
        states.append(result["state"])
        curves.append((tmp_path / f"log{steps}/plots/metrics/train/loss.tsv").read_text())
    assert states[0].keys() == states[1].keys()
    for name in states[0]:
        assert torch.equal(states[0][name], states[1][name]), name
    # the curves too, their x axis included: it counts optimizer steps (12 a epoch here)
    assert curves[0] == curves[1]
    steps_logged = [int(line.split("\t")[0]) for line in curves[0].splitlines()[1:]]
    rows = len(arrays["train"][1])
    assert steps_logged == [-(-rows // 32) * epoch - 1 for epoch in (1, 2)]
    auto = small_cfg("train.batch_size=512")
    assert steps_per_call(auto) == 16
    # on a GPU a step is cheaper, so auto takes more rows per call
    assert steps_per_call(small_cfg("train.batch_size=512", "trainer=gpu")) == 64
    assert (
        steps_per_call(small_cfg("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"))
        == 1
    )


def test_sync_points_are_found_as_dvclive_finds_them() -> None:
    from dvclive.lightning import _should_sync

    from dockyard.models.loggers import _lightning_syncs

    def update_train_epoch_metrics() -> tuple[bool, bool]:
        return _lightning_syncs(), _should_sync()

    def some_callback() -> tuple[bool, bool]:
        return _lightning_syncs(), _should_sync()

    assert update_train_epoch_metrics() == (True, True)
    assert some_callback() == (False, False)


def test_training_curves_are_those_dvclive_writes(tmp_path, cancer_splits, monkeypatch) -> None:
    """dockyard's DVCLive logger only answers "sync now?" faster; the files are the same."""
    from dvclive.lightning import DVCLiveLogger

    from dockyard.models import loggers, training

    cfg = small_cfg("train.epochs=3", "train.batch_size=64")
    _, arrays = featurized(cfg, cancer_splits)
    training.fit(cfg, arrays["train"], arrays["val"], 2, str(tmp_path / "ours"))
    monkeypatch.setattr(
        loggers,
        "dvclive_logger",
        lambda log_dir: DVCLiveLogger(dir=log_dir, dvcyaml=False, save_dvc_exp=False, report=None),
    )
    training.fit(cfg, arrays["train"], arrays["val"], 2, str(tmp_path / "stock"))
    ours = sorted(p.relative_to(tmp_path / "ours") for p in (tmp_path / "ours").rglob("*.*"))
    stock = sorted(p.relative_to(tmp_path / "stock") for p in (tmp_path / "stock").rglob("*.*"))
    assert ours == stock and len(ours) >= 4
    for name in ours:
        assert (tmp_path / "ours" / name).read_text() == (tmp_path / "stock" / name).read_text()


def test_regression_trains_with_mse_and_reports_in_target_units(tmp_path) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.metrics import mean_absolute_error, r2_score

    from dockyard.models.artifact import ModelArtifact
    from dockyard.models.evaluation import evaluate
    from dockyard.models.training import fit

    table = load_diabetes(as_frame=True).frame
    splits = split_table(
        table, "target", val_fraction=0.15, test_fraction=0.2, seed=0, stratify=False
    )
    cfg = small_cfg("data.task=regression", "train.epochs=60", "train.lr=0.01")
    transform, arrays = featurized(cfg, splits)
    assert transform.classes is None and transform.target_scale > 1
    result = fit(cfg, arrays["train"], arrays["val"], 1, str(tmp_path / "log"))
    net = build_model(result["net"], len(transform.output_columns), 1)
    net.load_state_dict(result["state"])
    net.eval()
    card = {"task": "regression", "features": transform.output_columns}
    metrics, plots = evaluate(ModelArtifact(tmp_path, card, transform, net=net), *arrays["test"])
    actual = np.array([p["actual"] for p in plots["predictions"]])
    predicted = np.array([p["predicted"] for p in plots["predictions"]])
    np.testing.assert_allclose(actual, splits["test"]["target"], atol=1e-4)
    assert metrics["test/mae"] == pytest.approx(mean_absolute_error(actual, predicted), rel=1e-4)
    assert metrics["test/r2"] == pytest.approx(r2_score(actual, predicted), abs=1e-4)
    assert metrics["test/r2"] > 0.3  # the diabetes baseline is ~0.45 for linear models


def test_fit_rejects_a_single_class(cancer_splits) -> None:
    from dockyard.errors import DataError
    from dockyard.models.training import fit

    cfg = small_cfg()
    _, arrays = featurized(cfg, cancer_splits)
    with pytest.raises(DataError) as caught:
        fit(cfg, arrays["train"], arrays["val"], 1, "unused")
    assert (caught.value.kind, caught.value.column) == ("single-class", "target")
    # the one wording check for kind 'single-class'
    assert str(caught.value) == (
        "The training split has a single class in 'target'; a classifier needs at least two."
    )


@pytest.mark.skipif(
    torch.cuda.is_available() or torch.backends.mps.is_available(),
    reason="this machine has the GPU the settings ask for",
)
def test_trainer_settings_this_machine_cannot_run_are_a_config_error(
    tmp_path, cancer_splits
) -> None:
    """params.yaml is portable, so compose accepts `trainer=gpu` anywhere; on a machine
    without the GPU the train stage refuses it in one paragraph (exit 2), before training,
    and so does whatever else Lightning refuses about the trainer settings here."""
    from dockyard.models.training import fit

    cfg = small_cfg("trainer.accelerator=gpu")
    _, arrays = featurized(cfg, cancer_splits)
    with pytest.raises(ConfigError) as caught:
        fit(cfg, arrays["train"], arrays["val"], 2, str(tmp_path / "gpu"))
    assert (caught.value.kind, caught.value.key) == ("no-device", "trainer.accelerator")
    # the one wording check for kind 'no-device'
    assert str(caught.value).startswith(
        "params.yaml sets trainer.accelerator=gpu, but torch sees no GPU (CUDA or Apple MPS) "
        f"on this machine (torch {torch.__version__}"
    )
    assert not (tmp_path / "gpu").exists()  # refused before the loggers wrote anything
    for accelerator in ("cuda", "mps"):
        with pytest.raises(ConfigError) as caught:
            fit(
                small_cfg(f"trainer.accelerator={accelerator}"),
                arrays["train"],
                arrays["val"],
                2,
                "x",
            )
        assert caught.value.key == "trainer.accelerator"
        assert f"trainer.accelerator={accelerator}," in str(caught.value)
    # GPU indices where `auto` finds only the CPU: Lightning's refusal, named and explained
    cfg = small_cfg("trainer.accelerator=auto", "trainer.devices=[0,1]")
    with pytest.raises(ConfigError) as caught:
        fit(cfg, arrays["train"], arrays["val"], 2, str(tmp_path / "indices"))
    assert (caught.value.kind, caught.value.key) == ("trainer-refused", "trainer")
    message = str(caught.value)
    assert "(accelerator=auto, devices=[0, 1], strategy=auto, num_nodes=1, " in message
    assert ": `devices` selected with `CPUAccelerator` should be an int > 0. Change them" in message


def test_the_strategies_compose_accepts_are_lightnings() -> None:
    """`trainer.strategy` is checked at compose time against a list kept in the config
    schema (compose never imports Lightning): it must be Lightning's own, less the TPU ones."""
    from pytorch_lightning.strategies import StrategyRegistry

    from dockyard.config.schema import STRATEGIES

    lightning = set(StrategyRegistry.available_strategies())
    tpu = {name for name in lightning if "xla" in name or "tpu" in name}
    assert tpu and set(STRATEGIES) == {"auto"} | (lightning - tpu)


class Payload:
    """Stands in for code a tampered weights file would run when unpickled."""

    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_model_folder_refuses_pickled_code(tmp_path, capsys) -> None:
    """dockyard's loader reads weights with weights_only: a file holding objects (which a
    plain torch.load would run) is refused with a clear message, nothing executed."""
    from dockyard.errors import DataError
    from dockyard.models.artifact import load_model, read_card

    net_cfg = OmegaConf.to_container(compose([], ROOT).model.net)
    folder = tmp_path / "seed-0"
    folder.mkdir()
    (folder / "model.json").write_text(
        json.dumps(
            {"task": "classification", "features": ["a"] * 64, "outputs": 10, "net": net_cfg}
        )
    )
    (folder / "transform.json").write_text("{}")
    torch.save({"layers.0.weight": Payload()}, folder / "model.pt")
    with pytest.raises(DataError) as caught:
        load_model(folder)
    assert (caught.value.kind, caught.value.path) == ("bad-weights", str(folder / "model.pt"))
    # the one wording check for kind 'bad-weights'
    assert str(caught.value).startswith(
        f"{folder / 'model.pt'} does not hold the weights its card describes ("
    )
    assert "pickled code ran" not in capsys.readouterr().out
    (folder / "model.json").write_text(json.dumps({"format": "dockyard-model/0", "task": "x"}))
    with pytest.raises(DataError) as caught:
        read_card(folder)
    assert (caught.value.kind, caught.value.path) == ("unknown-model-format", str(folder))
    # the one wording check for kind 'unknown-model-format'
    assert str(caught.value).startswith(
        f"{folder} was written in model format 'dockyard-model/0', but this dockyard reads "
    )
    (folder / "model.pt").unlink()
    with pytest.raises(DataError) as caught:
        read_card(folder)
    assert (caught.value.kind, caught.value.path) == ("missing-file", str(folder / "model.pt"))


def test_orders_drawn_ahead_are_the_orders_drawn_in_time() -> None:
    """On a GPU the next epoch's order is drawn on a background thread while the current one
    runs: the same orders, epoch after epoch, as drawing each when its epoch starts."""
    features = torch.arange(50, dtype=torch.float32).reshape(-1, 1)
    in_time = TensorBatches(features, torch.arange(50), batch_size=8, shuffle=True, seed=4)
    ahead = TensorBatches(features, torch.arange(50), batch_size=8, shuffle=True, seed=4)
    ahead.draw_ahead = True  # what to("cuda") sets; the same code on a CPU
    for _ in range(3):
        expected = torch.cat([y for _, y in in_time])
        assert ahead._ahead is None or ahead._ahead[0][0] == ahead.epoch
        assert torch.equal(torch.cat([y for _, y in ahead]), expected)
        assert ahead._ahead is not None and ahead._ahead[0][0] == ahead.epoch  # the next
    ahead.rows_only = in_time.rows_only = True  # row indices, as captured steps take them
    assert torch.equal(torch.cat(list(ahead)), torch.cat(list(in_time)))


def test_the_layout_of_the_training_features_does_not_change_the_weights(
    tmp_path, cancer_splits
) -> None:
    """pandas hands over column-major features; fit gathers from a row-major copy. The
    batches are the same, so the weights are too, bit for bit."""
    from dockyard.models.training import fit

    cfg = small_cfg("train.epochs=2", "train.batch_size=32")
    _, arrays = featurized(cfg, cancer_splits)
    x, y = arrays["train"]
    states = []
    for layout in (np.asfortranarray(x), np.ascontiguousarray(x)):
        result = fit(cfg, (layout, y), arrays["val"], 2, str(tmp_path / f"log{len(states)}"))
        states.append(result["state"])
    for name in states[0]:
        assert torch.equal(states[0][name], states[1][name]), name


def test_a_shuffled_table_is_gathered_from_row_major_rows() -> None:
    """Column-major features (as pandas hands them over) are made row-major once, where the
    table lives; the batches are those of a row-major table. A table read in order (the
    validation table) keeps its layout, and with it the slices its sums are made of."""
    x = torch.arange(60, dtype=torch.float32).reshape(20, 3)
    column_major = x.t().contiguous().t()
    assert not column_major.is_contiguous()
    shuffled = TensorBatches(column_major, torch.arange(20), 6, shuffle=True, seed=2)
    reference = TensorBatches(x, torch.arange(20), 6, shuffle=True, seed=2)
    for (a, y_a), (b, y_b) in zip(shuffled, reference, strict=True):
        assert torch.equal(a, b) and torch.equal(y_a, y_b) and a.is_contiguous()
    assert shuffled.features.is_contiguous() and torch.equal(shuffled.features, x)
    in_order = TensorBatches(column_major, torch.arange(20), 6, shuffle=False)
    assert [len(y) for _, y in in_order] == [6, 6, 6, 2]
    assert in_order.features is column_major
