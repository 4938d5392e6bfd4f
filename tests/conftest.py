"""pytest fixtures: real git repositories running real DVC (helpers live in helpers.py).

`make test` runs the suite with one pytest-xdist worker per core. The scheduler below hands
out whole test modules (like `--dist loadscope`), so a module's shared fixtures are built
once, on one worker; modules that share a session fixture travel together (SHARED), and the
costliest modules start first (COST) while the small ones fill in behind them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from . import helpers
from .forkserver import Client
from .helpers import make_history, make_project, run

# One intra-op thread for torch, in the tests and in every stage they start (the variables
# are inherited): a worker runs on each core, and torch processes spinning two threads each
# on two cores waste about a fifth of the CPU. Set before any test module imports torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

# `dvc` and `dockyard` commands run through a fork server (tests/forkserver.py), one per
# test process; DOCKYARD_TESTS_REAL_PROCESSES=1 starts each as a real process instead.
helpers.FORK_SERVER = Client()

# Modules that share an expensive session fixture run on the same worker.
SHARED = {
    "tests/test_seeds.py": "tests/test_registry.py",  # history
    "tests/test_serve.py": "tests/test_predict.py",  # the customers model (serving_fixtures)
    "tests/test_onnx.py": "tests/test_pipeline.py",  # reproduced
    "tests/test_report.py": "tests/test_pipeline.py",
    "tests/test_faults.py": "tests/test_pipeline.py",
}
# Modules by cost, costliest first (about the seconds each takes, fork server on, on a 2-core
# machine, with the modules SHARED with it); the rest follow in file order. Only the order
# of work depends on these.
COST = {
    "tests/test_pipeline.py": 120,
    "tests/test_registry.py": 115,
    "tests/test_sweep.py": 90,
    "tests/test_monitor.py": 57,
    "tests/test_own_data.py": 56,
    "tests/test_predict.py": 42,
    "tests/test_sweep_team.py": 40,
    "tests/test_ci.py": 33,
    "tests/test_drift.py": 25,
    "tests/test_time_tables.py": 19,
    "tests/test_profile.py": 15,
    "tests/test_lightning_import.py": 15,
    "tests/test_loggers.py": 13,
    "tests/test_remote.py": 8,
    "tests/test_distributed.py": 10,
    "tests/test_config.py": 8,
}


def scope_of(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0]
    return SHARED.get(module, module)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: -COST.get(scope_of(item.nodeid), 0))  # stable


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pragma: no cover - the dev extra installs pytest-xdist
    LoadScopeScheduling = None

if LoadScopeScheduling is not None:

    class ModuleScheduling(LoadScopeScheduling):
        """Whole modules (with SHARED merged) to each worker, in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

    def pytest_xdist_make_scheduler(config: pytest.Config, log):
        config.option.loadscopereorder = False  # keep COST's order
        return ModuleScheduling(config, log)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default pipeline (digits, mlp), reproduced once for the session. Do not mutate:
    copy it with `clone_reproduced` first."""
    path = make_project(tmp_path_factory.mktemp("reproduced") / "project")
    run(["dvc", "repro"], path)
    return path


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A project with a history of runs (helpers.make_history), built once. Do not mutate:
    copy it with `history.copy(target)`, which copies its DVC remote alongside."""
    base = tmp_path_factory.mktemp("history")
    commits = make_history(base)

    def copy(target: Path) -> Path:
        shutil.copytree(base, target, symlinks=True)
        return target / "project"

    return SimpleNamespace(base=base, project=base / "project", copy=copy, **commits)
