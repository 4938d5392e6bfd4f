"""The model registry: policy, gate, tag replay (fast), and the whole flow on real git
repositories with real GTO tags and a real DVC remote (slow): register, promote through
staging to prod, refusals with their reasons, `gto show` agreement, lineage, and
resolving NAME@prod from a fresh clone that has only the remote."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from dockyard.errors import ConfigError
from dockyard.registry import git
from dockyard.registry.gate import Candidate, Placement, compare_metric, judge
from dockyard.registry.policy import promotion_policy
from dockyard.registry.resolve import fetch_error, resolve_spec
from dockyard.registry.versions import Event, ever_held, next_version, parse_spec, stage_holder

from .helpers import ROOT, at, error_of, run, validated_section
from .s3_server import S3Remote, run_s3, s3_remote  # noqa: F401

# The registry's commands; switch to ["dockyard"] once dockyard.cli wires add_commands.
DOCKYARD = [sys.executable, "-m", "dockyard.cli"]


def dockyard(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run([*DOCKYARD, *args], cwd, check=check)


def default_policy(**changes: object):
    """conf/promotion/default.yaml with `changes`, validated as `dockyard compose` does."""
    return promotion_policy(validated_section("promotion", **changes))


# ----------------------------------------------------------------------------- policy


def test_default_policy_is_valid() -> None:
    policy = default_policy()
    assert policy.stages == ("staging", "prod")
    assert policy.protected == ("prod",)
    assert policy.previous_stage("prod") == "staging"
    assert policy.previous_stage("staging") is None
    assert policy.primary_for("classification") == "test/accuracy"
    assert policy.primary_for("regression") == "test/rmse"


@pytest.mark.parametrize(
    ("change", "kind", "key", "expected"),
    [
        # `expected`: what the message says beyond kind and key (values, hints)
        ({"stagez": ["x"]}, "unknown-key", "promotion.stagez", []),
        ({"protected": ["production"]}, "not-a-choice", "promotion.protected", ["production"]),
        (
            {"stages": ["staging", "staging"]},
            "bad-value",
            "promotion.stages",
            ["['staging', 'staging']"],
        ),
        ({"stages": ["pro d"]}, "bad-value", "promotion.stages", ["'pro d'"]),
        ({"alpha": 1.5}, "out-of-range", "promotion.alpha", ["(0, 1)", "1.5"]),
        ({"tolerance": -0.1}, "out-of-range", "promotion.tolerance", ["[0, 1)"]),
        (
            {"primary": "test/latency"},
            "unknown-metric",
            "promotion.primary",
            # the one wording check for kind 'unknown-metric'
            [
                "'promotion.primary' must be auto or a metric key whose direction dockyard "
                "knows (e.g. test/accuracy, test/rmse), found 'test/latency'."
            ],
        ),
        ({"floor": "high"}, "wrong-type", "promotion.floor", []),
        (
            {"require_clean_validation": "maybe"},
            "wrong-type",
            "promotion.require_clean_validation",
            [],
        ),
        ({"metrics": ["test/nope"]}, "unknown-metric", "promotion.metrics", ["test/nope"]),
    ],
)
def test_policy_refusals_name_the_key(
    change: dict, kind: str, key: str, expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        default_policy(**change)
    assert (caught.value.kind, caught.value.key) == (kind, key)
    for fragment in expected:
        assert fragment in str(caught.value)
    assert "conf/" in str(caught.value)  # where to fix it


def test_policy_is_read_validated_from_params(tmp_path: Path) -> None:
    from dockyard.registry.policy import load_policy

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert load_policy(ROOT) == default_policy()
    params["promotion"]["protected"] = ["production"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError) as caught:
        load_policy(tmp_path)
    assert (caught.value.kind, caught.value.key) == ("not-a-choice", "promotion.protected")
    assert "production" in str(caught.value) and "conf/promotion/" in str(caught.value)
    del params["promotion"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError) as caught:
        load_policy(tmp_path)
    assert (caught.value.kind, caught.value.key) == ("missing-value", "promotion")
    # the one wording check for kind 'missing-value'
    assert "required key(s) promotion have no value." in str(caught.value)
    assert "`- promotion: default`" in str(caught.value)  # the fix


# ----------------------------------------------------------------------------- gate


def test_welch_verdict_matches_scipy() -> None:
    from scipy import stats

    incumbent, candidate = [0.95, 0.96, 0.955], [0.80, 0.83, 0.81]
    result = compare_metric("test/accuracy", incumbent, candidate, 0.05, 0.005)
    expected = stats.ttest_ind(candidate, incumbent, equal_var=False).pvalue
    assert result["test"] == "welch"
    assert result["verdict"] == "worse"
    assert result["p_value"] == pytest.approx(expected, rel=1e-6)
    # lower is better for log loss: a lower value is an improvement
    better = compare_metric("test/log_loss", [0.30, 0.32, 0.31], [0.10, 0.11, 0.12], 0.05, 0.0)
    assert better["verdict"] == "better"
    noise = compare_metric("test/accuracy", [0.90, 0.92, 0.91], [0.91, 0.90, 0.92], 0.05, 0.0)
    assert noise["verdict"] == "within noise"


def test_single_seed_uses_the_tolerance() -> None:
    worse = compare_metric("test/accuracy", [0.90], [0.89], 0.05, 0.005)
    assert (worse["test"], worse["verdict"]) == ("tolerance", "worse")
    close = compare_metric("test/accuracy", [0.90], [0.899], 0.05, 0.005)
    assert close["verdict"] == "within tolerance"
    mixed = compare_metric("test/rmse", [1.0, 1.1], [0.5], 0.05, 0.005)
    assert (mixed["test"], mixed["verdict"]) == ("tolerance", "better")


def test_gate_reports_every_failed_rule_with_numbers() -> None:
    policy = default_policy(floor=0.9)
    candidate = Candidate(
        "v2.0.0",
        "b" * 40,
        {"test/accuracy": [0.80, 0.83, 0.81], "test/log_loss": [0.5, 0.6, 0.55]},
        task="classification",
        validation={"status": "failed", "rows": 120},
    )
    incumbent = Candidate(
        "v1.0.0",
        "a" * 40,
        {"test/accuracy": [0.95, 0.96, 0.955], "test/log_loss": [0.2, 0.21, 0.19]},
        task="classification",
    )
    placement = Placement("prod", held_previous=False, reachable=False, refs=("main",))
    verdict = judge(policy, "model", candidate, placement, incumbent)
    assert not verdict.passed
    failed = {rule.rule: rule.message for rule in verdict.failed()}
    assert set(failed) == {
        "earlier stage",
        "branch",
        "data validation",
        "floor",
        "not worse: test/accuracy",
        "not worse: test/log_loss",
    }
    accuracy = failed["not worse: test/accuracy"]
    assert "0.8133 ± 0.0153 (n=3) for v2.0.0" in accuracy
    assert "0.9550 ± 0.0050 (n=3) for v1.0.0" in accuracy
    assert "Welch's t-test p = " in accuracy and "< alpha 0.05" in accuracy
    assert "not at least the floor 0.9" in failed["floor"]
    assert "not reachable from main" in failed["branch"]
    assert "'failed'" in failed["data validation"]
    # the same candidate into staging with a clean report passes those rules
    ok = judge(
        default_policy(),
        "model",
        Candidate("v2.0.0", "b" * 40, candidate.values, "classification", {"status": "passed"}),
        Placement("staging"),
        None,
    )
    assert ok.passed


def _event(kind: str, version: str, stage: str | None, second: int, counter: int) -> Event:
    tag = f"m#{stage}#{counter}" if stage else f"m@{version}"
    if kind == "unassignment":
        tag = f"m#{stage}!#{counter}"
    return Event(
        kind,
        datetime.fromtimestamp(1_700_000_000 + second, UTC),
        version,
        stage,
        tag,
        "c" * 40,
        "a",
        "a@x",
        "",
    )


def test_stage_holder_replays_the_tags_like_gto() -> None:
    events = [
        _event("registration", "v1.0.0", None, 0, 0),
        _event("registration", "v2.0.0", None, 1, 0),
        _event("assignment", "v1.0.0", "prod", 2, 1),
        _event("assignment", "v2.0.0", "prod", 3, 2),
        _event("assignment", "v1.0.0", "prod", 4, 3),  # rollback: the most recent wins
        _event("assignment", "v2.0.0", "staging", 4, 4),  # same second, higher counter
    ]
    assert stage_holder(events, "prod") == "v1.0.0"
    assert stage_holder(events, "prod", before=events[4]) == "v2.0.0"
    assert stage_holder(events, "prod", before=events[3]) == "v1.0.0"
    assert stage_holder(events, "staging", before=events[5]) is None
    assert ever_held(events, "v2.0.0", "staging")
    assert not ever_held(events, "v2.0.0", "staging", before=events[5])
    withdrawn = [*events, _event("unassignment", "v1.0.0", "prod", 5, 5)]
    assert stage_holder(withdrawn, "prod") == "v2.0.0"


def test_specs_and_versions() -> None:
    assert parse_spec("model@v1.2.0") == ("model", "v1.2.0")
    assert parse_spec("model@prod") == ("model", "prod")
    assert parse_spec("model#prod") == ("model", "prod")
    first = SimpleNamespace(latest=None)
    assert next_version(first, "minor") == "v0.1.0"
    assert next_version(first, "major") == "v1.0.0"
    later = SimpleNamespace(latest="v1.4.2")
    assert next_version(later, "patch") == "v1.4.3"
    assert next_version(later, "minor") == "v1.5.0"
    assert next_version(later, "major") == "v2.0.0"


def test_pull_request_found_from_merge_and_squash_commits(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo)
    (repo / "a.txt").write_text("a\n")
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "start"], repo)
    run(["git", "checkout", "-qb", "feature"], repo)
    (repo / "b.txt").write_text("b\n")
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "better model"], repo)
    feature = git.head(repo)
    run(["git", "checkout", "-q", "main"], repo)
    run(["git", "merge", "-q", "--no-ff", "feature", "-m", "Merge pull request #7 from a/b"], repo)
    merge = git.head(repo)
    assert git.find_pull_request(repo, feature, "main") == (7, merge)
    assert git.find_pull_request(repo, merge, "main") == (7, merge)
    (repo / "c.txt").write_text("c\n")
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "Retrain on new data (#12)"], repo)
    assert git.find_pull_request(repo, git.head(repo), "main")[0] == 12
    first = run(["git", "rev-list", "--max-parents=0", "HEAD"], repo).stdout.strip()
    assert git.find_pull_request(repo, first, "main") is None  # committed on main itself
    run(["git", "remote", "add", "origin", "git@github.com:acme/digits.git"], repo)
    assert git.github_url(repo) == "https://github.com/acme/digits"


def test_lock_params_are_read_as_dvc_wrote_them(tmp_path: Path) -> None:
    """DVC writes dvc.lock as YAML 1.2, so classes named `no` and `yes` stand unquoted; read
    as YAML 1.1 they were booleans and `register` refused a reproduced commit as stale."""
    from dvc.utils.serialize import dump_yaml

    from dockyard.registry.checks import lock_problems
    from dockyard.registry.resolve import folder_md5

    params = {"data": {"schema": {"columns": {"churn": {"isin": ["no", "yes"]}}}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))  # quotes 'no', as compose does
    model = tmp_path / "models/seed-0"
    model.mkdir(parents=True)
    (model / "model.json").write_text("{}")
    entry = {
        "cmd": "python -m dockyard.stages.train --seed 0",
        "params": {"params.yaml": {"data.schema": params["data"]["schema"]}},
        "outs": [{"path": "models/seed-0", "md5": folder_md5(model)}],
    }
    dump_yaml(tmp_path / "dvc.lock", {"schema": "2.0", "stages": {"train@0": entry}})
    assert "- no" in (tmp_path / "dvc.lock").read_text()  # unquoted, as DVC writes it
    assert lock_problems(tmp_path, "models/seed-0") == []


# ----------------------------------------------------------------------------- the flow


@pytest.fixture(scope="module")
def trained(history: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A copy of the session's project history (helpers.make_history): v1 (1 seed, 2 epochs)
    on main; a better run (3 seeds, 10 epochs) merged as pull request #7; from there a
    harmful learning rate (3 seeds) and a docs-only change, each on its own branch. Every
    output is pushed to a local remote beside the project."""
    base = tmp_path_factory.mktemp("registry") / "copy"
    project = history.copy(base)
    return SimpleNamespace(
        project=project,
        base=base,
        weak=history.weak,
        better=history.better,
        merged=history.merged,
        harmful=history.harmful,
        docs=history.docs,
    )


