"""The comment's sections below the metrics: cost, data, and the folded stages and
per-class recall."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from dockyard.report.compare import Comparison, MetricRow, control_fdr, metric_row, unjudged
from dockyard.report.costs import TIMING_NOISE_FACTOR, Cost
from dockyard.report.markdown import (
    Md,
    code,
    codes,
    details,
    escape,
    html_code,
    number,
    signed,
    size,
    table,
)
from dockyard.report.stages import group_names, group_stages, pipeline_order, stage_runs

if TYPE_CHECKING:  # the profile imports the monitor's statistics: only when data changed
    from dockyard.report.profile import ColumnChange, TableChange

MARKS = {
    "better": "✅ better",
    "worse": "❌ worse",
    "same": "⚪ unchanged",
    "changed": "🔷 changed",
    "noise": "🟡 within noise",
    "new": "🆕 new",
    "removed": "🗑️ removed",
    "unlike": "⚠️ not compared",
    "stale": "⚠️ not judged",
}
UNTESTED = {"better": "✅ looks better", "worse": "❌ looks worse"}
# Classes beyond which the confusion matrix is left out (too wide to read in a comment).
MATRIX_MAX_CLASSES = 20
# Changed columns shown before the rest are folded.
SHOWN_COLUMNS = 5
# Target classes the class-balance line names (the head's largest).
TARGET_CLASSES = 10


INCONCLUSIVE = "🟡 inconclusive"


def mark(row: MetricRow) -> str:
    """The verdict cell: better and worse from one seed say they were not tested, and a
    change few seeds cannot tell from noise is inconclusive."""
    if row.p_value is None and row.status in UNTESTED:
        return UNTESTED[row.status]
    if row.inconclusive:
        return INCONCLUSIVE
    return MARKS[row.status]


def reasons(parts: list[tuple[str, list[str]]]) -> Md:
    return Md("; ".join(f"{escape(kind)} {codes(items)}".strip() for kind, items in parts))


def base_name(comparison: Comparison) -> str:
    """What to call base's run: `main`, not `origin/main`."""
    return comparison.base.label.removeprefix("origin/")


def ci_stages_section(comparison: Comparison, record: dict[str, Any]) -> list[str]:
    """What CI's run (`dockyard ci run`) did per stage: re-ran (why) or restored (from whose
    run), a foreach's seeds on one row when they share both; the counts stay unfolded."""
    runs = stage_runs(
        record, comparison.base.lock, comparison.head.lock, comparison.stages, base_name(comparison)
    )
    if not runs:
        return []
    groups = group_stages(runs)
    reran = [r.stage for r in runs if r.reran]
    reused = len(runs) - len(reran)
    summary = f"<b>Stages</b>: {len(reran)} re-ran"
    if reran:
        summary += " (" + ", ".join(html_code(n) for n in group_names(reran)) + ")"
    if reused:
        summary += f", {reused} restored, not re-run"
    rows = [[code(g.name), outcome_text(g.reason_parts)] for g in groups]
    return details(summary, table(["stage", "in this run"], rows)) + [""]


def outcome_text(parts: list[tuple[str, list[str]]]) -> Md:
    """`re-ran (params train.lr)`: the outcome, then why in parentheses."""
    (outcome, _), why = parts[0], parts[1:]
    return Md(escape(outcome) + (f" ({reasons(why)})" if why else ""))


def stages_section(comparison: Comparison, record: dict[str, Any] | None = None) -> list[str]:
    """Stages in pipeline order, a foreach's seeds on one row, folded under one line; with
    CI's run record, what that run did instead (`ci_stages_section`)."""
    if record and record.get("stages"):
        return ci_stages_section(comparison, record)
    lock = comparison.head.lock or comparison.base.lock
    if not comparison.stages:
        if not lock:
            return []
        if comparison.stale:  # the lock is not what the workspace would produce
            return [
                "**Stages:** the head's `dvc.lock` records the same dependencies as base's, "
                "but it is not up to date (above).",
                "",
            ]
        return ["**Stages:** none re-ran: every stage's dependencies are as in base.", ""]
    groups = group_stages(comparison.stages)
    rerun = {s.stage for s in comparison.stages}
    cached = group_names([s for s in pipeline_order(lock) if s not in rerun])
    summary = (
        f"<b>Stages</b>: {len(rerun)} re-ran ("
        + ", ".join(html_code(g.name) for g in groups)
        + ")"
        + (f", {len(cached)} unchanged" if cached else "")
    )
    body = table(
        ["stage", "re-ran because"], [[code(g.name), reasons(g.reason_parts)] for g in groups]
    )
    if cached:
        body += ["", f"Unchanged (not re-run): {codes(cached)}."]
    return details(summary, body) + [""]


