"""GitHub-flavoured markdown for a comparison: one comment a reviewer can decide from.

Above the fold: the verdict, every metric, the params that changed, what the change costs,
data changes and the curves. Folded: the stages that re-ran and the per-class recall.
"""

from __future__ import annotations

from typing import Any

from dockyard.report.charts import curves_section
from dockyard.report.collect import Snapshot
from dockyard.report.compare import (
    FEW_SEEDS,
    Comparison,
    MetricRow,
    Mismatch,
    Reproduction,
    verdict,
)
from dockyard.report.markdown import (
    Md,
    code,
    codes,
    details,
    escape,
    link,
    number,
    percent,
    signed,
    table,
)
from dockyard.report.sections import (
    MARKS,
    UNTESTED,
    costs_section,
    data_section,
    mark,
    per_class_section,
    stages_section,
    stale_section,
)
from dockyard.report.stages import CI_FAILED, CI_RAN, group_names

FOLD_PARAMS_AFTER = 12
SEEDS_HINT = (
    "Run several seeds on both sides (`seeds: [0, 1, 2, 3, 4]` in `conf/config.yaml`, or "
    "`dvc exp run -S 'seeds=[0,1,2,3,4]'`) for better / worse / within-noise verdicts."
)


def tolerance(rtol: float) -> str:
    """1e-06 written as 1e-6."""
    return f"{rtol:g}".replace("e-0", "e-").replace("e+0", "e+")


def side_name(snap: Snapshot) -> Md:
    return code(snap.label)


# ----------------------------------------------------------------------------- verdict


def _seed_count(rows: list[MetricRow]) -> str:
    base, head = min(r.base_n for r in rows), min(r.head_n for r in rows)
    if base == head:
        return f"{base} seed" + ("s" if base != 1 else "")
    if base < 2:
        return f"{base} seed on base"
    return f"{head} seed on head"


def _interval(row: MetricRow) -> str:
    if row.ci_low is None or row.ci_high is None:
        return "—"
    return f"{signed(row.ci_low)} to {signed(row.ci_high)}"


def mismatch_text(m: Mismatch) -> Md:
    if m.what == "classes":
        old, new = set(m.base), set(m.head)
        parts = [f"{len(m.base)} → {len(m.head)}"]
        if new - old:
            parts.append("only in head: " + codes(sorted(new - old)[:5]))
        if old - new:
            parts.append("only in base: " + codes(sorted(old - new)[:5]))
        return Md("classes differ (" + "; ".join(parts) + ")")
    if m.what == "test split":
        why = f"; changed: {codes(m.why)}" if m.why else ""
        return Md(
            f"test split differs ({code('data/prepared')} {code(str(m.base)[:8])} → "
            f"{code(str(m.head)[:8])}{why})"
        )
    return Md(f"{escape(m.what)} {code(m.base)} → {code(m.head)}")


def verdict_line(comparison: Comparison) -> str:
    rows = comparison.metrics
    if comparison.stale:
        names = group_names([s.stage for s in comparison.stale])
        count = len(comparison.stale)
        return (
            "**Verdict:** none: ⚠️ the head's pipeline is not up to date with its code, params "
            f"or data ({count} stage{'s' if count != 1 else ''} out of date: "
            f"{codes(names)}), so its metrics are not this revision's results. Run "
            f"{code('dvc repro')}, commit {code('dvc.lock')} and the outputs, and report again."
        )
    if not rows:
        return "**Verdict:** no metrics on either side yet."
    if comparison.mismatches:
        return (
            "**Verdict:** ⚠️ not like for like: "
            + "; ".join(mismatch_text(m) for m in comparison.mismatches)
            + ". The metrics below are listed without verdicts."
        )
    by_name = {r.name: r for r in rows}
    groups = verdict(rows)
    if not set(groups) - {"noise", "same"}:
        if groups.get("noise"):
            return (
                "**Verdict:** no change told from the seed noise "
                f"({len(rows)} metrics compared). " + _noise_part(groups["noise"], by_name)
            )
        return f"**Verdict:** no metric changed ({len(rows)} compared)."
    parts = []
    for status, names in groups.items():
        group = [by_name[n] for n in names]
        listed = codes(names)
        if status == "same":
            parts.append(f"⚪ {len(names)} unchanged")
        elif status == "noise":
            parts.append(_noise_part(names, by_name))
        elif status in UNTESTED and any(r.p_value is None for r in group):
            words = UNTESTED[status]
            parts.append(f"{words}, {_seed_count(group)}, not tested against noise: {listed}")
        else:
            word = {"better": "improved", "worse": "regressed"}.get(status)
            label = f"{MARKS[status].split(' ', 1)[0]} {word}" if word else MARKS[status]
            if status == "changed":
                label += " (direction unknown)"
            parts.append(f"{label}: {listed}")
    return "**Verdict:** " + " · ".join(parts)


