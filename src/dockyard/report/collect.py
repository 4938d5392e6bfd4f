"""Everything the report compares, read for one revision (a commit, an experiment or the
workspace): metrics and params through DVC's Python API, the lock file and the small
committed outputs (per-seed curves, confusion rows, model sizes, run timings, the data
report) straight from git, in one `git cat-file --batch` per revision.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.errors import DockyardError
from dockyard.io import load_dvc_yaml, restore_hint
from dockyard.metrics import CURVES, curve_column, curve_file
from dockyard.paths import (
    PLOTS_DIR,
    RAW_TABLE,
    TRAIN_LOG_DIR,
    VALIDATION_REPORT,
    model_summary_path,
    run_facts_path,
    seed_dir,
    train_log_dir,
)

WORKSPACE = "workspace"
LOCK_FILE = "dvc.lock"
PARAMS_FILE = "params.yaml"
CONFUSION = "confusion.json"


class ReportError(DockyardError):
    """A revision cannot be read (unknown name, not a DVC project)."""

    kind = "report"


@dataclass
class Snapshot:
    # what the user called it (main, HEAD, an experiment name); the workspace is named by
    # its branch (the pull request's in CI), else `workspace`
    label: str
    sha: str | None  # None for the workspace
    subject: str = ""
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # file -> key -> value
    # metric -> one value per training seed (one value when the revision has a single run)
    samples: dict[str, list[float]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # flattened params.yaml
    lock: dict[str, Any] = field(default_factory=dict)  # stage -> lock entry
    # curve name -> seed -> one value per epoch (eval/seeds/N/train, else eval/train)
    curves: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    # seed -> the test split's confusion rows ({"actual", "predicted"})
    confusion: dict[int, list[dict[str, str]]] = field(default_factory=dict)
    data_report: dict[str, Any] = field(default_factory=dict)
    models: dict[int, dict[str, Any]] = field(default_factory=dict)  # seed -> model.json
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)  # seed -> run timings
    commit: str | None = None  # the commit checked out under the workspace (HEAD)
    params_tree: dict[str, Any] = field(default_factory=dict)  # params.yaml as written
    # the validated table (data/raw/table.parquet), read only when the two sides' differ;
    # `table_problem` says why it could not be read
    table: Any = None
    table_problem: str | None = None

    @property
    def ref(self) -> str | None:
        """The commit behind this side: its own, or the workspace's HEAD."""
        return self.sha or self.commit


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def resolve(root: Path, rev: str) -> tuple[str, str]:
    """(full sha, subject) of a commit-ish or a DVC experiment name."""
    result = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    sha = result.stdout.strip()
    if not sha:
        from dvc.repo import Repo
        from dvc.scm import RevError, resolve_rev

        try:
            sha = resolve_rev(Repo(str(root)).scm, rev)
        except (RevError, Exception):  # noqa: BLE001 - dvc raises several kinds here
            raise ReportError(
                f"Unknown revision {rev!r}: it is neither a git commit, branch or tag nor a "
                "DVC experiment in this repository. Check `git branch -a`, `dvc exp list`, or "
                "fetch the base branch (`git fetch origin main`).",
                kind="unknown-revision",
            ) from None
    subject = _git(root, "log", "-1", "--format=%s", sha).stdout.strip()
    return sha, subject


def read_file(root: Path, sha: str | None, path: str) -> str | None:
    """A committed file's text at `sha` (the workspace when None); None if absent."""
    return read_files(root, sha, [path])[path]


def read_files(root: Path, sha: str | None, paths: list[str]) -> dict[str, str | None]:
    """Several files at one revision; one git process for all of them."""
    if sha is None:
        return {
            p: (root / p).read_text(encoding="utf-8") if (root / p).is_file() else None
            for p in paths
        }
    request = "".join(f"{sha}:{p}\n" for p in paths).encode()
    out = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=root, input=request, capture_output=True
    ).stdout
    texts: dict[str, str | None] = {}
    position = 0
    for path in paths:
        end = out.index(b"\n", position)
        header = out[position:end].split()
        position = end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            texts[path] = out[position : position + size].decode("utf-8", "replace")
            position += size + 1
        else:  # "<object> missing", or a tree
            texts[path] = None
    return texts


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def _dvc_results(results: dict, rev: str) -> dict[str, Any]:
    """The per-file data DVC returned for one revision; files that failed to load are left out."""
    files = results.get(rev, {}).get("data", {})
    return {name: entry["data"] for name, entry in files.items() if "data" in entry}


def branch(root: Path) -> str | None:
    """The branch checked out in `root` (None on a detached HEAD)."""
    return _git(root, "symbolic-ref", "--short", "-q", "HEAD").stdout.strip() or None


def pipeline_status(root: Path) -> dict[str, list[Any]]:
    """What `dvc status` reports for the workspace: stage -> what changed. DVC names stages
    and paths relative to the working directory, so it runs from `root`: `train@0`, not
    `../p/dvc.yaml:train@0`."""
    from dvc.repo import Repo

    with contextlib.chdir(root), Repo(str(root)) as repo:
        return repo.status()