def stale_section(comparison: Comparison) -> list[str]:
    """The head's out-of-date stages (`dvc status`) and what changed for each."""
    if not comparison.stale:
        return []
    rows = [[code(g.name), reasons(g.reason_parts)] for g in group_stages(comparison.stale)]
    added = [s.stage.removesuffix(".dvc") for s in comparison.stale if s.stage.endswith(".dvc")]
    add = f"{code('dvc add ' + ' '.join(added))}, then " if added else ""
    return [
        "### ⚠️ Not reproduced",
        "",
        *table(["stage", "out of date because"], rows),
        "",
        f"What `dvc status` reports in the head's workspace. Run {add}{code('dvc repro')} "
        "(it re-runs these stages and what depends on them), commit `dvc.lock` and the "
        "metrics, and run the report again: until then the metrics below are the last ones "
        "committed, not this revision's, and get no verdict.",
        "",
    ]


def data_section(comparison: Comparison) -> list[str]:
    """Each changed input's hashes and sizes, the rows after validation and, when an input
    changed, the validated table compared column by column (`columns_section`)."""
    base_rows, head_rows = comparison.rows
    if not comparison.data and base_rows == head_rows:
        return []
    out = ["### Data", ""]
    if comparison.data:
        rows = [
            [code(d.path), _short(d.base_hash), _short(d.head_hash)]
            + [size(d.base_size), size(d.head_size)]
            for d in comparison.data
        ]
        out += table(
            ["input", "base md5", "head md5", "base size", "head size"], rows, right={3, 4}
        )
    if base_rows != head_rows:
        shown = [escape("—" if r is None else f"{r:,}") for r in (base_rows, head_rows)]
        out += ["", f"Rows after validation: {shown[0]} → {shown[1]}."]
    if comparison.data:
        out += ["", *columns_section(comparison)]
    return out + [""]


def columns_section(comparison: Comparison) -> list[str]:
    """The validated table's columns base -> head as the monitor judges a batch (its
    tests, effect sizes and Benjamini-Hochberg verdicts): changed columns only, the
    largest change first, folded after SHOWN_COLUMNS; unchanged ones counted."""
    from dockyard.report.collect import raw_table_hash
    from dockyard.report.profile import ProfileError, compare_tables, drift_policy_of

    base, head = comparison.base, comparison.head
    if any(s.stage == "ingest" for s in comparison.stale):
        return [
            "**Columns:** not compared: the head's validated table is out of date with its "
            "input (above); run `dvc repro validate` first."
        ]
    same = head.sha is not None and raw_table_hash(base.lock) == raw_table_hash(head.lock)
    if same and raw_table_hash(head.lock):
        return ["**Columns:** no column changed: the validated table is the same file."]
    problems = [s.table_problem for s in (base, head) if s.table_problem]
    if problems or base.table is None or head.table is None:
        why = " ".join(problems) or "the validated tables were not read."
        return [f"**Columns:** not compared: {escape(why)}"]
    params = head.params_tree or base.params_tree
    try:
        target = (params.get("data") or {}).get("target")
        change = compare_tables(base.table, head.table, drift_policy_of(params), target)
    except ProfileError as error:
        return [f"**Columns:** not compared: {escape(error)}"]
    return column_table(change)


def column_table(change: TableChange) -> list[str]:
    """The changed columns' table, the unchanged count, the sample and the target."""
    changed = change.changed
    policy = change.policy
    family = f"false discovery rate {policy.fdr:g} over {change.tests} tests"
    if not changed:
        out = [
            f"**Columns:** no column changed (the monitor's drift tests, {family}; "
            f"{len(change.columns)} columns compared)."
        ]
    else:
        rows = [_column_row(c) for c in changed]
        unchanged = len(change.unchanged)
        out = [
            f"**Columns:** {len(changed)} changed, largest change first"
            + (f"; {_columns(unchanged)} unchanged." if unchanged else ".")
            + f" Tests and effect sizes are the monitor's ({family}).",
            "",
        ]
        header = ["column", "base", "head", "test, effect", "verdict"]
        out += table(header, rows[:SHOWN_COLUMNS])
        if len(rows) > SHOWN_COLUMNS:
            more = f"{_columns(len(rows) - SHOWN_COLUMNS, 'more changed ')}"
            out += ["", *details(more, table(header, rows[SHOWN_COLUMNS:]))]
    notes = []
    if change.head.sampled or change.base.sampled:
        notes.append(
            f"Tests on a seeded sample of {len(change.head.sample):,} rows per side "
            f"(of {change.base.rows:,} → {change.head.rows:,}); the summaries are exact."
        )
    target = _target_line(change)
    if target:
        notes.append(target)
    notes.append(
        "Every column charted: `dockyard data profile --base BASE -o profile.html` "
        "(in CI, `data-profile.html` in the plots artifact)."
    )
    return out + ["", " ".join(notes)]


