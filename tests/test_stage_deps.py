"""dvc.yaml's deps and params are hand-kept copies of what each stage imports and reads:
these tests derive both from the code and compare, so they cannot drift apart."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from .helpers import ROOT

SRC = ROOT / "src"


def _module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _has_code(init: Path) -> bool:
    """Whether a package's __init__.py does more than hold a docstring and the names of its
    public modules (`__all__` of strings changes nothing a stage runs)."""
    body = ast.parse(init.read_text(encoding="utf-8")).body

    def inert(node: ast.stmt) -> bool:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return True
        return (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["__all__"]
            and isinstance(node.value, ast.List | ast.Tuple)
            and all(isinstance(e, ast.Constant) for e in node.value.elts)
        )

    return not all(inert(n) for n in body)


def _imported(path: Path, module: str) -> set[str]:
    """dockyard modules `path` imports anywhere (top level or inside functions)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "dockyard"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "dockyard":
                continue
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if _module_file(f"{base}.{a.name}")}
    return found


def import_closure(module: str) -> set[str]:
    """Source files (relative to the repository) a module runs when imported or called:
    every dockyard module it imports, transitively, and the packages holding them."""
    files: set[str] = set()
    todo, seen = [module], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            continue
        parts = name.split(".")
        for i in range(1, len(parts)):  # parent packages' __init__ run first
            init = _module_file(".".join(parts[:i]))
            if init is not None and init.name == "__init__.py" and _has_code(init):
                files.add(init.relative_to(ROOT).as_posix())
        if path.name != "__init__.py" or _has_code(path):
            files.add(path.relative_to(ROOT).as_posix())
        todo += sorted(_imported(path, name))
    return files


def _stages() -> dict[str, dict]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def _stage_module(stage: dict) -> str:
    return re.search(r"python -m (\S+)", stage["cmd"]).group(1)


def test_every_stage_lists_exactly_the_code_it_runs() -> None:
    """A change to any module a stage imports must re-run it, and nothing else should."""
    problems = []
    for name, stage in _stages().items():
        listed = {d for d in stage["deps"] if isinstance(d, str) and d.startswith("src/")}
        listed.discard("${data.input}")
        wanted = import_closure(_stage_module(stage))
        if listed != wanted:
            missing, extra = sorted(wanted - listed), sorted(listed - wanted)
            problems.append(f"{name}: add {missing}, remove {extra}")
    assert not problems, "dvc.yaml deps differ from the imports:\n" + "\n".join(problems)


def test_closure_follows_imports_inside_functions() -> None:
    """The test itself must see lazy imports (train imports torch code inside main)."""
    closure = import_closure("dockyard.stages.train")
    assert "src/dockyard/models/training.py" in closure
    assert "src/dockyard/models/nets.py" in closure  # training -> nets, inside fit
    assert "src/dockyard/stages/evaluate.py" not in closure


def test_stages_import_no_other_stage() -> None:
    for path in (SRC / "dockyard/stages").glob("*.py"):
        imported = _imported(path, f"dockyard.stages.{path.stem}")
        assert not {m for m in imported if m.startswith("dockyard.stages")}, path.name


def test_train_param_keys_are_those_dvc_yaml_lists() -> None:
    from dockyard.stages.train import PARAM_KEYS

    assert _stages()["train"]["params"] == PARAM_KEYS


def test_dvc_yaml_plots_are_the_curves_training_writes() -> None:
    from dockyard.metrics import CURVES, curve_column, curve_file
    from dockyard.paths import TRAIN_LOG_DIR

    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    declared = {
        (path, column)
        for plot in plots
        for spec in plot.values()
        for path, column in spec["y"].items()
        if path.startswith(TRAIN_LOG_DIR)
    }
    assert declared == {(curve_file(TRAIN_LOG_DIR, c), curve_column(c)) for c in CURVES}