def snapshots(
    root: Path, base: str, head: str | None, head_label: str | None = None
) -> tuple[Snapshot, Snapshot]:
    """Read both sides with one DVC repository instance (metrics and params in one call).
    `head_label` names the workspace when `head` is None (default: `workspace`)."""
    from dvc.repo import Repo

    if not (root / "dvc.yaml").is_file():
        raise ReportError(
            f"{root} has no dvc.yaml: run dockyard report in the project root.",
            kind="missing-file",
            path=root / "dvc.yaml",
        )
    base_sha, base_subject = resolve(root, base)
    head_sha, head_subject = resolve(root, head) if head else (None, "")
    revs = [base_sha] + ([head_sha] if head_sha else [])
    repo = Repo(str(root))
    metrics = repo.metrics.show(revs=revs)
    params = repo.params.show(revs=revs)
    sides = []
    for label, sha, subject in (
        (base, base_sha, base_subject),
        (head or head_label or WORKSPACE, head_sha, head_subject),
    ):
        key = sha or WORKSPACE
        snap = Snapshot(label=label, sha=sha, subject=subject)
        if sha is None:
            snap.commit = _git(root, "rev-parse", "--verify", "--quiet", "HEAD").stdout.strip()
        files = _dvc_results(metrics, key)
        for name, values in files.items():
            numbers = {k: float(v) for k, v in flatten(values).items() if _is_number(v)}
            if numbers:
                snap.metrics[name] = numbers
        snap.params = flatten(_dvc_results(params, key).get("params.yaml", {}))
        seeds = snap.params.get("seeds")
        snap.seeds = [int(s) for s in seeds] if isinstance(seeds, list) else []
        read_committed_outputs(root, snap)
        snap.samples = snap.samples or _file_samples(files)
        sides.append(snap)
    read_changed_tables(root, sides[0], sides[1], repo)
    return sides[0], sides[1]


def raw_table_hash(lock: dict[str, Any]) -> str | None:
    """The md5 a lock records for the validated table (the ingest stage's output)."""
    for entry in lock.values():
        for out in entry.get("outs", []):
            if out.get("path") == RAW_TABLE:
                return out.get("md5")
    return None


def read_changed_tables(root: Path, base: Snapshot, head: Snapshot, repo: Any = None) -> None:
    """Both sides' validated tables when an input or the table itself changed, for the
    per-column review; a side that cannot be read keeps the reason instead (the comment
    says it; a missing base table must not cost the pull request its report)."""
    inputs_changed = _input_hashes(base.lock) != _input_hashes(head.lock)
    tables_differ = raw_table_hash(base.lock) != raw_table_hash(head.lock) or head.sha is None
    if not inputs_changed or not tables_differ:
        return
    for snap in (base, head):
        try:
            snap.table = read_raw_table(root, snap.sha, snap.lock, repo)
        except ReportError as error:
            snap.table_problem = str(error)


def _input_hashes(lock: dict[str, Any]) -> dict[str, str | None]:
    """Every dependency's md5 except the code's and the stages' own outputs: the data."""
    from dockyard.report.stages import data_changes

    return {change.path: change.head_hash for change in data_changes({}, lock)}


def read_raw_table(root: Path, sha: str | None, lock: dict[str, Any], repo: Any = None) -> Any:
    """The validated table of a revision: the workspace's file, else the copy in the DVC
    cache under the md5 the revision's dvc.lock records, else fetched from the DVC remote
    (where main's CI pushes its outputs)."""
    import pandas as pd

    if sha is None and (root / RAW_TABLE).is_file():
        return pd.read_parquet(root / RAW_TABLE)
    md5 = raw_table_hash(lock)
    where = f"revision {sha[:10]}" if sha else "the workspace"
    if md5 is None:
        fix = "first" if sha is None else "at that revision and commit dvc.lock"
        raise ReportError(
            f"{where} records no {RAW_TABLE} in dvc.lock: its pipeline never ran the ingest "
            f"stage. Run `dvc repro validate` {fix}.",
            kind="missing-file",
            path=RAW_TABLE,
        )
    if repo is None:
        from dvc.repo import Repo

        repo = Repo(str(root))
    cached = Path(repo.cache.local.oid_to_path(md5))
    if not cached.is_file():
        # by its md5 from the workspace's default remote: an old revision's own .dvc/config
        # may name no remote, and the file is the same wherever it is found
        from dvc_data.hashfile.hash_info import HashInfo

        with contextlib.suppress(Exception):  # no remote, no credentials: said below
            repo.cloud.pull([HashInfo("md5", md5)])
    if not cached.is_file():
        raise ReportError(
            f"{RAW_TABLE} of {where} (md5 {md5[:10]}) is neither in the DVC cache nor on "
            "the DVC remote. Run `dvc pull` at that revision, or `dvc repro validate` and "
            "`dvc push` there.",
            kind="missing-data",
            path=RAW_TABLE,
        )
    return pd.read_parquet(cached)