@pytest.fixture(scope="module")
def flow(trained: SimpleNamespace) -> SimpleNamespace:
    """The registry's life on those commits; every command's result is kept for the tests."""
    p, out = trained.project, SimpleNamespace()
    at(p, trained.weak)
    (p / "scratch.txt").write_text("uncommitted\n")
    out.dirty = dockyard("register", cwd=p, check=False)
    (p / "scratch.txt").unlink()
    card = p / "models/seed-0/model.json"
    card.write_text(card.read_text() + " ")
    out.modified = dockyard("register", cwd=p, check=False)
    run(["dvc", "checkout", "-q", "--force"], p)
    config = p / "conf/config.yaml"
    config.write_text(config.read_text().replace("  epochs: 2", "  epochs: 3"))
    out.stale = dockyard("register", cwd=p, check=False)
    run(["git", "checkout", "-q", "--", "conf/config.yaml"], p)

    out.v1 = dockyard("register", cwd=p)
    out.prod_first = dockyard("promote", "model", "v0.1.0", "--stage", "prod", cwd=p, check=False)
    out.v1_staging = dockyard("promote", "model", "v0.1.0", "--stage", "staging", cwd=p)
    out.v1_prod = dockyard("promote", "model@v0.1.0", "--stage", "prod", cwd=p)

    at(p, "main")
    out.v2 = dockyard("register", cwd=p)
    out.v2_staging = dockyard("promote", "model", "v0.2.0", "--stage", "staging", cwd=p)
    out.v2_dry = dockyard("promote", "model", "v0.2.0", "--stage", "prod", "--dry-run", cwd=p)
    out.v2_prod = dockyard("promote", "model", "v0.2.0", "--stage", "prod", cwd=p)

    at(p, "harmful")
    out.v3 = dockyard("register", cwd=p)
    out.v3_staging = dockyard(
        "promote", "model", "v0.3.0", "--stage", "staging", cwd=p, check=False
    )
    out.v3_json = dockyard(
        "promote",
        "model",
        "v0.3.0",
        "--stage",
        "staging",
        "--dry-run",
        "--json",
        cwd=p,
        check=False,
    )

    at(p, "docs")
    out.v4 = dockyard("register", "model", "--version", "v0.4.0", cwd=p)
    out.v4_staging = dockyard("promote", "model", "v0.4.0", "--stage", "staging", cwd=p)
    out.v4_prod = dockyard("promote", "model", "v0.4.0", "--stage", "prod", cwd=p, check=False)

    # A stage tag made by hand (bypassing the gate), as CI sees it after a push.
    run(["gto", "assign", "model", "--version", "v0.3.0", "--stage", "prod"], p)
    hand = run(["git", "tag", "--list", "model#prod#*", "--sort=-creatordate"], p).stdout.split()
    out.hand_tag = max(hand, key=lambda t: int(t.rsplit("#", 1)[1]))
    out.hand = dockyard(
        "promote",
        "--check-tag",
        out.hand_tag,
        "--summary",
        str(trained.base / "summary.md"),
        cwd=p,
        check=False,
    )
    out.summary = (trained.base / "summary.md").read_text()
    out.hand_json = dockyard("promote", "--check-tag", out.hand_tag, "--json", cwd=p, check=False)
    out.registration_json = dockyard("promote", "--check-tag", "model@v0.1.0", "--json", cwd=p)
    out.good_tag = dockyard("promote", "--check-tag", "model#prod#4", cwd=p, check=False)
    out.registration_tag = dockyard("promote", "--check-tag", "model@v0.1.0", cwd=p)
    run(["git", "tag", "-d", out.hand_tag], p)
    at(p, "main")
    return out