def _noise_part(names: list[str], by_name: dict[str, MetricRow]) -> str:
    """Changes not told from noise: inconclusive ones (FEW_SEEDS or fewer) with the smallest
    change those seeds could have detected, the others with their interval."""
    few = [by_name[n] for n in names if by_name[n].inconclusive]
    many = [by_name[n] for n in names if not by_name[n].inconclusive]
    parts = []
    if few:
        seeds = max(min(r.base_n, r.head_n) for r in few)
        shown = ", ".join(f"{code(r.name)} ±{number(r.detectable)}" for r in few)
        parts.append(
            f"🟡 inconclusive ({seeds} seeds per side; the smallest change of the mean they "
            f"could have detected): {shown}"
        )
    if many:
        shown = ", ".join(f"{code(r.name)} ({_interval(r)})" for r in many)
        parts.append(f"🟡 within noise (95% interval of the change): {shown}")
    return " · ".join(parts)


# ----------------------------------------------------------------------------- metrics


def _side_value(mean: float | None, std: float | None, n: int, seeds: int) -> str:
    if mean is None:
        return "—"
    text = number(mean)
    if n >= 2 and std is not None:
        text += f" ± {number(std)}"
    return text + (f" (n={n})" if n != seeds and n else "")


def metrics_section(comparison: Comparison) -> list[str]:
    """The metrics table, narrow enough for GitHub's comment column (with seeds, the
    relative change gives way to the interval), and a legend of what it shows."""
    rows = comparison.metrics
    if not rows:
        return ["No metrics files on either side yet (is `dvc repro` part of this change?)."]
    noise = comparison.noise_estimate
    seeds = {
        side: max((getattr(r, f"{side}_n") for r in rows), default=0) for side in ("base", "head")
    }
    header = ["metric", "verdict"]
    header += [f"{side} (n={seeds[side]})" if noise else side for side in ("base", "head")]
    header += ["change"] + (["95% interval", "p (BH)"] if noise else ["relative"])

    def line(row: MetricRow) -> list[Any]:
        cells = [
            code(row.name),
            mark(row),
            _side_value(row.base, row.base_std, row.base_n, seeds["base"]),
            _side_value(row.head, row.head_std, row.head_n, seeds["head"]),
            signed(row.change),
        ]
        if noise:
            p = row.p_adjusted
            cells += [_interval(row), "—" if p is None else f"{p:.2g}"]
        else:
            cells.append(percent(row.relative))
        return cells

    right = set(range(2, len(header)))
    moved = [r for r in rows if r.status != "same"]
    same = [r for r in rows if r.status == "same"]
    out = table(header, [line(r) for r in moved], right) if moved else ["No metric changed."]
    if same and moved:
        out += [
            "",
            *details(
                f"{len(same)} unchanged metric(s)", table(header, [line(r) for r in same], right)
            ),
        ]
    elif same:
        out += ["", *table(header, [line(r) for r in same], right)]
    notes = legend(comparison, [line(r) for r in rows])
    return out + ["", " ".join(notes)] if notes else out


