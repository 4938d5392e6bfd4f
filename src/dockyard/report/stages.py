"""Which stages re-ran between two dvc.lock files and why, in pipeline order, with the
per-seed stages of a `foreach` (train@0, train@1, ...) grouped when they re-ran for the
same reason; and which input data changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dockyard.report.collect import flatten


@dataclass
class StageChange:
    stage: str
    params: list[tuple[str, Any, Any]] = field(default_factory=list)  # key, base, head
    code: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    upstream: list[str] = field(default_factory=list)  # outputs of earlier stages
    other: list[str] = field(default_factory=list)  # new stage, changed command, ...

    @property
    def reasons(self) -> list[str]:
        """The reasons as plain text (for JSON); the comment renders them with code spans."""
        return [
            f"{kind} {', '.join(items)}" if items else kind for kind, items in self.reason_parts
        ]

    @property
    def reason_parts(self) -> list[tuple[str, list[str]]]:
        """(kind, identifiers) pairs: ("params", ["model.name"]), ("new stage", [])."""
        parts: list[tuple[str, list[str]]] = [(other, []) for other in self.other]
        for kind, items in (
            ("params", [key for key, _, _ in self.params]),
            ("code", self.code),
            ("data", self.data),
            ("upstream outputs", self.upstream),
        ):
            if items:
                parts.append((kind, list(items)))
        return parts or [("outputs differ (forced re-run or non-deterministic stage)", [])]


@dataclass
class StaleStage:
    """A stage of the head whose outputs are not up to date (what `dvc status` reports):
    `dvc repro` would run it, so the committed results are not this revision's."""

    stage: str
    # (kind, name, state): ("params", "train.lr", "modified"), ("data", "data/t.csv",
    # "modified"), ("output", "data/raw/table.parquet", "deleted"), ("definition", "", "")
    changes: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def reason_parts(self) -> list[tuple[str, list[str]]]:
        """(what changed, identifiers), as StageChange's: ("params modified", ["train.lr"])."""
        parts: dict[str, list[str]] = {}
        for kind, name, state in self.changes:
            items = parts.setdefault(f"{kind} {state}".strip(), [])
            if name:
                items.append(name)
        return list(parts.items())


def stale_stages(
    status: dict[str, list[Any]],
    lock: dict[str, Any],
    params: dict[str, Any] | None = None,
) -> list[StaleStage]:
    """The stages `dvc status` reports, with what changed, in the pipeline order of `lock`
    (stages not in it, such as `.dvc` files, first). A stage marked only `always changed`
    is not stale. A params section a stage reads whole (`train`) is narrowed to the keys
    that differ between `lock` and the current, flattened `params` (`train.lr`)."""
    produced = {out["path"] for entry in lock.values() for out in entry.get("outs") or []}
    found = []
    for stage, entries in status.items():
        stale = StaleStage(stage)
        for entry in entries:
            if entry == "changed checksum":
                stale.changes.append(("definition in dvc.yaml", "", "changed"))
            if not isinstance(entry, dict):
                continue
            for path, state in (entry.get("changed deps") or {}).items():
                if isinstance(state, dict):  # a params file: param -> state
                    recorded = flatten((lock.get(stage) or {}).get("params", {}).get(path, {}))
                    for key, how in state.items():
                        keys = (
                            _changed_keys(key, recorded, params or {}) if how == "modified" else []
                        )
                        stale.changes += [("params", k, how) for k in keys or [key]]
                elif _inside(path, produced):
                    stale.changes.append(("upstream output", path, state))
                else:
                    stale.changes.append(("code" if _is_code(path) else "data", path, state))
            for path, state in (entry.get("changed outs") or {}).items():
                kind = "data" if stage.endswith(".dvc") else "output"
                stale.changes.append((kind, path, state))
        if stale.changes:
            found.append(stale)
    rank = {name: index for index, name in enumerate(pipeline_order(lock))}
    return sorted(found, key=lambda s: rank.get(s.stage, -1))


