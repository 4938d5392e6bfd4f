"""GitHub-flavoured markdown for a comparison: one comment a reviewer can decide from."""

from __future__ import annotations

from collections import Counter
from typing import Any

from dockyard.report.collect import Snapshot
from dockyard.report.compare import Comparison, MetricRow

MARKER = "<!-- dockyard-report -->"
MARKS = {
    "better": "✅ better",
    "worse": "❌ worse",
    "same": "➖ same",
    "changed": "⚪ changed",
    "noise": "〰️ within noise",
    "new": "🆕 new",
    "removed": "🗑️ removed",
}
# grey for base, blue for head (Mermaid xychart has no legend: the caption says which is which)
CHART_THEME = (
    '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#9a9a9a, #1f6feb"}}}}%%'
)


def _cell(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.4f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2%}"


def side_name(snap: Snapshot) -> str:
    return f"`{snap.label}` ({snap.sha[:8]})" if snap.sha else f"`{snap.label}`"


def verdict_line(rows: list[MetricRow]) -> str:
    if not rows:
        return "**Verdict:** no metrics on either side yet."
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row.status, []).append(row.name)
    if not any(groups.get(k) for k in ("better", "worse", "changed", "new", "removed")):
        if groups.get("noise"):
            return (
                f"**Verdict:** no change larger than the seed noise ({len(rows)} metrics compared)."
            )
        return f"**Verdict:** no metric changed ({len(rows)} compared)."
    parts = []
    for status, word in (
        ("better", "improved"),
        ("worse", "regressed"),
        ("changed", "changed (direction unknown)"),
        ("new", "new"),
        ("removed", "removed"),
        ("noise", "within noise"),
    ):
        if groups.get(status):
            parts.append(f"{MARKS[status].split()[0]} {word}: " + ", ".join(groups[status]))
    if groups.get("same"):
        parts.append(f"{len(groups['same'])} unchanged")
    return "**Verdict:** " + " · ".join(parts)


def _side_value(mean: float | None, std: float | None, n: int) -> str:
    if mean is None:
        return "—"
    if n >= 2 and std is not None:
        return f"{mean:.4f} ± {std:.4f} (n={n})"
    return f"{mean:.4f}"


def _folded(row: MetricRow) -> bool:
    return row.status == "same" or (row.status == "noise" and row.change == 0)


def metrics_section(rows: list[MetricRow], noise: bool, alpha: float) -> list[str]:
    if not rows:
        return ["No metrics files on either side yet (is `dvc repro` part of this change?)."]
    header = ["metric", "base", "head", "change", "relative"]
    header += ["p-value", ""] if noise else [""]

    def line(row: MetricRow) -> list[Any]:
        cells = [
            row.name,
            _side_value(row.base, row.base_std, row.base_n),
            _side_value(row.head, row.head_std, row.head_n),
            _signed(row.change),
            _percent(row.relative),
        ]
        if noise:
            cells.append("—" if row.p_value is None else f"{row.p_value:.3g}")
        return cells + [MARKS[row.status]]

    moved = [r for r in rows if not _folded(r)]
    same = [r for r in rows if _folded(r)]
    out = table(header, [line(r) for r in moved]) if moved else ["No metric changed."]
    if same:
        out += ["", f"<details><summary>{len(same)} unchanged metric(s)</summary>", ""]
        out += table(header, [line(r) for r in same])
        out += ["", "</details>"]
    seeds = {(r.base_n, r.head_n) for r in rows if r.base_n and r.head_n}
    if noise:
        out += [
            "",
            f"Verdicts test the difference of the means against the seed noise "
            f"(Welch's t-test, α = {alpha}); `within noise` means p ≥ {alpha}.",
        ]
    elif seeds:
        out += [
            "",
            "ℹ️ One side ran a single seed, so there is no noise estimate: the changes "
            "above are raw differences and may be seed noise. Run several seeds on both "
            "sides (`seeds: [0, 1, 2, 3, 4]` in conf/config.yaml, or "
            "`dvc exp run -S 'seeds=[0,1,2,3,4]'`) for better / worse / within-noise "
            "verdicts.",
        ]
    return out