@pytest.mark.slow
def test_register_refuses_what_is_not_a_reproduced_commit(flow: SimpleNamespace) -> None:
    # each refusal lists its problems, numbered; the fragments are the values each names
    assert flow.dirty.returncode == 2
    assert error_of(flow.dirty)["kind"] == "checks-failed"
    # the one wording check for kind 'checks-failed'
    assert flow.dirty.stderr.startswith("dockyard: error: Not registering model: (1) ")
    assert "(2) " not in flow.dirty.stderr
    assert "scratch.txt" in flow.dirty.stderr
    assert "Traceback" not in flow.dirty.stderr
    assert flow.modified.returncode == 2
    assert error_of(flow.modified)["kind"] == "checks-failed"
    assert "(2) " in flow.modified.stderr
    assert "train@0" in flow.modified.stderr
    assert "models/seed-0" in flow.modified.stderr
    assert flow.stale.returncode == 2
    assert error_of(flow.stale)["kind"] == "checks-failed"
    assert "(2) " in flow.stale.stderr
    assert "train.epochs: 2 in params.yaml, 3 from conf/" in flow.stale.stderr
    assert "(conf/config.yaml)" in flow.stale.stderr


@pytest.mark.slow
def test_versions_and_promotions(flow: SimpleNamespace, trained: SimpleNamespace) -> None:
    assert "Registered model@v0.1.0 on commit " + trained.weak[:12] in flow.v1.stdout
    assert "Registered model@v0.2.0 on commit " + trained.merged[:12] in flow.v2.stdout
    assert "Registered model@v0.4.0" in flow.v4.stdout
    # prod before staging: refused, nothing tagged
    assert flow.prod_first.returncode == 1
    assert "has never been in staging" in flow.prod_first.stdout
    assert "Tagged model#staging#1" in flow.v1_staging.stdout
    assert "Tagged model#prod#2" in flow.v1_prod.stdout
    # the better model: 3 seeds against v0.1.0's single seed, so the tolerance rule applies
    assert "test/accuracy:" in flow.v2_staging.stdout and "better" in flow.v2_staging.stdout
    assert "Dry run: the gate passes; nothing was tagged." in flow.v2_dry.stdout
    assert "Tagged model#prod#4" in flow.v2_prod.stdout


