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
from dockyard.errors import ConfigError
from dockyard.models.batches import TensorTable, batch_loader
from dockyard.models.nets import MLP, Linear, SmallCNN, build_model
from dockyard.stages.split import split_table

from .conftest import ROOT


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
    with pytest.raises(ConfigError, match=r"image_shape \[1, 4, 4\].*64 feature columns"):
        SmallCNN(64, 10, image_shape=[1, 4, 4])


def test_user_network_plugs_in_by_target() -> None:
    model = build_model({"_target_": "tests.custom_net.TinyNet", "width": 7}, 30, 2)
    assert model.net.width == 7
    assert model(torch.randn(3, 30)).shape == (3, 2)


def test_bad_network_settings_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"model.net \(dockyard.models.nets.MLP\).*in_features"):
        build_model({"_target_": "dockyard.models.nets.MLP", "hiden": [3]}, 4, 2)
    with pytest.raises(ConfigError, match="must build a torch.nn.Module"):
        build_model({"_target_": "builtins.dict"}, 4, 2)


def test_batches_are_slices_covering_every_row_once() -> None:
    features = torch.arange(23, dtype=torch.float32).reshape(-1, 1)
    table = TensorTable(features, torch.arange(23))
    batches = list(batch_loader(table, batch_size=5, shuffle=True, seed=1))
    assert [len(y) for _, y in batches] == [5, 5, 5, 5, 3]
    seen = torch.cat([y for _, y in batches])
    assert sorted(seen.tolist()) == list(range(23))
    assert seen.tolist() != list(range(23))  # shuffled
    again = torch.cat([y for _, y in batch_loader(table, batch_size=5, shuffle=True, seed=1)])
    assert torch.equal(seen, again)
    for x, y in batches:  # features travel with their labels
        assert torch.equal(x[:, 0].long(), y)
    ordered = torch.cat([y for _, y in batch_loader(table, batch_size=5, shuffle=False)])
    assert ordered.tolist() == list(range(23))


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


def test_fit_and_evaluate_in_process(tmp_path, cancer_splits, monkeypatch) -> None:
    """train's and evaluate's functions on a small binary table, without DVC."""
    from dockyard.stages.evaluate import evaluate, load_model
    from dockyard.stages.train import fit

    monkeypatch.chdir(tmp_path)
    cfg = small_cfg("train.epochs=8")
    result = fit(cfg, cancer_splits["train"], cancer_splits["val"], str(tmp_path / "log"))
    card = result["card"]
    assert card["classes"] == [0, 1] and len(card["features"]) == 30
    assert 1 <= card["training"]["best_epoch"] <= card["training"]["epochs_run"] <= 8
    assert (tmp_path / "log/plots/metrics/val/loss.tsv").is_file()

    torch.save(result["state"], tmp_path / "model.pt")
    (tmp_path / "model.json").write_text(json.dumps(card))
    model, loaded = load_model(str(tmp_path / "model.json"), str(tmp_path / "model.pt"))
    metrics, plots = evaluate(model, loaded, cancer_splits["test"])
    assert set(metrics) == {"test/accuracy", "test/f1_macro", "test/log_loss", "test/roc_auc"}
    assert metrics["test/accuracy"] > 0.9
    assert metrics["test/roc_auc"] > 0.95
    assert len(plots["confusion"]) == len(cancer_splits["test"])
    assert plots["roc"][0] == {"fpr": 0.0, "tpr": 0.0, "threshold": None}
    assert plots["roc"][-1]["fpr"] == 1.0 and plots["roc"][-1]["tpr"] == 1.0


def test_fit_rejects_single_class_and_bad_monitor(cancer_splits) -> None:
    from dockyard.errors import DataError
    from dockyard.stages.train import fit

    one_class = cancer_splits["train"].assign(target=1)
    with pytest.raises(DataError, match="single class"):
        fit(small_cfg(), one_class, cancer_splits["val"], "unused")
    with pytest.raises(ConfigError, match="val/loss, val/accuracy"):
        fit(
            small_cfg("train.early_stopping.monitor=val/f1"),
            cancer_splits["train"],
            cancer_splits["val"],
            "unused",
        )


def test_model_weights_load_without_pickle(tmp_path) -> None:
    model = build_model(OmegaConf.to_container(compose([], ROOT).model.net), 64, 10)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    state = torch.load(tmp_path / "w.pt", weights_only=True)
    assert set(state) == set(model.state_dict())
    assert np.allclose(state["standardize.scale"].numpy(), 1.0)