FOLD_PARAMS_AFTER = 12


def params_section(params: list[tuple[str, Any, Any]]) -> list[str]:
    if not params:
        return ["No parameter changed."]
    rows = [[f"`{k}`", f"`{b}`", f"`{h}`"] for k, b, h in params]
    if len(rows) <= FOLD_PARAMS_AFTER:
        return table(["param", "base", "head"], rows)
    groups = sorted({k.split(".")[0] for k, _, _ in params})
    return [
        f"{len(rows)} params changed (in {', '.join(f'`{g}`' for g in groups)}).",
        "",
        "<details><summary>Show them</summary>",
        "",
        *table(["param", "base", "head"], rows),
        "",
        "</details>",
    ]


def stages_section(comparison: Comparison) -> list[str]:
    stages = comparison.stages
    all_stages = list(comparison.head.lock) or list(comparison.base.lock)
    if not stages:
        return ["No stage re-ran: every stage's dependencies are as in base."]
    rerun = {s.stage for s in stages}
    out = table(
        ["stage", "re-ran because"], [[f"`{s.stage}`", "; ".join(s.reasons)] for s in stages]
    )
    cached = [s for s in all_stages if s not in rerun]
    if cached:
        out += ["", "Unchanged (not re-run): " + ", ".join(f"`{s}`" for s in cached) + "."]
    return out


def data_section(comparison: Comparison) -> list[str]:
    base_rows, head_rows = comparison.rows
    if not comparison.data and base_rows == head_rows:
        return []
    out = ["### Data", ""]
    if comparison.data:
        rows = [
            [
                f"`{d.path}`",
                _short(d.base_hash),
                _short(d.head_hash),
                _size(d.base_size),
                _size(d.head_size),
            ]
            for d in comparison.data
        ]
        out += table(["input", "base md5", "head md5", "base size", "head size"], rows)
    if base_rows != head_rows:
        out += ["", f"Rows after validation: {_cell(base_rows)} → {_cell(head_rows)}."]
    return out + [""]


def _short(value: str | None) -> str:
    return f"`{value[:10]}`" if value else "—"


def _size(value: int | None) -> str:
    return "—" if value is None else f"{value:,} B"


def mermaid_chart(title: str, base: list[float], head: list[float]) -> list[str]:
    """An xychart-beta line chart; the shorter run is held flat after it stopped."""
    length = max(len(base), len(head))
    series = [s + [s[-1]] * (length - len(s)) for s in (base, head) if s]
    values = [v for s in series for v in s]
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
    bottom, top = low - pad, high + pad
    if low >= 0:
        bottom = max(bottom, 0.0)  # losses and rates never go below zero
    if low >= 0 and high <= 1:
        top = min(top, 1.0)  # nor rates above one
    epochs = ", ".join(str(i) for i in range(1, length + 1))
    lines = [
        "```mermaid",
        CHART_THEME,
        "xychart-beta",
        f'    title "{title}"',
        f"    x-axis [{epochs}]",
        f'    y-axis "{title.split()[0]}" {bottom:.4g} --> {top:.4g}',
    ]
    lines += [f"    line [{', '.join(f'{v:.4g}' for v in s)}]" for s in series]
    return lines + ["```"]


def curves_section(base: Snapshot, head: Snapshot) -> list[str]:
    out: list[str] = []
    for name in ("val/loss", "val/accuracy", "val/mae"):
        old, new = base.curves.get(name, []), head.curves.get(name, [])
        if not new and not old:
            continue
        out += mermaid_chart(f"{name} per epoch", old, new)
        caption = "grey: base, blue: head" if old and new else ("head" if new else "base")
        stops = [
            f"{label} stopped after {len(s)} epochs"
            for label, s in (("base", old), ("head", new))
            if s and len(s) < max(len(old), len(new))
        ]
        out += [f"<sub>{caption}{'; ' + ', '.join(stops) + ' (held flat)' if stops else ''}.</sub>"]
        out.append("")
    return out