def _file_samples(files: dict[str, Any]) -> dict[str, list[float]]:
    """One value per metric from the metrics files (summaries contribute their mean)."""
    samples: dict[str, list[float]] = {}
    for file, values in files.items():
        for name, value in (values or {}).items():
            if isinstance(value, dict) and _is_number(value.get("mean")):
                number = float(value["mean"])
            elif _is_number(value):
                number = float(value)
            else:
                continue
            key = f"{name} ({file})" if name in samples else name
            samples[key] = [number]
    return samples


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _curve(text: str | None, name: str) -> list[float]:
    """One value per epoch from DVCLive's TSV (columns `step` and the curve's column)."""
    if not text:
        return []
    column = curve_column(name)
    rows = csv.DictReader(io.StringIO(text), delimiter="\t")
    return [float(row[column]) for row in rows if row.get(column) not in (None, "")]


_WRITERS = {LOCK_FILE: ("DVC", "dvc repro"), PARAMS_FILE: ("dockyard compose", "dockyard compose")}


def read_yaml_file(root: Path, text: str | None, path: str, label: str, sha: str | None) -> Any:
    """A revision's dvc.lock or params.yaml (None when the revision has none); a ReportError
    naming the file, the revision and the line when it is not YAML."""
    try:
        return load_dvc_yaml(text) if text else None
    except ValueError as error:
        where = f"at {label} ({sha[:12]})" if sha else "in the workspace"
        who, writer = _WRITERS.get(path, ("dockyard", "dvc repro"))
        raise ReportError(
            f"{path} {where} is not valid YAML: {_yaml_problem(error)}. {who} writes this "
            f"file: {restore_hint(path, writer)}, commit it, and run the "
            "command again.",
            kind="unreadable",
            path=root / path,
        ) from None


def _yaml_problem(error: ValueError) -> str:
    """A YAML error in one line: what went wrong and where (`... line 3, column 1`)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    where = next((line for line in reversed(lines) if line.startswith("in ")), "")
    place = where.split(",", 1)[1].strip() if "," in where else ""
    return f"{lines[0]} ({place})" if lines and place else (lines[0] if lines else "unreadable")


def read_committed_outputs(root: Path, snap: Snapshot) -> None:
    """Fill the lock, per-seed outputs and the data report of `snap` from its revision.

    Revisions from before per-seed outputs were committed fall back to the first seed's
    copies (eval/train, eval/plots); files a revision never wrote stay empty.
    """
    seeds = snap.seeds or [0]
    paths = [LOCK_FILE, PARAMS_FILE, VALIDATION_REPORT, f"{PLOTS_DIR}/{CONFUSION}"]
    paths += [curve_file(TRAIN_LOG_DIR, name) for name in CURVES]
    for seed in seeds:
        paths += [f"{seed_dir(seed)}/metrics.json", f"{seed_dir(seed)}/plots/{CONFUSION}"]
        paths += [model_summary_path(seed), run_facts_path(seed)]
        paths += [curve_file(train_log_dir(seed), name) for name in CURVES]
    files = read_files(root, snap.sha, paths)
    lock = read_yaml_file(root, files[LOCK_FILE], LOCK_FILE, snap.label, snap.sha) or {}
    snap.lock = lock.get("stages", {}) if isinstance(lock, dict) else {}
    snap.data_report = _json(files[VALIDATION_REPORT]) or {}
    with contextlib.suppress(ValueError):  # an unreadable params.yaml: DVC says so above
        tree = load_dvc_yaml(files[PARAMS_FILE] or "")
        snap.params_tree = tree if isinstance(tree, dict) else {}
    for seed in seeds:
        for name, value in flatten(_json(files[f"{seed_dir(seed)}/metrics.json"]) or {}).items():
            if _is_number(value):
                snap.samples.setdefault(name, []).append(float(value))
        rows = _json(files[f"{seed_dir(seed)}/plots/{CONFUSION}"])
        if isinstance(rows, list) and rows:
            snap.confusion[seed] = rows
        for target, path in ((snap.models, model_summary_path), (snap.runs, run_facts_path)):
            data = _json(files[path(seed)])
            if isinstance(data, dict):
                target[seed] = data
        for name in CURVES:
            values = _curve(files[curve_file(train_log_dir(seed), name)], name)
            if values:
                snap.curves.setdefault(name, {})[seed] = values
    first = seeds[0]
    if not snap.confusion:
        rows = _json(files[f"{PLOTS_DIR}/{CONFUSION}"])
        if isinstance(rows, list) and rows:
            snap.confusion[first] = rows
    if not snap.curves:
        for name in CURVES:
            values = _curve(files[curve_file(TRAIN_LOG_DIR, name)], name)
            if values:
                snap.curves[name] = {first: values}
