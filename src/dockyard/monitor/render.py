"""The monitor's result as a markdown section (the CLI, job summaries, the retraining PR)."""

from __future__ import annotations

import math
from typing import Any

# Feature rows shown: every drifted one, then the largest effects up to this many.
SHOWN_FEATURES = 15
# Drifted features named in the verdict line, at most.
NAMED_FEATURES = 5
HEADING = "## Drift monitor"
SIGNAL_WORDS = {"distribution": "distribution", "missing": "missing", "out_of_range": "range"}


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float) and 0 < abs(value) < 10 ** (-digits):
        return f"{value:.1e}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _share(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _points(value: Any) -> str:
    return "–" if value is None else f"{100 * value:g} points"


def _shares(shift: dict[str, Any] | None) -> str:
    """reference → current share of a missing or out-of-range signal, marked when drifted."""
    if not shift:
        return "–"
    text = f"{_share(shift['reference'])} → {_share(shift['current'])}"
    return f"**{text}**" if shift.get("drifted") else text


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def verdict_line(result: dict[str, Any]) -> str:
    if result.get("status") == "skipped":
        return f"{HEADING}: skipped"
    summary = result.get("summary") or {}
    parts = []
    if summary.get("drifted_features"):
        drifted = [f["column"] for f in result.get("features") or [] if f["drifted"]]
        named = ", ".join(f"`{c}`" for c in drifted[:NAMED_FEATURES])
        named += (
            f" and {len(drifted) - NAMED_FEATURES} more" if len(drifted) > NAMED_FEATURES else ""
        )
        parts.append(
            f"drift in {summary['drifted_features']} of {summary['features']} features"
            + (f" ({named})" if named else "")
        )
    if summary.get("prediction_drifted"):
        parts.append("predictions drifted")
    if summary.get("decayed_metrics"):
        names = ", ".join(f"`{n}`" for n in (result.get("performance") or {}).get("decayed", []))
        parts.append(f"decay in {names}")
    if not parts:
        return f"{HEADING}: ✅ no drift, no decay"
    return f"{HEADING}: ⚠️ " + "; ".join(parts)


def render_markdown(result: dict[str, Any]) -> str:
    lines = [verdict_line(result), ""]
    if result.get("status") == "skipped":
        lines += [f"Nothing compared: {note}." for note in result.get("notes", [])]
        return "\n".join(lines) + "\n"
    current, reference = result.get("current") or {}, result.get("reference") or {}
    policy = result.get("policy") or {}
    if "batches" in reference:
        against = "the batches before it (" + ", ".join(reference["batches"]) + ")"
    else:
        against = f"`{reference.get('path')}` ({reference.get('rows', 0):,} rows)"
    rows = f" ({current['rows']:,} rows)" if "rows" in current else ""
    lines.append(
        f"Current `{current.get('path')}`{rows} against {against}; model "
        f"`{result.get('model')}`. A feature drifts when one of its tests, adjusted with "
        f"Benjamini-Hochberg across all of them (the predictions' included), has a p-value "
        f"of at most {policy.get('fdr')} and an effect beyond its threshold: the distribution "
        f"(normalised Wasserstein {policy.get('numeric_threshold')} for numbers, "
        f"Jensen-Shannon {policy.get('categorical_threshold')} for categories), the share of "
        f"missing values ({_points(policy.get('missing_threshold'))}) or the share of values "
        f"outside the expected range ({_points(policy.get('out_of_range_threshold'))})."
    )
    lines += ["", *_features(result.get("features") or [])]
    lines += ["", *_prediction(result.get("prediction"))]
    if result.get("performance"):
        lines += ["", *_performance(result["performance"])]
    notes = list(result.get("notes") or []) + list(
        (result.get("performance") or {}).get("notes") or []
    )
    if notes:
        lines += ["", *(f"- Note: {note}." for note in notes)]
    return "\n".join(lines) + "\n"