def confusion_section(base: Snapshot, head: Snapshot) -> list[str]:
    if not head.confusion:
        return []

    def recall(rows: list[dict[str, str]]) -> tuple[dict[str, float], Counter, Counter]:
        support = Counter(r["actual"] for r in rows)
        hits = Counter(r["actual"] for r in rows if r["actual"] == r["predicted"])
        confused = Counter(
            (r["actual"], r["predicted"]) for r in rows if r["actual"] != r["predicted"]
        )
        return {c: hits[c] / n for c, n in support.items()}, support, confused

    new_recall, support, confused = recall(head.confusion)
    old_recall = recall(base.confusion)[0] if base.confusion else {}
    classes = sorted(support, key=lambda c: (len(c), c))
    rows = []
    for c in classes:
        worst = max(
            ((p, n) for (a, p), n in confused.items() if a == c), key=lambda x: x[1], default=None
        )
        old = old_recall.get(c)
        rows.append(
            [
                f"`{c}`",
                support[c],
                _number(old),
                _number(new_recall[c]),
                _signed(None if old is None else new_recall[c] - old),
                f"`{worst[0]}` ({worst[1]})" if worst else "—",
            ]
        )
    out = ["### Test confusion (per class)", ""]
    out += table(
        ["class", "support", "recall base", "recall head", "change", "most confused with"], rows
    )
    predicted = sorted(
        {r["predicted"] for r in head.confusion} | set(classes), key=lambda c: (len(c), c)
    )
    counts = Counter((r["actual"], r["predicted"]) for r in head.confusion)
    matrix = [[f"**{a}**", *[counts[(a, p)] for p in predicted]] for a in classes]
    out += [
        "",
        "<details><summary>Confusion matrix (head; rows actual, columns predicted)</summary>",
        "",
    ]
    out += table(["actual \\ predicted", *predicted], matrix)
    return out + ["", "</details>", ""]


def render(comparison: Comparison, extras: dict[str, Any] | None = None) -> str:
    extras = extras or {}
    base, head = comparison.base, comparison.head
    out = [
        MARKER,
        f"## dockyard report: {side_name(head)} vs {side_name(base)}",
        "",
        verdict_line(comparison.metrics),
        "",
    ]
    if "reproducibility" in extras:
        out += [extras["reproducibility"], ""]
    out += [
        "### Metrics",
        "",
        *metrics_section(comparison.metrics, comparison.noise_estimate, comparison.alpha),
        "",
    ]
    out += ["### Params changed", "", *params_section(comparison.params), ""]
    out += ["### Stages re-run", "", *stages_section(comparison), ""]
    out += data_section(comparison)
    curves = curves_section(base, head)
    if curves:
        out += ["### Training curves", "", *curves]
    out += confusion_section(base, head)
    if extras.get("plots_url"):
        out += [
            f"📈 Full plots (`dvc plots diff`): [HTML artifact]({extras['plots_url']})",
            "",
        ]
    out += ["---", footer(comparison, extras)]
    return "\n".join(out) + "\n"


def footer(comparison: Comparison, extras: dict[str, Any]) -> str:
    base, head = comparison.base, comparison.head
    head_ref = head.sha[:8] if head.sha else "the workspace"
    reproduce = f"git checkout {head.sha[:8]} && dvc repro" if head.sha else "dvc repro"
    parts = [
        f"<sub>base {side_name(base)}{' ' + repr(base.subject) if base.subject else ''} · head "
        f"{side_name(head) if head.sha else head_ref}",
        f"reproduce locally: `{reproduce}` then `dockyard report --base {base.label}`",
    ]
    if comparison.noise_estimate:
        parts.append(f"verdicts: Welch's t-test over seeds, α = {comparison.alpha}")
    if extras.get("run_seconds") is not None:
        parts.append(f"pipeline run time: {float(extras['run_seconds']):.0f} s")
    if extras.get("report_seconds") is not None:
        parts.append(f"report built in {extras['report_seconds']:.1f} s")
    return " · ".join(parts) + "</sub>"