def _columns(n: int, words: str = "") -> str:
    return f"{n} {words}column{'' if n == 1 else 's'}"


def _column_row(change: ColumnChange) -> list[Any]:
    from dockyard.report.profile import CATEGORICAL, evidence_text, shown_levels, summary_parts

    levels = shown_levels(change) if change.kind == CATEGORICAL else None
    sides = [
        Md(escape(" · ".join(summary_parts(side, levels)))) if side else None
        for side in (change.base, change.head)
    ]
    extra = []
    if change.new_levels:
        extra.append("new: " + ", ".join(change.new_levels[:3]))
    if change.vanished_levels:
        extra.append("gone: " + ", ".join(change.vanished_levels[:3]))
    if extra and sides[1] is not None:
        sides[1] = Md(sides[1] + escape(" · " + "; ".join(extra)))
    name = code(change.name) + (escape(" (target)") if change.target else "")
    test = escape(evidence_text(change.drift, change.kind)) if change.drift else None
    verdict = escape(f"{MARKS['changed']} ({', '.join(change.what)})")
    return [Md(f"{name} {escape(change.kind)}"), *sides, test, verdict]


def _target_line(change: TableChange) -> str | None:
    """The target's class balance (or its mean and std) base -> head, changed or not."""
    from dockyard.report.profile import CATEGORICAL, summary_parts

    found = next((c for c in change.columns if c.target), None)
    if found is None or found.base is None or found.head is None:
        return None
    if found.kind == CATEGORICAL:
        levels = sorted(set(found.base.counts) | set(found.head.counts))
        if len(levels) > TARGET_CLASSES:  # the largest classes of the head only
            levels = sorted(sorted(found.head.counts, key=found.head.counts.get)[-TARGET_CLASSES:])
        more = " …" if len(set(found.base.counts) | set(found.head.counts)) > len(levels) else ""
        sides = [
            ", ".join(f"{lv} {side.shares().get(lv, 0.0):.1%}" for lv in levels) + more
            for side in (found.base, found.head)
        ]
        words = "class balance"
    else:
        sides = [" · ".join(summary_parts(side)[:3]) for side in (found.base, found.head)]
        words = "distribution"
    return f"Target {code(found.name)} {words}: {escape(sides[0])} → {escape(sides[1])}."


def _short(value: str | None) -> Md | None:
    return code(value[:10]) if value else None


def _recalls(rows: list[dict[str, str]]) -> tuple[dict[str, float], Counter, Counter]:
    support = Counter(str(r["actual"]) for r in rows)
    hits = Counter(str(r["actual"]) for r in rows if r["actual"] == r["predicted"])
    confused = Counter(
        (str(r["actual"]), str(r["predicted"])) for r in rows if r["actual"] != r["predicted"]
    )
    return {c: hits[c] / n for c, n in support.items()}, support, confused


def _seeds_words(per_seed: dict[int, Any]) -> str:
    seeds = sorted(per_seed)
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"mean over {len(seeds)} seeds"


def per_class_section(comparison: Comparison) -> list[str]:
    """Recall per class of the test split, tested against seed noise as the metrics are (the
    classes one family, Benjamini-Hochberg), and both sides' confusion matrices."""
    base, head = comparison.base, comparison.head
    if not head.confusion:
        return []
    new = {seed: _recalls(head.confusion[seed]) for seed in sorted(head.confusion)}
    old = {seed: _recalls(base.confusion[seed])[0] for seed in sorted(base.confusion)}
    support = next(iter(new.values()))[1]
    confused: Counter = sum((c for _, _, c in new.values()), Counter())
    classes = sorted(set(support) | {c for r in old.values() for c in r}, key=lambda c: (len(c), c))
    judged = control_fdr(
        [
            metric_row(
                c,
                [r[c] for r in old.values() if c in r],
                [r[0][c] for r in new.values() if c in r[0]],
                comparison.alpha,
                comparison.rtol,
                direction=True,
            )
            for c in classes
        ],
        comparison.alpha,
    )
    rows, marks = [], Counter()
    for c, row in zip(classes, judged, strict=True):
        if comparison.stale:
            row = unjudged(row, "stale")
        elif not comparison.like_for_like:
            row = unjudged(row)
        marks[mark(row)] += 1
        worst = max(
            ((p, n) for (a, p), n in confused.items() if a == c), key=lambda x: x[1], default=None
        )
        rows.append(
            [
                code(c),
                mark(row),
                support.get(c),
                number(row.base),
                number(row.head),
                signed(row.change),
                Md(f"{code(worst[0])} ({worst[1]})") if worst else None,
            ]
        )
    tested = len(old) >= 2 and len(new) >= 2
    noise = (
        f"Welch per class, false discovery rate α = {comparison.alpha} over the classes"
        if tested
        else "1 seed, not tested against noise"
    )
    words = f"base {_seeds_words(old)}, head {_seeds_words(new)}" if old else _seeds_words(new)
    tally = ", ".join(f"{n} {m.split(' ', 1)[1]}" for m, n in marks.most_common())
    summary = f"<b>Per-class recall</b> (test split; {words}; {noise}): {tally}"
    pooled = f" (summed over {len(new)} seeds)" if len(new) > 1 else ""
    body = table(
        ["class", "verdict", "support", "recall base", "recall head", "change"]
        + [f"most confused with{pooled}"],
        rows,
        right={2, 3, 4, 5},
    )
    body += ["", *confusion_matrices(base.confusion, head.confusion, classes)]
    return details(summary, body) + [""]