def _features(features: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(features, key=lambda f: (not f["drifted"], -(f["effect"] or 0.0)))
    shown = [f for f in ordered if f["drifted"]]
    shown += [f for f in ordered if not f["drifted"]][: max(SHOWN_FEATURES - len(shown), 0)]
    rows = []
    for f in shown:
        interval = f"{_number(f['effect_low'])}–{_number(f['effect_high'])}"
        rows.append(
            [
                f"`{f['column']}`",
                f["kind"],
                f"{_number(f['effect'])} ({interval})",
                _number(f["threshold"], 2),
                _number(f["p_adjusted"]),
                _shares(f.get("missing")),
                _shares(f.get("out_of_range")),
                _share(f["unseen_current"]),
                _verdict(f),
            ]
        )
    header = ["feature", "kind", "effect (95% CI)", "threshold", "p adj.", "missing"]
    lines = _table([*header, "out of range", "unseen", "verdict"], rows)
    hidden = len(features) - len(shown)
    if hidden:
        lines.append(f"\n{hidden} more feature(s) within the thresholds, with smaller effects.")
    return lines


def _verdict(feature: dict[str, Any]) -> str:
    if not feature["drifted"]:
        return "ok"
    signals = [SIGNAL_WORDS.get(s, s) for s in feature.get("drifted_by") or []]
    return "⚠️ drift" + (f" ({', '.join(signals)})" if signals else "")


def _prediction(prediction: dict[str, Any] | None) -> list[str]:
    if not prediction:
        return []
    refused = prediction.get("refused_rows") or {}
    dropped = (
        f" ({refused.get('current', 0):,} current and {refused.get('reference', 0):,} "
        "reference rows refused by the model's schema were not scored)"
        if any(refused.values())
        else ""
    )
    if not prediction.get("tested"):
        return [f"Predictions: not compared, no row could be scored{dropped}."]
    verdict = "⚠️ drifted" if prediction["drifted"] else "no drift"
    against = f" (against {prediction['reference']})" if prediction.get("reference") else ""
    line = (
        f"Predictions{against}: {verdict}: {prediction['effect_name']} "
        f"{_number(prediction['effect'])} "
        f"(threshold {_number(prediction['threshold'], 2)}, "
        f"p adj. {_number(prediction.get('p_adjusted', prediction['p_value']))})"
        f"{dropped}."
    )
    shares = prediction.get("shares")
    if not shares:
        return [line]
    rows = [[f"`{s['class']}`", _share(s["reference"]), _share(s["current"])] for s in shares]
    return [line, "", *_table(["predicted class", "reference", "current"], rows)]


def _performance(performance: dict[str, Any]) -> list[str]:
    seeds = performance.get("seeds") or []
    rows = []
    for m in performance.get("metrics") or []:
        low, high = m.get("interval_low"), m.get("interval_high")
        interval = "–" if low is None else f"{low:+.4f} to {high:+.4f}"
        verdict = {"worse": "❌ decay", "better": "✅ better", "noise": "within noise"}.get(
            m["status"], m["status"]
        )
        if m.get("within"):
            verdict += f" ({m['within']})"
        p_value = "–" if m.get("p_value") is None else _number(m["p_value"])
        change = "–" if m.get("change") is None else f"{m['change']:+.4f}"
        rows.append(
            [
                f"`{m['name']}`",
                _number(m.get("test"), 4),
                _number(m.get("current"), 4),
                change,
                interval,
                p_value,
                verdict,
            ]
        )
    lines = [
        f"Performance on the batch's {performance.get('rows', 0):,} labelled rows against the "
        f"test split ({len(seeds)} seed{'s' if len(seeds) != 1 else ''}; sampling interval of "
        f"current − test at {100 * performance.get('confidence', 0.95):.1f}%):",
        "",
    ]
    header = ["metric", "test", "current", "change", "sampling interval", "p (seeds)"]
    return lines + _table([*header, "verdict"], rows)
