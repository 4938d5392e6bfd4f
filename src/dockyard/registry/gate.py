"""The promotion gate: may this version enter this stage? Pure functions over facts.

Each rule of the policy becomes a `Rule` with a sentence holding its numbers, so a refusal
says which metric, both values and the test's verdict. The facts (metrics per seed, the
data report, branch reachability, earlier stages) are gathered elsewhere, from git.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from dockyard.metrics import higher_is_better
from dockyard.registry.policy import Policy
from dockyard.stats import welch


@dataclass(frozen=True)
class Candidate:
    """One version as the gate sees it: metric values per seed, task, data report."""

    version: str
    commit: str
    values: dict[str, list[float]]
    task: str | None = None
    validation: dict[str, Any] | None = None


@dataclass(frozen=True)
class Placement:
    """Where the version is going and what it has been through."""

    stage: str
    held_previous: bool = False  # held the policy's earlier stage (and not withdrawn)
    reachable: bool | None = None  # commit reachable from the branch; None: branch missing
    refs: tuple[str, ...] = ()  # the refs checked for the branch


@dataclass(frozen=True)
class Rule:
    rule: str
    passed: bool
    message: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    artifact: str
    version: str
    commit: str
    stage: str
    incumbent: str | None
    rules: list[Rule]

    @property
    def passed(self) -> bool:
        return all(rule.passed for rule in self.rules)

    def failed(self) -> list[Rule]:
        return [rule for rule in self.rules if not rule.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact": self.artifact,
            "version": self.version,
            "commit": self.commit,
            "stage": self.stage,
            "incumbent": self.incumbent,
            "passed": self.passed,
            "rules": [asdict(rule) for rule in self.rules],
        }


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def _side(values: list[float]) -> str:
    if len(values) < 2:
        return _fmt(values[0])
    mean = _mean(values)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{_fmt(mean)} ± {_fmt(std)} (n={len(values)})"


def compare_metric(
    name: str,
    incumbent: list[float],
    candidate: list[float],
    alpha: float,
    tolerance: float,
) -> dict[str, Any]:
    """Candidate vs incumbent on one metric: Welch's t-test when both sides have two or
    more seeds, else the relative change against `tolerance`. `verdict` is better, worse,
    within noise or within tolerance."""
    higher = bool(higher_is_better(name))
    a, b = _mean(incumbent), _mean(candidate)
    change = (b - a) / abs(a) if a else (b - a)
    gain = change if higher else -change  # > 0: the candidate is better
    result: dict[str, Any] = {
        "metric": name,
        "higher_is_better": higher,
        "candidate": b,
        "incumbent": a,
        "n_candidate": len(candidate),
        "n_incumbent": len(incumbent),
        "relative_change": change,
    }
    if len(incumbent) >= 2 and len(candidate) >= 2:
        _, _, p = welch(incumbent, candidate)
        verdict = "within noise" if p >= alpha else ("better" if gain > 0 else "worse")
        result.update(test="welch", p_value=p, alpha=alpha, verdict=verdict)
    else:
        worse = gain < 0 and abs(change) > tolerance
        verdict = "worse" if worse else ("better" if gain > tolerance else "within tolerance")
        result.update(test="tolerance", tolerance=tolerance, verdict=verdict)
    return result


def _metric_rule(
    result: dict[str, Any], sides: tuple[str, str], candidate: str, incumbent: str, stage: str
) -> Rule:
    name, verdict = result["metric"], result["verdict"]
    direction = "higher is better" if result["higher_is_better"] else "lower is better"
    values = f"{sides[0]} for {candidate} vs {sides[1]} for {incumbent} (now in {stage})"
    if result["test"] == "welch":
        p, alpha = result["p_value"], result["alpha"]
        if verdict == "worse":
            message = (
                f"{name} is worse: {values}; Welch's t-test p = {p:.3g} < alpha {alpha:g} "
                f"({direction})."
            )
        else:
            message = f"{name}: {values}: {verdict} (Welch's t-test p = {p:.3g}, {direction})."
    else:
        change = abs(result["relative_change"]) * 100
        tol = result["tolerance"] * 100
        seeds = (
            "both single-seed"
            if max(result["n_candidate"], result["n_incumbent"]) < 2
            else ("one side single-seed")
        )
        if verdict == "worse":
            message = (
                f"{name} is worse: {values}, {change:.2f}% worse, more than the tolerance of "
                f"{tol:.2f}% ({seeds}: no noise estimate, so the relative tolerance applies; "
                f"{direction}). Train two or more seeds on both sides for a Welch verdict."
            )
        else:
            message = (
                f"{name}: {values}: {verdict} ({change:.2f}% change, tolerance {tol:.2f}%, "
                f"{seeds}; {direction})."
            )
    return Rule(f"not worse: {name}", verdict != "worse", message, result)


def judge(
    policy: Policy,
    artifact: str,
    candidate: Candidate,
    placement: Placement,
    incumbent: Candidate | None,
) -> Verdict:
    stage = placement.stage
    rules: list[Rule] = []
    who = f"{artifact}@{candidate.version}"
    if stage not in policy.stages:
        rules.append(
            Rule(
                "known stage",
                False,
                f"{stage!r} is not a stage of the promotion policy (stages: "
                f"{', '.join(policy.stages)}). Use one of them, or add it to conf/promotion/.",
            )
        )
    else:
        previous = policy.previous_stage(stage)
        if previous is not None:
            rules.append(
                Rule(
                    "earlier stage",
                    placement.held_previous,
                    f"{who} has been in {previous}, which {stage} requires first."
                    if placement.held_previous
                    else f"{who} has never been in {previous}, and the policy requires {previous} "
                    f"before {stage}. Promote it to {previous} first "
                    f"(`dockyard promote {artifact} {candidate.version} --stage {previous}`).",
                    {"required": previous},
                )
            )
    if stage in policy.protected:
        rules.append(_branch_rule(policy, candidate, placement, stage))
    if policy.require_clean_validation:
        rules.append(_validation_rule(candidate))
    if policy.floor is not None:
        rules.append(_floor_rule(policy, candidate))
    rules.extend(_not_worse_rules(policy, artifact, candidate, incumbent, stage))
    return Verdict(
        artifact=artifact,
        version=candidate.version,
        commit=candidate.commit,
        stage=stage,
        incumbent=incumbent.version if incumbent else None,
        rules=rules,
    )


def _branch_rule(policy: Policy, candidate: Candidate, placement: Placement, stage: str) -> Rule:
    short, branch = candidate.commit[:12], policy.branch
    checked = ", ".join(placement.refs) or branch
    if placement.reachable is None:
        return Rule(
            "branch",
            False,
            f"{stage} takes only commits on {branch}, but neither {branch} nor origin/{branch} "
            f"exists in this repository. Fetch it (`git fetch origin {branch}`) and try again.",
            {"branch": branch},
        )
    if placement.reachable:
        return Rule(
            "branch",
            True,
            f"commit {short} is on {branch} (checked {checked}).",
            {"branch": branch},
        )
    return Rule(
        "branch",
        False,
        f"commit {short} is not reachable from {branch} (checked {checked}), and {stage} takes "
        f"only commits on {branch}. Merge the change (pull request), then register and "
        "promote the merged commit.",
        {"branch": branch},
    )


def _validation_rule(candidate: Candidate) -> Rule:
    report = candidate.validation
    if not isinstance(report, dict):
        return Rule(
            "data validation",
            False,
            f"there is no data validation report (data/validation.json) at commit "
            f"{candidate.commit[:12]}, and the policy requires a clean one. Run the pipeline "
            "(`dvc repro`) and commit its outputs.",
        )
    status = report.get("status")
    rows = report.get("rows")
    rows_text = f"{rows:,} rows" if isinstance(rows, int) else "rows unknown"
    if status == "passed":
        return Rule(
            "data validation",
            True,
            f"data/validation.json: {report.get('dataset', 'the dataset')} passed its schema "
            f"({rows_text}).",
            {"status": status, "rows": rows},
        )
    return Rule(
        "data validation",
        False,
        f"data/validation.json at commit {candidate.commit[:12]} says {status!r}, not 'passed' "
        f"({rows_text}); the policy requires clean data. Fix the data or its schema and re-run.",
        {"status": status, "rows": rows},
    )


def _floor_rule(policy: Policy, candidate: Candidate) -> Rule:
    primary = policy.primary_for(candidate.task)
    floor = policy.floor
    values = candidate.values.get(primary or "")
    if not values:
        return Rule(
            "floor",
            False,
            f"the primary metric {primary or '(unknown: task not recorded)'} has no value at "
            f"commit {candidate.commit[:12]}, so the floor {floor:g} cannot be checked.",
            {"metric": primary, "floor": floor},
        )
    higher = bool(higher_is_better(primary))
    value = _mean(values)
    ok = value >= floor if higher else value <= floor
    relation = "at least" if higher else "at most"
    return Rule(
        "floor",
        ok,
        f"{primary} is {_side(values)}, {'' if ok else 'not '}{relation} the floor {floor:g}.",
        {"metric": primary, "value": value, "floor": floor, "higher_is_better": higher},
    )


def _not_worse_rules(
    policy: Policy,
    artifact: str,
    candidate: Candidate,
    incumbent: Candidate | None,
    stage: str,
) -> list[Rule]:
    if incumbent is None:
        return [Rule("not worse", True, f"no version is in {stage} yet: nothing to compare with.")]
    if incumbent.version == candidate.version:
        return [Rule("not worse", True, f"{candidate.version} is the version in {stage} itself.")]
    names = policy.metrics or tuple(
        sorted(
            n for n in candidate.values if n in incumbent.values and higher_is_better(n) is not None
        )
    )
    rules = []
    for name in names:
        cand, inc = candidate.values.get(name), incumbent.values.get(name)
        if not cand:
            rules.append(
                Rule(
                    f"not worse: {name}",
                    False,
                    f"{artifact}@{candidate.version} has no {name}, which the policy compares.",
                )
            )
            continue
        if not inc:
            continue  # the incumbent never measured it: nothing to be worse than
        result = compare_metric(name, inc, cand, policy.alpha, policy.tolerance)
        sides = (_side(cand), _side(inc))
        rules.append(_metric_rule(result, sides, candidate.version, incumbent.version, stage))
    if not rules:
        rules.append(
            Rule(
                "not worse",
                True,
                f"{candidate.version} and {incumbent.version} share no metric to compare.",
            )
        )
    return rules


# ----------------------------------------------------------------------------- render


def render_text(verdict: Verdict) -> str:
    head = (
        f"Promotion gate for {verdict.artifact}@{verdict.version} -> {verdict.stage} "
        f"(commit {verdict.commit[:12]}"
        + (f"; now in {verdict.stage}: {verdict.incumbent}" if verdict.incumbent else "")
        + "):"
    )
    lines = [head]
    lines += [f"  {'PASS' if r.passed else 'FAIL'}  {r.rule}: {r.message}" for r in verdict.rules]
    failed = len(verdict.failed())
    lines.append(
        "Verdict: PASSED." if verdict.passed else f"Verdict: REFUSED ({failed} rule(s) failed)."
    )
    return "\n".join(lines) + "\n"


def render_markdown(verdict: Verdict) -> str:
    mark = "✅ passed" if verdict.passed else "❌ refused"
    lines = [
        f"## Promotion gate: `{verdict.artifact}@{verdict.version}` → `{verdict.stage}`: {mark}",
        "",
        f"Commit `{verdict.commit[:12]}`; now in {verdict.stage}: "
        f"{f'`{verdict.incumbent}`' if verdict.incumbent else 'nothing'}.",
        "",
        "| | Rule | Detail |",
        "|---|---|---|",
    ]
    for rule in verdict.rules:
        detail = rule.message.replace("|", "\\|")
        lines.append(f"| {'✅' if rule.passed else '❌'} | {rule.rule} | {detail} |")
    return "\n".join(lines) + "\n"