def legend(comparison: Comparison, cells: list[list[Any]]) -> list[str]:
    """What the table's symbols and columns mean: only those the table shows."""
    rows, alpha = comparison.metrics, comparison.alpha
    shown = " ".join(str(c) for line in cells for c in line)
    notes = []
    if "±" in shown:
        notes.append("± is the standard deviation over the n seeds of each side.")
    if comparison.tests:
        notes.append(
            "Verdicts test the difference of the means against the seed noise (Welch's "
            f"t-test) with the false discovery rate over this table's {comparison.tests} "
            f"test{'s' if comparison.tests != 1 else ''} held at α = {alpha} "
            "(Benjamini-Hochberg); p (BH) is the adjusted p-value."
        )
    if any(r.inconclusive for r in rows):
        notes.append(
            f"🟡 inconclusive: not told from the noise by {FEW_SEEDS} seeds or fewer; the "
            "verdict line gives the smallest change of the mean these seeds could have "
            f"detected (the half-width of Welch's {1 - alpha:.0%} interval)."
        )
    if any(r.status == "noise" and not r.inconclusive for r in rows):
        notes.append(
            f"🟡 within noise: p (BH) ≥ {alpha}; its interval shows how large a change these "
            "seeds could have missed."
        )
    if any(r.status in UNTESTED and r.p_value is None for r in rows):
        notes.append(
            "ℹ️ One seed on a side, so there is no noise estimate: the changes are raw "
            f"differences and may be seed noise. {SEEDS_HINT}"
        )
    if any(r.status == "same" and r.change for r in rows):
        notes.append(
            f"Changes smaller than a relative {tolerance(comparison.rtol)} count as unchanged."
        )
    if "—" in shown:
        notes.append("— means there is no value: a side without the metric, or no test.")
    return notes


# ----------------------------------------------------------------------------- params


def params_section(params: list[tuple[str, Any, Any]]) -> list[str]:
    if not params:
        return ["No parameter changed."]
    rows = [[code(k), code(b), code(h)] for k, b, h in params]
    if len(rows) <= FOLD_PARAMS_AFTER:
        return table(["param", "base", "head"], rows)
    groups = sorted({k.split(".")[0] for k, _, _ in params})
    return [
        f"{len(rows)} params changed (in {codes(groups)}).",
        "",
        *details("Show them", table(["param", "base", "head"], rows)),
    ]


# ----------------------------------------------------------------------------- assembly


def rerun_note(record: dict[str, Any] | None) -> str:
    """How much of the pipeline CI's run re-ran, so that a reproduced verdict is read for
    what it covers: a restored stage's results are the recorded run's, not re-computed."""
    if not record or not record.get("stages"):
        return ""
    outcomes = list(record["stages"].values())
    ran = sum(o in (CI_RAN, CI_FAILED) for o in outcomes)
    if ran == len(outcomes):
        return f" Every stage ({ran}) re-ran in this run."
    return (
        f" {ran} of {len(outcomes)} stages re-ran in this run; the other {len(outcomes) - ran} "
        "were restored from a recorded run with the same code, params and data, so their "
        "results are that run's (the `reproduce-all` label re-runs everything)."
    )


def reproducibility_text(check: Reproduction, record: dict[str, Any] | None = None) -> str:
    note = rerun_note(record)
    if (
        record
        and record.get("stages")
        and not any(o in (CI_RAN, CI_FAILED) for o in record["stages"].values())
    ):
        return (
            "**Reproducibility:** not re-checked: no stage re-ran in this run (every stage's "
            "code, params and data match a recorded run, whose results were restored). Add the "
            "`reproduce-all` label (or run the workflow with reproduce-all) to re-run them."
        )
    within = tolerance(check.rtol)
    largest = check.largest
    if check.reproduced:
        detail = " (identical)"
        if largest:
            relative = largest.get("relative")
            detail = (
                f"; the largest difference is {largest['difference']:.2g}"
                + (f" (relative {relative:.2g})" if relative else "")
                + f" in {code(largest['metric'])}"
            )
        values = f" ({check.compared} values)" if check.compared != check.metrics else ""
        metrics = f"{check.metrics} metric" + ("s" if check.metrics != 1 else "")
        return (
            f"**Reproducibility:** ✅ reproduced within {within} (relative): the "
            f"{metrics} committed on this branch{values} "
            f"{'matches' if check.metrics == 1 else 'match'}{detail}.{note}"
        )
    rows = [
        [code(d["metric"]), d["committed"], d["reproduced"], signed(d.get("difference"), 6)]
        for d in check.differences
    ]
    return "\n".join(
        [
            f"**Reproducibility:** ⚠️ the reproduced metrics differ from the ones committed on "
            f"this branch by more than {within} (relative): re-run `dvc repro` and commit, or "
            f"look for non-determinism.{note}",
            "",
            *table(["metric", "committed", "reproduced", "difference"], rows, right={1, 2, 3}),
        ]
    )