@pytest.mark.slow
def test_harmful_learning_rate_is_refused_with_the_numbers(flow: SimpleNamespace) -> None:
    refused = flow.v3_staging
    assert refused.returncode == 1
    assert "Verdict: REFUSED" in refused.stdout
    line = next(li for li in refused.stdout.splitlines() if "not worse: test/accuracy" in li)
    assert re.search(
        r"FAIL  not worse: test/accuracy: test/accuracy is worse: 0\.\d{4} ± "
        r"0\.\d{4} \(n=3\) for v0\.3\.0 vs 0\.\d{4} ± 0\.\d{4} \(n=3\) for v0\.2\.0 "
        r"\(now in staging\); Welch's t-test p = \S+ < alpha 0\.05",
        line,
    ), line
    verdict = json.loads(flow.v3_json.stdout)
    rule = next(r for r in verdict["rules"] if r["rule"] == "not worse: test/accuracy")
    numbers = rule["numbers"]
    assert numbers["verdict"] == "worse" and numbers["test"] == "welch"
    assert numbers["p_value"] < 0.05
    assert numbers["candidate"] < numbers["incumbent"] - 0.3
    assert verdict["incumbent"] == "v0.2.0" and verdict["tag"] is None


@pytest.mark.slow
def test_prod_only_from_main(flow: SimpleNamespace, trained: SimpleNamespace) -> None:
    assert "Tagged model#staging#" in flow.v4_staging.stdout  # same metrics: not worse
    assert flow.v4_prod.returncode == 1
    assert f"commit {trained.docs[:12]} is not reachable from main" in flow.v4_prod.stdout


