"""Training curves as Mermaid `xychart-beta` line charts (GitHub renders them; no image
hosting): a numeric epoch axis, base and head named inside the chart, and a caption that
says what the lines are (a seed, or the mean over seeds) and what was left out.
"""

from __future__ import annotations

import json
import math

from dockyard.metrics import CURVE_HIGHER_IS_BETTER, VALIDATION_CURVES, curve_column
from dockyard.report.collect import Snapshot
from dockyard.report.curves import Chart, Curve, mean_curve, plan_chart
from dockyard.report.markdown import code, escape

# grey for base, blue for head: readable on GitHub's light and dark backgrounds
COLOURS = {"base": "#8c959f", "head": "#1f6feb"}
COLOUR_NAMES = {"base": "grey", "head": "blue"}
CHART_CONFIG = {"height": 300, "titleFontSize": 16}
BAND_AXIS_POINTS = 10


def _decimals(low: float, high: float) -> int:
    """Decimals that keep rounding far below the axis span (Mermaid reads no exponents)."""
    span = high - low
    return max(0, min(12, 3 - math.floor(math.log10(span)))) if span > 0 else 4


def _fixed(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def x_axis(chart: Chart) -> str:
    """A numeric epoch axis (d3 picks 1, 2, 5 or 10-epoch ticks); for ten epochs or fewer,
    where d3 would label fractions of an epoch, one label per epoch."""
    if len(next(iter(chart.lines.values()))) <= BAND_AXIS_POINTS:
        return "[" + ", ".join(str(e) for e in range(chart.first, chart.last + 1, chart.step)) + "]"
    return f"{chart.first} --> {chart.last}"


def mermaid_chart(chart: Chart) -> list[str]:
    """The fenced Mermaid block of one planned chart."""
    sides = list(chart.lines)
    init = {
        "xyChart": CHART_CONFIG,
        "themeVariables": {"xyChart": {"plotColorPalette": ", ".join(COLOURS[s] for s in sides)}},
    }
    named = " vs ".join(f"{side} ({COLOUR_NAMES[side]})" for side in sides)
    decimals = _decimals(chart.low, chart.high)
    # the axis is rounded outwards so every drawn value lies inside it
    scale = 10**decimals
    low = math.floor(chart.low * scale) / scale
    high = math.ceil(chart.high * scale) / scale
    lines = [
        "```mermaid",
        f"%%{{init: {json.dumps(init)}}}%%",
        "xychart-beta",
        f'    title "{chart.name}: {named}"',
        f'    x-axis "epoch" {x_axis(chart)}',
        f'    y-axis "{curve_column(chart.name)}" {_fixed(low, decimals)} --> '
        f"{_fixed(high, decimals)}",
    ]
    for side, values in chart.lines.items():
        shown = ", ".join(_fixed(v, decimals + 1) for v in values)
        lines.append(f'    line "{side}" [{shown}]')
    return lines + ["```"]


def caption(chart: Chart, curves: dict[str, Curve]) -> str:
    """What the chart shows, in one line under it: which seeds, their spread at the last
    epoch drawn, where the chart cuts a longer run, each side's best epoch and what the
    zoom left out."""
    sentences = []
    seeds = {side: c.seeds for side, c in curves.items()}
    if all(len(s) == 1 for s in seeds.values()):
        shown = {f"seed {s[0]}" for s in seeds.values()}
        sentences.append(
            f"{shown.pop().capitalize()} on each side"
            if len(shown) == 1
            else ", ".join(f"{side}: seed {s[0]}" for side, s in seeds.items())
        )
    else:
        counts = ", ".join(f"{side} {len(s)}" for side, s in seeds.items())
        sentences.append(f"Mean over seeds ({counts}) at each epoch every seed of a side ran")
        sentences.append("epochs each seed ran: " + _stops(curves))
        spread = [
            f"{side} {c.spread(chart.last):.2g}"
            for side, c in curves.items()
            if c.spread(chart.last) is not None
        ]
        sentences.append(f"± std over seeds at epoch {chart.last}: " + ", ".join(spread))
    longer = {side: c for side, c in curves.items() if len(c.values) > chart.last}
    if longer:
        ended = [side for side in curves if side not in longer]
        cut = f"drawn to epoch {chart.last}" + (f", where {ended[0]} stopped" if ended else "")
        sentences.append(
            cut
            + ": "
            + "; ".join(
                f"{side} ran to epoch {len(c.values)} ({code(chart.name)} {c.values[-1]:.4g} "
                "there), not drawn further"
                for side, c in longer.items()
            )
        )
    direction = CURVE_HIGHER_IS_BETTER.get(chart.name)
    if direction is not None:
        best = {side: c.best(direction) for side, c in curves.items()}
        sentences.append(
            f"best {code(chart.name)}"
            + (" (mean over seeds)" if any(len(s) > 1 for s in seeds.values()) else "")
            + ": "
            + ", ".join(
                f"{side} {value:.4g} at epoch {epoch}" for side, (epoch, value) in best.items()
            )
        )
    if chart.left_out:
        dropped = [v for c in curves.values() for v in c.values[: chart.left_out]]
        sentences.append(
            ("epoch 1" if chart.left_out == 1 else f"epochs 1–{chart.left_out}")
            + f" left out ({min(dropped):.4g} to {max(dropped):.4g} "
            "there) to zoom in on where the runs differ"
        )
    if chart.step > 1:
        sentences.append(f"one epoch in {chart.step} drawn")
    text = ". ".join(s[0].upper() + s[1:] for s in sentences)
    # built from numbers, side names and code spans only: nothing to escape
    return f"<sub>{text}.</sub>"


def _stops(curves: dict[str, Curve]) -> str:
    """Epochs per seed, in seed order; the seeds named when the sides ran different ones."""
    seeds = {side: sorted(c.stops) for side, c in curves.items()}
    named = len({tuple(s) for s in seeds.values()}) > 1
    return "; ".join(
        f"{side} "
        + ", ".join(str(c.stops[s]) for s in seeds[side])
        + (f" (seeds {', '.join(str(s) for s in seeds[side])})" if named else "")
        for side, c in curves.items()
    )


def curves_section(base: Snapshot, head: Snapshot) -> list[str]:
    """A chart per validation curve of the task (the loss and its second measure); curves
    that are identical on both sides get one line instead (two charts would hide a line)."""
    task = head.params.get("data.task") or base.params.get("data.task")
    names = VALIDATION_CURVES.get(task) or tuple(
        dict.fromkeys(n for names in VALIDATION_CURVES.values() for n in names)
    )
    out: list[str] = []
    identical = []
    for name in names:
        curves = {
            side: curve
            for side, snap in (("base", base), ("head", head))
            if (curve := mean_curve(snap.curves.get(name, {}))) is not None
        }
        if len(curves) == 2 and base.curves.get(name) == head.curves.get(name):
            identical.append((name, curves["head"]))
            continue
        chart = plan_chart(name, curves.get("base"), curves.get("head"))
        if chart is None:
            if curves:
                shown = ", ".join(f"{side} {c.values[-1]:.4g}" for side, c in curves.items())
                out += [f"{code(name)} after one epoch: {escape(shown)}.", ""]
            continue
        out += mermaid_chart(chart)
        out += [caption(chart, {s: curves[s] for s in chart.lines}), ""]
    if identical:
        out = [
            "Identical on base and head (same values at every epoch of every seed): "
            + ", ".join(_identical(name, curve) for name, curve in identical)
            + ".",
            "",
        ] + out
    return out


def _identical(name: str, curve: Curve) -> str:
    direction = CURVE_HIGHER_IS_BETTER.get(name)
    runs = f"{curve.epochs} epochs"
    if direction is None:
        return f"{code(name)} ({runs})"
    epoch, value = curve.best(direction)
    return f"{code(name)} ({runs}, best {value:.4g} at epoch {epoch})"
