"""`dockyard data profile`: one HTML page per table version, readable offline.

Everything is inline (CSS, and SVG charts drawn here) because the page travels as a CI
artifact and an e-mail attachment: no CDN, no script, nothing fetched when it opens. A
chart per column (histogram for numbers, dates and text lengths; bars for categories),
base and head overlaid when there is a base, the summary table (with the monitor's
verdicts when there is a base) and the schema's checks.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dockyard.paths import VALIDATION_REPORT
from dockyard.report.collect import (
    LOCK_FILE,
    PARAMS_FILE,
    read_file,
    read_raw_table,
    read_yaml_file,
    resolve,
)
from dockyard.report.profile import (
    CATEGORICAL,
    ColumnChange,
    ColumnProfile,
    TableChange,
    TableProfile,
    compare_tables,
    drift_policy_of,
    evidence_text,
    numbers,
    profile_table,
    summary_parts,
    value_text,
)

BINS = 30
BARS = 12  # categories drawn per chart; the rest are one "other" bar
WIDTH, HEIGHT, PAD = 560, 170, 36
COLOURS = {"base": "#9aa5b1", "head": "#1f6feb"}
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{font-size:.9em;background:#f6f8fa;padding:0 .2em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:1rem}
.column{border:1px solid #d0d7de;border-radius:6px;padding:.6rem}
.column h3{margin:.1rem 0 .4rem;font-size:1rem}.kind{color:#656d76;font-weight:400}
.changed{color:#9a6700;font-weight:600}.same{color:#1a7f37}
.legend span{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .8em}
svg text{font:11px system-ui,sans-serif;fill:#1f2328}.note{color:#656d76}
"""


@dataclass
class Side:
    """One revision's validated table and what the page needs beside it."""

    label: str
    sha: str | None
    table: Any
    params: dict[str, Any]
    report: dict[str, Any]


def read_side(root: Path, rev: str | None) -> Side:
    """A revision's validated table (the workspace's when `rev` is None), its params and
    its validation report."""
    sha = resolve(root, rev)[0] if rev else None
    label = rev or "workspace"
    texts = {p: read_file(root, sha, p) for p in (LOCK_FILE, PARAMS_FILE, VALIDATION_REPORT)}
    lock = read_yaml_file(root, texts[LOCK_FILE], LOCK_FILE, label, sha)
    params = read_yaml_file(root, texts[PARAMS_FILE], PARAMS_FILE, label, sha)
    lock, params = (v if isinstance(v, dict) else {} for v in (lock, params))
    try:
        report = json.loads(texts[VALIDATION_REPORT]) if texts[VALIDATION_REPORT] else {}
    except ValueError:
        report = {}  # the schema's check results are left off the page; the table is not
    table = read_raw_table(root, sha, lock.get("stages", {}))
    return Side(label, sha, table, params, report)


def build_page(root: str | Path, rev: str | None = None, base: str | None = None) -> str:
    """The page for `rev` (default: the workspace), compared with `base` when given."""
    root = Path(root).resolve()
    if base is not None:
        resolve(root, base)  # an unknown base is refused before any table is read
    head = read_side(root, rev)
    target = (head.params.get("data") or {}).get("target")
    if base is None:
        return render_page(profile_table(head.table), None, head, None, target)
    old = read_side(root, base)
    change = compare_tables(old.table, head.table, drift_policy_of(head.params), target)
    return render_page(change.head, change, head, old, target)