@pytest.mark.slow
def test_check_tag_judges_a_hand_made_assignment(flow: SimpleNamespace) -> None:
    assert flow.hand.returncode == 1
    assert "has never been in staging" in flow.hand.stdout
    assert "is not reachable from main" in flow.hand.stdout
    assert "test/accuracy is worse" in flow.hand.stdout and "for v0.2.0 (now in prod)" in (
        flow.hand.stdout
    )
    assert "❌ refused" in flow.summary and "| ❌ | not worse: test/accuracy |" in flow.summary
    assert flow.good_tag.returncode == 0, flow.good_tag.stdout
    assert "Verdict: PASSED" in flow.good_tag.stdout
    assert "registration tag: no gate applies" in flow.registration_tag.stdout
    # the JSON the promote workflow reads (.gated, .verdict.artifact/version/stage/rules)
    hand = json.loads(flow.hand_json.stdout)
    assert flow.hand_json.returncode == 1 and hand["gated"] is True
    assert (hand["verdict"]["artifact"], hand["verdict"]["version"]) == ("model", "v0.3.0")
    assert hand["verdict"]["stage"] == "prod" and hand["verdict"]["passed"] is False
    assert any(not r["passed"] and "worse" in r["message"] for r in hand["verdict"]["rules"])
    registration = json.loads(flow.registration_json.stdout)
    assert registration["gated"] is False and registration["verdict"] is None