def render(comparison: Comparison, extras: dict[str, Any] | None = None) -> str:
    extras = extras or {}
    base, head = comparison.base, comparison.head
    out = [
        f"## dockyard report: {side_name(head)} vs {side_name(base)}",
        "",
        verdict_line(comparison),
        "",
    ]
    out += stale_section(comparison)
    if extras.get("reproducibility") is not None:
        out += [reproducibility_text(extras["reproducibility"], extras.get("ci_run")), ""]
    out += ["### Metrics", "", *metrics_section(comparison), ""]
    out += ["### Params changed", "", *params_section(comparison.params), ""]
    out += costs_section(comparison.costs)
    out += data_section(comparison)
    curves = curves_section(base, head)
    if curves:
        out += ["### Training curves", "", *curves]
    out += stages_section(comparison, extras.get("ci_run"))
    out += per_class_section(comparison)
    out += ["---", *links(comparison, extras), footer(comparison, extras)]
    return "\n".join(out) + "\n"


def links(comparison: Comparison, extras: dict[str, Any]) -> list[str]:
    """Where to look next; commit SHAs stay plain text so GitHub links them."""
    found = []
    if extras.get("run_url"):
        found.append("⚙️ " + link("workflow run", extras["run_url"]))
    if extras.get("plots_url"):
        found.append("📈 " + link("all plots (dvc plots diff, HTML artifact)", extras["plots_url"]))
        if comparison.data:  # CI writes the changed table's profile into the same artifact
            found.append(
                "🧾 " + link("data profile (data-profile.html, same artifact)", extras["plots_url"])
            )
    base, head = comparison.base, comparison.head
    shown_ref = base.ref and base.ref != base.label
    commits = [f"base {side_name(base)} {base.ref}" if shown_ref else f"base {side_name(base)}"]
    pull = f"pull request #{extras['pull_request']}, " if extras.get("pull_request") else ""
    if head.sha:
        shown = head.sha != head.label
        sha = f" ({pull}{head.sha})" if pull or shown else ""
        commits.append(f"head {side_name(head)}{sha}")
    elif head.ref:
        commits.append(f"head {side_name(head)} ({pull}the workspace on {head.ref})")
    return [" · ".join(found + commits), ""]


def footer(comparison: Comparison, extras: dict[str, Any]) -> str:
    head = comparison.head
    reproduce = f"git checkout {head.sha[:8]} && dvc repro" if head.sha else "dvc repro"
    again = code(f"dockyard report --base {comparison.base.label}")
    parts = [f"reproduce: {code(reproduce)}, then {again}"]
    if comparison.tests:
        parts.append(
            f"verdicts: Welch's t-test over seeds, false discovery rate α = {comparison.alpha} "
            "(Benjamini-Hochberg)"
        )
    parts.append(f"unchanged below a relative {tolerance(comparison.rtol)}")
    if extras.get("run_seconds") is not None:
        parts.append(f"pipeline run time: {float(extras['run_seconds']):.0f} s")
    if extras.get("report_seconds") is not None:
        parts.append(f"report built in {extras['report_seconds']:.1f} s")
    return "<sub>" + " · ".join(parts) + "</sub>"