def render_page(
    profile: TableProfile,
    change: TableChange | None,
    head: Side,
    base: Side | None,
    target: str | None,
) -> str:
    name = (head.params.get("data") or {}).get("name") or "table"
    title = f"Data profile: {name}"
    sides = _side_words(head) if base is None else f"{_side_words(base)} → {_side_words(head)}"
    body = [f"<h1>{_e(title)}</h1>", f"<p>{_e(sides)}</p>"]
    sampled = change.head if change else profile
    rows = f"{change.base.rows:,} → {change.head.rows:,}" if change else f"{profile.rows:,}"
    body.append(f"<p>{rows} rows, {len(profile.columns)} columns.")
    if sampled.sampled or (change and change.base.sampled):
        body.append(
            f" Charts and tests read a seeded sample of {len(sampled.sample):,} rows per side; "
            "the summaries are exact."
        )
    body.append("</p>")
    if base is not None:
        body.append(
            f'<p class="legend">Charts:<span style="background:{COLOURS["base"]}"></span>base'
            f'<span style="background:{COLOURS["head"]}"></span>head</p>'
        )
    body += ["<h2>Summary</h2>", *summary_table(profile, change, target)]
    body += ["<h2>Schema checks</h2>", *schema_table(head.params, head.report)]
    body += ["<h2>Columns</h2>", '<div class="grid">']
    changes = {c.name: c for c in change.columns} if change else {}
    for column in profile.columns.values():
        body.append(
            column_card(column, changes.get(column.name), profile, change, column.name == target)
        )
    body.append("</div>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _side_words(side: Side) -> str:
    return side.label + (f" ({side.sha[:10]})" if side.sha and side.sha[:10] != side.label else "")


def _e(text: Any) -> str:
    return html.escape(str(text))


def summary_table(
    profile: TableProfile, change: TableChange | None, target: str | None
) -> list[str]:
    if change is None:
        head = "<tr><th>column</th><th>kind</th><th>summary</th></tr>"
        rows = [
            f"<tr><td><code>{_e(c.name)}</code>{' (target)' if c.name == target else ''}</td>"
            f"<td>{c.kind}</td><td>{_e(' · '.join(summary_parts(c)))}</td></tr>"
            for c in profile.columns.values()
        ]
        return ["<table>", head, *rows, "</table>"]
    head = "<tr><th>column</th><th>kind</th><th>base</th><th>head</th><th>verdict</th></tr>"
    rows = []
    for c in change.columns:
        sides = [_e(" · ".join(summary_parts(s))) if s else "—" for s in (c.base, c.head)]
        if c.changed:
            test = f" — {_e(evidence_text(c.drift, c.kind))}" if c.drift else ""
            verdict = f'<span class="changed">changed ({_e(", ".join(c.what))})</span>{test}'
        else:
            verdict = '<span class="same">unchanged</span>'
        rows.append(
            f"<tr><td><code>{_e(c.name)}</code>{' (target)' if c.target else ''}</td>"
            f"<td>{c.kind}</td><td>{sides[0]}</td><td>{sides[1]}</td><td>{verdict}</td></tr>"
        )
    note = (
        f'<p class="note">{len(change.changed)} of {len(change.columns)} columns changed: '
        f"the monitor's drift tests, false discovery rate {change.policy.fdr:g} over "
        f"{change.tests} tests, effect thresholds {change.policy.numeric_threshold:g} (numbers, "
        f"W₁/σ), {change.policy.categorical_threshold:g} (categories, Jensen-Shannon) and "
        f"{change.policy.missing_threshold * 100:g} points (missing share).</p>"
    )
    return [note, "<table>", head, *rows, "</table>"]


def schema_table(params: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """The schema's checks per column (conf/data/NAME.yaml), with the rows the validation
    report counted outside a soft expectation."""
    columns = ((params.get("data") or {}).get("schema") or {}).get("columns") or {}
    if not columns:
        return ['<p class="note">No schema declared (data.schema.columns).</p>']
    outside = report.get("outside_expected") or {}
    head = "<tr><th>column</th><th>dtype</th><th>missing allowed</th><th>checks</th></tr>"
    rows = []
    for name, spec in columns.items():
        spec = spec or {}
        checks = []
        if spec.get("isin"):
            values = [str(v) for v in spec["isin"]]
            shown = ", ".join(values[:8]) + (
                f" … ({len(values)} values)" if len(values) > 8 else ""
            )
            checks.append(f"one of {shown}")
        for key, words in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if spec.get(key) is not None:
                checks.append(f"{words} {spec[key]}")
        expect = spec.get("expect") or {}
        if expect:
            bounds = " and ".join(
                f"{'≥' if k == 'ge' else '≤'} {v}" for k, v in expect.items() if v is not None
            )
            counted = outside.get(str(name))
            count = counted.get("rows", counted) if isinstance(counted, dict) else counted
            checks.append(f"expected {bounds} (soft; {count or 0} rows outside at validation)")
        if spec.get("time"):
            checks.append("the table's time axis")
        rows.append(
            f"<tr><td><code>{_e(name)}</code></td><td>{_e(spec.get('dtype', '—'))}</td>"
            f"<td>{'yes' if spec.get('nullable') else 'no'}</td>"
            f"<td>{_e('; '.join(checks)) or '—'}</td></tr>"
        )
    strict = (params.get("data") or {}).get("schema", {}).get("strict")
    note = "<p>Every row passed these checks at ingest (the validated table)"
    note += "; no other column is allowed.</p>" if strict else ".</p>"
    return [note, "<table>", head, *rows, "</table>"]


def column_card(
    column: ColumnProfile,
    change: ColumnChange | None,
    profile: TableProfile,
    comparison: TableChange | None,
    target: bool,
) -> str:
    """One column's section: its chart, its summaries and verdict."""
    old = comparison.base if comparison else None
    base = old.columns.get(column.name) if old else None
    if column.kind == CATEGORICAL:
        chart = bar_chart(column, base)
    else:
        samples = {"head": numbers(profile.sample[column.name], column.kind)}
        if base is not None and base.kind == column.kind:
            samples["base"] = numbers(old.sample[column.name], column.kind)
        chart = histogram(samples, column.kind)
    words = _e(" · ".join(summary_parts(column)))
    if base is not None:
        words = f"base: {_e(' · '.join(summary_parts(base)))}<br>head: {words}"
    verdict = ""
    if change is not None:
        verdict = (
            f'<p class="changed">changed ({_e(", ".join(change.what))})</p>'
            if change.changed
            else '<p class="same">unchanged</p>'
        )
    label = " (target)" if target else ""
    return (
        f'<section class="column" data-column="{_e(column.name)}">'
        f'<h3><code>{_e(column.name)}</code>{label} <span class="kind">{column.kind}</span></h3>'
        f"{chart}<p>{words}</p>{verdict}</section>"
    )


def histogram(samples: dict[str, np.ndarray], kind: str) -> str:
    """Shares of each side's values per bin, on shared bins between the pooled 0.5th and
    99.5th percentiles (values beyond fall in the edge bins, so one outlier does not
    squeeze the rest into a single bar)."""
    finite = {side: v[np.isfinite(v)] for side, v in samples.items()}
    pooled = np.concatenate(list(finite.values()))
    if pooled.size == 0:
        return _svg(['<text x="10" y="80">no values</text>'], kind)
    low, high = (float(q) for q in np.quantile(pooled, [0.005, 0.995]))
    if high <= low:
        low, high = float(pooled.min()) - 0.5, float(pooled.max()) + 0.5
    edges = np.linspace(low, high, BINS + 1)
    shares = {}
    for side, values in finite.items():
        counts = np.histogram(np.clip(values, low, high), edges)[0]
        shares[side] = counts / max(values.size, 1)
    top = max(float(s.max()) for s in shares.values()) or 1.0
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = plot_w / BINS
    parts = []
    for side in ("base", "head"):
        if side not in shares:
            continue
        opacity = "0.55" if side == "head" and "base" in shares else "0.9"
        for i, share in enumerate(shares[side]):
            h = plot_h * share / top
            parts.append(
                f'<rect x="{PAD + i * step:.1f}" y="{PAD + plot_h - h:.1f}" '
                f'width="{max(step - 1, 1):.1f}" height="{h:.1f}" fill="{COLOURS[side]}" '
                f'fill-opacity="{opacity}"><title>{side}: {share:.1%}</title></rect>'
            )
    parts += _axes(plot_w, plot_h, top)
    for x, anchor, value in ((PAD, "start", low), (PAD + plot_w, "end", high)):
        text = value_text(value, kind)
        parts.append(f'<text x="{x}" y="{HEIGHT - 12}" text-anchor="{anchor}">{_e(text)}</text>')
    middle = value_text((low + high) / 2, kind)
    parts.append(
        f'<text x="{PAD + plot_w / 2}" y="{HEIGHT - 12}" text-anchor="middle">{middle}</text>'
    )
    if kind == "text":
        parts.append(f'<text x="{PAD}" y="14">length of the text</text>')
    return _svg(parts, kind)


def bar_chart(head: ColumnProfile, base: ColumnProfile | None) -> str:
    """Each category's share of rows with a value, base over head, the largest BARS
    levels (by their larger share) and the rest as one `other` bar."""
    sides = {"head": head.shares()}
    if base is not None and base.kind == CATEGORICAL:
        sides = {"base": base.shares(), **sides}
    largest: dict[str, float] = {}
    for shares in sides.values():
        for level, share in shares.items():
            largest[level] = max(largest.get(level, 0.0), share)
    levels = sorted(largest, key=lambda lv: -largest[lv])
    shown, rest = levels[:BARS], levels[BARS:]
    rows: list[tuple[str, dict[str, float]]] = [
        (lv, {s: shares.get(lv, 0.0) for s, shares in sides.items()}) for lv in shown
    ]
    if rest:
        rows.append(
            (
                f"other ({len(rest)})",
                {s: sum(sh.get(lv, 0.0) for lv in rest) for s, sh in sides.items()},
            )
        )
    bar_h = 9 if len(sides) == 2 else 14
    row_h = bar_h * len(sides) + 6
    height = max(len(rows) * row_h + 24, 60)
    label_w, plot_w = 150, WIDTH - 150 - 60
    top = max((v for _, values in rows for v in values.values()), default=1.0) or 1.0
    parts = []
    for i, (level, values) in enumerate(rows):
        y = 10 + i * row_h
        shown_level = level if len(level) <= 22 else level[:21] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + row_h / 2}" text-anchor="end" '
            f'dominant-baseline="middle">{_e(shown_level)}</text>'
        )
        for j, (side, share) in enumerate(values.items()):
            w = plot_w * share / top
            parts.append(
                f'<rect x="{label_w}" y="{y + j * bar_h}" width="{max(w, 0.5):.1f}" '
                f'height="{bar_h - 1}" fill="{COLOURS[side]}"><title>{_e(level)}, {side}: '
                f"{share:.1%}</title></rect>"
            )
        parts.append(
            f'<text x="{label_w + plot_w + 4}" y="{y + row_h / 2}" '
            f'dominant-baseline="middle">{values["head"]:.1%}</text>'
        )
    return _svg(parts, CATEGORICAL, height)


def _axes(plot_w: float, plot_h: float, top: float) -> list[str]:
    return [
        f'<line x1="{PAD}" y1="{PAD + plot_h}" x2="{PAD + plot_w}" y2="{PAD + plot_h}" '
        'stroke="#57606a"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{PAD + plot_h}" stroke="#57606a"/>',
        f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end">{top:.0%}</text>',
        f'<text x="{PAD - 4}" y="{PAD + plot_h}" text-anchor="end">0</text>',
    ]


def _svg(parts: Sequence[str], kind: str, height: float = HEIGHT) -> str:
    return (
        f'<svg class="chart" data-kind="{kind}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{WIDTH}" height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" role="img">'
        + "".join(parts)
        + "</svg>"
    )


def write_page(text: str, path: str | Path) -> Path:
    from dockyard.io import write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(text, path)
    return path