@pytest.mark.slow
def test_registry_agrees_with_gto_show(flow: SimpleNamespace, trained: SimpleNamespace) -> None:
    p = trained.project
    ours = json.loads(dockyard("registry", "--json", cwd=p).stdout)["model"]
    gto = json.loads(run(["gto", "show", "--json"], p).stdout)["model"]
    assert ours["stage"] == gto["stage"] == {"staging": "v0.4.0", "prod": "v0.2.0"}
    assert ours["version"] == gto["version"] == "v0.4.0"
    gto_versions = json.loads(run(["gto", "show", "model", "--json"], p).stdout)
    assert [v["version"] for v in ours["versions"]] == [v["version"] for v in gto_versions]
    for mine, theirs in zip(ours["versions"], gto_versions, strict=True):
        assert mine["commit"] == theirs["commit_hexsha"]
        assert sorted(mine["stages"]) == sorted(s["stage"] for s in theirs["stages"])
    v2 = next(v for v in ours["versions"] if v["version"] == "v0.2.0")
    assert v2["primary"]["metric"] == "test/accuracy" and v2["primary"]["n"] == 3
    kinds = [(e["event"], e["version"], e["stage"]) for e in ours["history"]]
    assert ("assignment", "v0.2.0", "prod") in kinds and ("registration", "v0.1.0", None) in kinds
    assert all(e["who"] == "dockyard tests <tests@dockyard.invalid>" for e in ours["history"])
    text = dockyard("registry", cwd=p).stdout
    assert "staging -> v0.4.0   prod -> v0.2.0" in text