def confusion_matrices(
    base: dict[int, list[dict[str, str]]],
    head: dict[int, list[dict[str, str]]],
    classes: list[str],
) -> list[str]:
    """Head's and base's confusion matrices side by side under one fold, summed over each
    side's seeds (a base without confusion rows says so)."""
    if len(classes) > MATRIX_MAX_CLASSES:
        return [f"The confusion matrices are left out: {len(classes)} classes."]
    body = []
    for side, per_seed in (("head", head), ("base", base)):
        if not per_seed:
            body += [f"**{side}**: no confusion rows recorded.", ""]
            continue
        pooled = f", summed over {len(per_seed)} seeds" if len(per_seed) > 1 else ""
        body += [f"**{side}**{pooled}:", "", *confusion_matrix(per_seed, classes), ""]
    return details("Confusion matrices, head and base: rows actual, columns predicted", body[:-1])


def confusion_matrix(per_seed: dict[int, list[dict[str, str]]], classes: list[str]) -> list[str]:
    rows = [r for seed_rows in per_seed.values() for r in seed_rows]
    counts = Counter((str(r["actual"]), str(r["predicted"])) for r in rows)
    predicted = sorted(
        {str(r["predicted"]) for r in rows} | set(classes), key=lambda c: (len(c), c)
    )
    matrix = [[code(a), *[counts[(a, p)] for p in predicted]] for a in classes]
    return table(
        ["actual \\ predicted", *[code(p) for p in predicted]],
        matrix,
        right=set(range(1, len(predicted) + 1)),
    )


def _cost_value(cost: Cost, value: float | None, n: int) -> str:
    if value is None:
        return "—"
    if cost.unit == "B":
        text = size(value)
    elif cost.unit == "":
        text = f"{value:,.0f}"
    elif cost.unit == "s":
        text = f"{value:,.1f} s"
    else:
        text = f"{value:.3f} ms"
    return text + (f" (mean of {n})" if n > 1 and cost.measured else "")


def _cost_change(cost: Cost) -> str:
    change = cost.change
    if change is None:
        return "—"
    if change == 0:
        return "0"
    ratio = f"×{cost.head / cost.base:.2f}" if cost.base else ""
    if cost.within_noise:
        return "within noise" + (f" ({ratio})" if ratio else "")
    text = _cost_value(cost, abs(change), 1)
    return ("+" if change > 0 else "-") + text + (f" ({ratio})" if ratio else "")


def costs_section(costs: list[Cost]) -> list[str]:
    if not costs:
        return []
    rows = [
        [
            c.name,
            _cost_value(c, c.base, c.base_n),
            _cost_value(c, c.head, c.head_n),
            _cost_change(c),
        ]
        for c in costs
    ]
    out = ["### Cost", "", *table(["", "base", "head", "change"], rows, right={1, 2, 3})]
    notes = []
    if any(c.measured and (c.base is not None or c.head is not None) for c in costs):
        notes.append(
            "Times are as each side recorded them (per seed, mean over seeds; the machine "
            "that ran each side may differ)."
        )
    if any(c.within_noise for c in costs):
        notes.append(
            "A time within noise differs by less than runs of the same code do (a factor of "
            f"{TIMING_NOISE_FACTOR:g}), or, with seeds on both sides, not significantly (Welch)."
        )
    if any("—" in cell for row in rows for cell in row):
        notes.append("— means the revision did not record it.")
    return out + (["", " ".join(notes)] if notes else []) + [""]