def _changed_keys(key: str, recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The flattened keys under `key` whose value differs between the two."""

    def under(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k == key or k.startswith(key + ".")}

    old, new = under(recorded), under(current)
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


@dataclass
class StageGroup:
    """Stages shown as one row: one stage, or the seeds of a foreach with one reason."""

    name: str  # train@0-4, train@0,2,7, aggregate
    stages: list[str]
    reason_parts: list[tuple[str, list[str]]]


@dataclass
class DataChange:
    path: str
    base_hash: str | None
    head_hash: str | None
    base_size: int | None
    head_size: int | None


def _entries(items: list[dict] | None) -> dict[str, str | None]:
    return {item["path"]: item.get("md5") or item.get("etag") for item in items or []}


def _inside(path: str, outputs: set[str]) -> bool:
    """Whether `path` is an output, lies inside an output directory, or holds outputs."""
    return any(
        path == out
        or path.startswith(out.rstrip("/") + "/")
        or out.startswith(path.rstrip("/") + "/")
        for out in outputs
    )


def _is_code(path: str) -> bool:
    return path.startswith("src/") or path.endswith(".py")


def stage_changes(base: dict[str, Any], head: dict[str, Any]) -> list[StageChange]:
    """Which stages of head re-ran relative to base, and why (from the two dvc.lock files),
    in pipeline order."""
    produced = {out["path"] for entry in head.values() for out in entry.get("outs", [])}
    changes = []
    for stage in pipeline_order(head):
        entry, before = head[stage], base.get(stage)
        change = StageChange(stage)
        if before is None:
            change.other.append("new stage (not in base)")
            changes.append(change)
            continue
        if before.get("cmd") != entry.get("cmd"):
            change.other.append("command changed")
        old_params = flatten(before.get("params", {}))
        new_params = flatten(entry.get("params", {}))
        for key in sorted(set(old_params) | set(new_params)):
            if old_params.get(key) != new_params.get(key):
                # keys are "params.yaml.<param>"; show the param itself
                name = key.split(".yaml.", 1)[-1]
                change.params.append((name, old_params.get(key), new_params.get(key)))
        old_deps, new_deps = _entries(before.get("deps")), _entries(entry.get("deps"))
        for path in sorted(set(old_deps) | set(new_deps)):
            if old_deps.get(path) != new_deps.get(path):
                if _inside(path, produced):
                    change.upstream.append(path)
                elif _is_code(path):
                    change.code.append(path)
                else:
                    change.data.append(path)
        outs_changed = _entries(before.get("outs")) != _entries(entry.get("outs"))
        reran = change.other or change.params or change.code or change.data or change.upstream
        if reran or outs_changed:
            changes.append(change)
    return changes


def pipeline_order(lock: dict[str, Any]) -> list[str]:
    """Stage names, each after the stages whose outputs it reads; among the stages ready to
    run, the one whose name (a foreach's, for train@N) comes first in the lock file, which
    DVC writes in dvc.yaml's order."""
    names = list(lock)
    producers = {out["path"]: name for name in names for out in lock[name].get("outs") or []}
    needs = {
        name: {
            producer
            for path, producer in producers.items()
            if producer != name
            and any(_inside(dep["path"], {path}) for dep in lock[name].get("deps") or [])
        }
        for name in names
    }
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        first.setdefault(_split(name)[0], index)
    ordered: list[str] = []
    done: set[str] = set()
    while len(ordered) < len(names):
        waiting = [n for n in names if n not in done]
        # DVC refuses cycles; a hand-made lock with one falls back to file order
        ready = [n for n in waiting if needs[n] <= done] or waiting[:1]
        chosen = min(ready, key=lambda n: (first[_split(n)[0]], names.index(n)))
        ordered.append(chosen)
        done.add(chosen)
    return ordered


def _split(stage: str) -> tuple[str, str | None]:
    name, _, item = stage.partition("@")
    return name, item or None


def _generic(parts: list[tuple[str, list[str]]], item: str) -> list[tuple[str, list[str]]]:
    """Reasons with the foreach item in paths written as N (models/seed-0 -> models/seed-N)."""
    pattern = re.compile(rf"(?<=[-/@_]){re.escape(item)}(?=$|[/.])")
    return [(kind, [pattern.sub("N", path) for path in items]) for kind, items in parts]


def seed_range(items: list[str]) -> str:
    """0-4 for consecutive integers, else a comma list: 0,2,7."""
    if len(items) > 2 and all(i.isdigit() for i in items):
        numbers = [int(i) for i in items]
        if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            return f"{numbers[0]}-{numbers[-1]}"
    return ",".join(items)


def group_stages(
    changes: list[StageChange] | list[StaleStage] | list[StageRun],
) -> list[StageGroup]:
    """One row per stage, or per run of a foreach's items that re-ran for the same reason."""
    groups: list[StageGroup] = []
    keyed: dict[tuple[str, str], StageGroup] = {}
    for change in changes:
        name, item = _split(change.stage)
        if item is None:
            groups.append(StageGroup(change.stage, [change.stage], change.reason_parts))
            continue
        parts = _generic(change.reason_parts, item)
        key = (name, repr(parts))
        if key not in keyed:
            keyed[key] = StageGroup(name, [], parts)
            groups.append(keyed[key])
        keyed[key].stages.append(change.stage)
    for group in keyed.values():
        if len(group.stages) == 1:  # one seed: its own name and paths, not the generic N
            group.name = group.stages[0]
            group.reason_parts = next(c.reason_parts for c in changes if c.stage == group.name)
        else:
            items = [_split(stage)[1] or "" for stage in group.stages]
            group.name = f"{group.name}@{seed_range(items)}"
    return groups


def group_names(stages: list[str]) -> list[str]:
    """Stage names with a foreach's items folded: train@0, train@1, train@2 -> train@0-2."""
    out: list[str] = []
    items: dict[str, list[str]] = {}
    for stage in stages:
        name, item = _split(stage)
        if item is None:
            out.append(stage)
        else:
            if name not in items:
                items[name] = []
                out.append(f"{name}@")
            items[name].append(item)
    return [f"{s}{seed_range(items[s[:-1]])}" if s.endswith("@") else s for s in out]


def data_changes(base: dict[str, Any], head: dict[str, Any]) -> list[DataChange]:
    """Input data (deps no stage produces, not code) whose content differs."""
    produced = {
        out["path"]
        for lock in (base, head)
        for entry in lock.values()
        for out in entry.get("outs", [])
    }

    def inputs(lock: dict[str, Any]) -> dict[str, dict]:
        return {
            dep["path"]: dep
            for entry in lock.values()
            for dep in entry.get("deps", [])
            if not _inside(dep["path"], produced) and not _is_code(dep["path"])
        }

    old, new = inputs(base), inputs(head)
    changes = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path, {}), new.get(path, {})
        if a.get("md5") != b.get("md5"):
            changes.append(
                DataChange(path, a.get("md5"), b.get("md5"), a.get("size"), b.get("size"))
            )
    return changes


# ----------------------------------------------------------------------------- CI's run

# `dockyard ci run`'s record: what DVC did with each stage (dockyard.ci writes these words;
# the others are "restored" and "pulled").
CI_RAN, CI_FAILED, CI_UP_TO_DATE = "ran", "failed", "up to date"


@dataclass
class StageRun:
    """A stage as CI's run left it: re-ran (and why) or restored (and from whose run).
    `reason_parts` starts with the outcome, so `group_stages` folds seeds that share both."""

    stage: str
    reason_parts: list[tuple[str, list[str]]]

    @property
    def reran(self) -> bool:
        return self.reason_parts[0][0] in ("re-ran", "failed")


def _same_run(base: dict[str, Any] | None, head: dict[str, Any] | None) -> bool:
    """Whether two dvc.lock entries record the same code, params, data and outputs."""
    keys = ("cmd", "params", "deps", "outs")
    return bool(base and head) and all(
        (_entries(base.get(k)) if k in ("deps", "outs") else base.get(k))
        == (_entries(head.get(k)) if k in ("deps", "outs") else head.get(k))
        for k in keys
    )


def stage_runs(
    record: dict[str, Any],
    base: dict[str, Any],
    head: dict[str, Any],
    changes: list[StageChange],
    base_name: str,
) -> list[StageRun]:
    """Per stage of CI's run, in pipeline order: "re-ran" with why (what differs from base,
    or the forced re-run), "failed", or "restored from BASE's run" when its dvc.lock entry is
    base's, else "restored from the run-cache" (an earlier run with the same inputs)."""
    outcomes = record.get("stages") or {}
    why = {change.stage: change.reason_parts for change in changes}
    runs = []
    for stage in pipeline_order(head) + [s for s in outcomes if s not in head]:
        outcome = outcomes.get(stage)
        if outcome is None:
            continue
        if outcome in (CI_RAN, CI_FAILED):
            if record.get("reproduce_all"):
                reason = [("forced by --reproduce-all", [])]
            else:
                reason = why.get(stage) or [("no recorded run with these inputs", [])]
            word = "re-ran" if outcome == CI_RAN else "failed"
            runs.append(StageRun(stage, [(word, []), *reason]))
            continue
        if _same_run(base.get(stage), head.get(stage)):
            word = f"restored from {base_name}'s run"
        elif outcome == CI_UP_TO_DATE:
            word = "not re-run: its inputs are those this branch's dvc.lock records"
        else:
            word = "restored from the run-cache (an earlier run with the same inputs)"
        runs.append(StageRun(stage, [(word, [])]))
    return runs