@pytest.mark.slow
def test_lineage_names_each_versions_data_and_params(
    flow: SimpleNamespace, trained: SimpleNamespace
) -> None:
    p = trained.project
    for version, commit, epochs, lr in (
        ("v0.1.0", trained.weak, 2, 0.001),
        ("v0.2.0", trained.merged, 10, 0.001),
        ("v0.3.0", trained.harmful, 10, 1.0),
    ):
        lineage = json.loads(dockyard("lineage", f"model@{version}", "--json", cwd=p).stdout)
        lock = yaml.safe_load(run(["git", "show", f"{commit}:dvc.lock"], p).stdout)["stages"]
        assert lineage["commit"]["sha"] == commit
        train = lineage["params"]["values"]["train"]  # as dvc.lock records it: a group
        assert (train["epochs"], train["lr"]) == (epochs, lr)
        features = next(o for o in lock["featurize"]["outs"] if o["path"] == "data/features")
        assert {"path": "data/features", **{k: features[k] for k in ("md5", "size", "nfiles")}} in (
            lineage["data"]["train_inputs"]
        )
        raw = lock["ingest"]["outs"][0]["md5"]
        assert lineage["data"]["stages"][0]["outs"][0]["md5"] == raw
        model = next(o for o in lock["train@0"]["outs"] if o["path"] == "models/seed-0")
        assert lineage["model"]["md5"] == model["md5"]
        assert lineage["data"]["validation"]["rows"] == 1797
        assert lineage["environment"]["libraries"]["torch"]
    v1 = json.loads(dockyard("lineage", "model@v0.1.0", "--json", cwd=p).stdout)
    v2 = json.loads(dockyard("lineage", "model@prod", "--json", cwd=p).stdout)
    assert v2["model"]["version"] == "v0.2.0"
    assert v1["params"]["hash"] != v2["params"]["hash"]
    assert v1["pull_request"] is None
    assert v2["pull_request"] == {
        "number": 7,
        "merge_commit": trained.merged,
        "url": "https://github.com/acme/digits/pull/7",
    }
    assert v2["metrics"]["test/accuracy"]["n"] == 3 and len(v2["per_seed"]) == 3
    card = dockyard("lineage", "model@v0.2.0", "--markdown", cwd=p).stdout
    assert card.startswith("# Model card: model@v0.2.0")
    assert "[#7](https://github.com/acme/digits/pull/7)" in card
    assert "The artifact is the model of the first seed (0)" in card
    written = p / ".dockyard/cards/model@v0.2.0/MODEL_CARD.md"
    assert written.read_text() == card
    folder = json.loads(dockyard("lineage", "models/seed-0", "--json", cwd=p).stdout)
    assert folder["model"]["version"] == "v0.2.0"  # v0.4.0 holds the same folder; HEAD wins
    assert run(["git", "status", "--porcelain"], p).stdout == ""  # .dockyard/ ignores itself


# resolve_model as a program calls it, wrapped as dockyard's entry points are, so a refusal
# is one paragraph, exit code 2 and a record in $DOCKYARD_ERROR_FILE
RESOLVE = (
    "import sys; from dockyard.errors import exit_on_user_error; "
    "from dockyard.registry import resolve_model; "
    "exit_on_user_error(lambda: print(resolve_model(sys.argv[1])))()"
)


def resolve(clone: Path, spec: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-c", RESOLVE, spec], clone, check=check)


@pytest.mark.slow
def test_fresh_clone_resolves_prod_from_the_remote(
    flow: SimpleNamespace, trained: SimpleNamespace
) -> None:
    clone = trained.base / "clone"
    run(["git", "clone", "-q", str(trained.project), str(clone)], trained.base)
    assert not (clone / ".dvc/cache").exists()
    path = Path(resolve(clone, "model@prod").stdout.strip())
    assert path == clone.resolve() / ".dockyard/models/model@v0.2.0"
    at(trained.project, trained.merged)
    for name in ("model.pt", "model.json", "transform.json"):
        assert (clone / path / name).read_bytes() == (
            trained.project / "models/seed-0" / name
        ).read_bytes()
    assert run(["git", "status", "--porcelain"], clone).stdout == ""
    # the second time it is the cached copy; a folder path comes back as it is
    assert resolve(clone, "model@v0.2.0").stdout.strip() == str(path)
    assert resolve(clone, "conf").stdout.strip() == "conf"
    lineage = json.loads(dockyard("lineage", "model@prod", "--json", cwd=clone).stdout)
    assert lineage["environment"]["device"]["type"] == "cpu"
    bundle = trained.base / "bundle"
    dockyard("bundle", "model@prod", "--out", str(bundle), cwd=clone)
    assert sorted(f.name for f in bundle.iterdir()) == [
        "MODEL_CARD.md",
        "lineage.json",
        "model.json",
        "model.pt",
        "transform.json",
    ]
    card = dockyard("lineage", "model@v0.2.0", "--markdown", cwd=clone).stdout
    assert (bundle / "MODEL_CARD.md").read_text() == card
    # batch prediction straight from the registry, on rows of the user's own
    from dockyard.data.sources import sklearn_dataset

    sklearn_dataset("digits").drop(columns="target").head(20).to_csv(clone / "new.csv", index=False)
    dockyard("predict", "new.csv", "--model", "model@prod", "-o", "scored.parquet", cwd=clone)
    import pyarrow.parquet as pq

    scored = pq.read_table(clone / "scored.parquet")
    version = json.loads(scored.schema.metadata[b"dockyard"])
    assert scored.num_rows == 20 and version["registered"] == "model@v0.2.0"
    assert (
        version["git_commit"]
        == run(["git", "rev-parse", "model@v0.2.0^{commit}"], clone).stdout.strip()
    )
    unknown = resolve(clone, "model@canary", check=False)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert error_of(unknown)["kind"] == "empty-stage"
    # the one wording check for kind 'empty-stage'
    assert "No version of model is in stage 'canary'" in unknown.stderr
    missing = resolve(clone, "model@v9.9.9", check=False)
    assert missing.returncode == 2
    assert error_of(missing)["kind"] == "unknown-version"
    # the one wording check for kind 'unknown-version'
    assert "model@v9.9.9 is not registered." in missing.stderr
    other = resolve(clone, "nosuch@prod", check=False)
    assert other.returncode == 2
    assert error_of(other)["kind"] == "unknown-model"
    # the one wording check for kind 'unknown-model'
    assert "No model named 'nosuch' is registered" in other.stderr
    assert "(registered: model)" in other.stderr


@pytest.mark.slow
def test_resolve_says_what_is_missing(flow: SimpleNamespace, trained: SimpleNamespace) -> None:
    empty = trained.base / "empty-remote"
    empty.mkdir()
    clone = trained.base / "clone-unpushed"
    run(["git", "clone", "-q", str(trained.project), str(clone)], trained.base)
    run(["dvc", "remote", "modify", "--local", "local", "url", str(empty)], clone)
    unpushed = resolve(clone, "model@prod", check=False)
    assert unpushed.returncode == 2 and "Traceback" not in unpushed.stderr
    assert error_of(unpushed)["kind"] == "fetch-failed"
    # the one wording check for kind 'fetch-failed'
    assert "Could not get model@v0.2.0 (models/seed-0 at commit" in unpushed.stderr
    assert "run `dvc push`" in unpushed.stderr  # the fix
    assert not (clone / ".dockyard/models/model@v0.2.0").exists()
    registered = resolve_spec("model@prod", clone)
    assert registered.version == "v0.2.0" and registered.md5.endswith(".dir")
    no_remote = fetch_error(registered, {}, FileNotFoundError("nothing"))
    assert no_remote.kind == "fetch-failed"
    # the fix for this branch (no remote at all), which the kind does not tell apart
    assert "`dvc remote add -d NAME URL`" in str(no_remote)
    assert "run `dvc push`" not in str(no_remote)


@pytest.mark.slow
def test_resolve_from_s3(
    flow: SimpleNamespace,
    trained: SimpleNamespace,
    s3_remote: S3Remote,  # noqa: F811
) -> None:
    """The team's remote on S3: every tagged commit pushed, then a fresh clone whose only
    way to the model is S3 (its credentials in .dvc/config.local) resolves model@prod."""
    p = trained.project
    prefix = s3_remote.configure_dvc(p, name="s3", default=False)
    run_s3(["dvc", "push", "-q", "-r", "s3", "--all-tags"], p)
    run(["git", "checkout", "-q", "--", ".dvc/config"], p)
    (p / ".dvc/config.local").unlink()
    assert any(k.endswith(".dir") for k in s3_remote.list_keys(prefix + "/"))
    clone = trained.base / "clone-s3"
    run(["git", "clone", "-q", str(p), str(clone)], trained.base)
    # the commit's config names the remote `local`; this clone points it at S3
    for option, value in (
        ("url", s3_remote.url(prefix)),
        ("endpointurl", s3_remote.endpoint_url),
        ("region", s3_remote.region),
    ):
        run_s3(["dvc", "remote", "modify", "--local", "local", option, value], clone)
    s3_remote.set_dvc_credentials(clone, name="local")
    found = run_s3([sys.executable, "-c", RESOLVE, "model@prod"], clone)
    path = Path(found.stdout.strip())
    assert path == clone.resolve() / ".dockyard/models/model@v0.2.0"
    assert json.loads((path / "model.json").read_text())["net"]["_target_"].endswith("MLP")
    assert not (clone / ".dvc/cache").exists()
