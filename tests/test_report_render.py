"""The pull-request comment as GitHub renders it: GFM tables (markdown-it-py), folds,
identifiers, verdict wording, and every chart through Mermaid's own parser."""

from __future__ import annotations

import math
import re

import pytest

from dockyard.metrics import VAL_ACCURACY, VAL_LOSS
from dockyard.report.charts import mermaid_chart
from dockyard.report.collect import Snapshot
from dockyard.report.compare import compare
from dockyard.report.curves import Curve, mean_curve, plan_chart
from dockyard.report.render import MARKER, render
from dockyard.report.stages import StageChange

from .markdown_check import (
    check_details,
    check_tables,
    check_xycharts,
    d3_ticks,
    mermaid_blocks,
    mermaid_errors,
    parser,
    tables,
)

BASE_SHA, HEAD_SHA = "9d7fee99c0ab" + "1" * 28, "723084d8e4f2" + "2" * 28
CLASSES = ["0", "1", "2"]


def loss_curve(epochs: int, floor: float, seed: int) -> list[float]:
    return [floor + 2.0 * math.exp(-e / 3) + 0.01 * math.sin(e + seed) for e in range(epochs)]


def confusion(hits: int) -> list[dict[str, str]]:
    rows = []
    for c in CLASSES:
        rows += [{"actual": c, "predicted": c}] * hits
        rows += [{"actual": c, "predicted": CLASSES[(int(c) + 1) % 3]}] * (20 - hits)
    return rows


def snapshot(
    label: str,
    sha: str | None,
    seeds: list[int],
    accuracy: list[float],
    epochs: list[int],
    floor: float,
    **extra,
) -> Snapshot:
    snap = Snapshot(
        label,
        sha,
        subject="a run",
        seeds=seeds,
        samples={"test/accuracy": accuracy, "test/log_loss": [1 - a for a in accuracy]},
        params={"data.name": "digits", "data.task": "classification", "model.net._target_": label},
        curves={
            VAL_LOSS: {s: loss_curve(n, floor, s) for s, n in zip(seeds, epochs, strict=True)},
            VAL_ACCURACY: {
                s: [1 - v / 3 for v in loss_curve(n, floor, s)]
                for s, n in zip(seeds, epochs, strict=True)
            },
        },
        confusion={s: confusion(18 if floor < 0.1 else 16) for s in seeds},
        models={s: {"parameters": 1000, "model_bytes": 5000} for s in seeds},
        runs={s: {"train_seconds": 3.0, "predict_row_ms": 0.1} for s in seeds},
    )
    for key, value in extra.items():
        setattr(snap, key, value)
    return snap


def comparison(case: str):
    one = dict(seeds=[0], epochs=[50])
    three = dict(seeds=[0, 1, 2], epochs=[50, 50, 50])
    base = dict(label="main", sha=BASE_SHA, accuracy=[0.95], floor=0.2, **one)
    head = dict(label="try-cnn", sha=HEAD_SHA, accuracy=[0.97], floor=0.05, **one)
    if case == "multi-seed":
        base.update(accuracy=[0.950, 0.952, 0.949], **three)
        head.update(accuracy=[0.951, 0.949, 0.953], **three)
    elif case == "early-stopped":
        base.update(seeds=[0, 1, 2], epochs=[38, 44, 50], accuracy=[0.95, 0.951, 0.949])
        head.update(seeds=[0, 1, 2], epochs=[50, 50, 50], accuracy=[0.97, 0.971, 0.972])
    elif case == "200 epochs":
        base.update(epochs=[200])
        head.update(epochs=[200])
    elif case == "5 epochs":
        base.update(epochs=[5])
        head.update(epochs=[5])
    base_snap, head_snap = snapshot(**base), snapshot(**head)
    if case == "new metric":
        head_snap.samples["test/f1_macro"] = [0.96]
    elif case == "removed metric":
        del head_snap.samples["test/log_loss"]
    result = compare(base_snap, head_snap)
    result.stages = [
        StageChange(f"train@{s}", params=[("model.net._target_", "a", "b")])
        for s in head_snap.seeds
    ]
    return result


CASES = [
    "single seed",
    "multi-seed",
    "new metric",
    "removed metric",
    "early-stopped",
    "200 epochs",
    "5 epochs",
]


@pytest.mark.parametrize("case", CASES)
def test_comment_renders_on_github(case: str) -> None:
    """Tables, folds, charts and the first screen, for each kind of comparison."""
    result = comparison(case)
    markdown = render(
        result, {"run_url": "https://github.com/o/r/actions/runs/1", "plots_url": "https://x/a"}
    )
    assert markdown.startswith(MARKER)
    parsed = check_tables(markdown)
    assert check_details(markdown) == 3  # stages, per-class, the confusion matrix inside it
    charts = check_xycharts(markdown)
    assert len(charts) == 2
    for chart in charts:
        assert d3_ticks(chart.first, chart.last) <= 16 and len(str(int(chart.last))) <= 4
        assert set(chart.lines) == {"base", "head"} and "base (grey) vs head (blue)" in chart.title
    first_screen = "\n".join(markdown.splitlines()[:40])
    assert "**Verdict:**" in first_screen
    metrics = parsed[0]
    assert [c.text for c in metrics.header[:2]] == ["metric", "verdict"]
    assert all(row[0].text in first_screen for row in metrics.rows)
    assert metrics.align[2:] == ["right"] * (len(metrics.header) - 2)
    # identifiers survive: every code span GitHub shows is the identifier as written
    cells = [cell for table in parsed for row in table.rows for cell in row]
    assert "model.net._target_" in {code for cell in cells for code in cell.codes}
    assert all(not cell.emphasis for cell in cells)
    assert markdown.count("± is the standard deviation") <= 1


def test_every_chart_parses_with_mermaid() -> None:
    """Mermaid's own parser (one node process for all cases), not only the regex above."""
    markdown = "\n".join(render(comparison(case)) for case in CASES)
    assert mermaid_errors(markdown) == [None] * 2 * len(CASES)


def test_underscores_survive_github_markdown() -> None:
    """The bug: `model.net._target_` in the re-ran-because column showed as model.net.*target*."""
    result = comparison("single seed")
    html = parser().render(render(result))
    assert "<em>" not in html
    stages = next(t for t in tables(render(result)) if t.header[0].text == "stage")
    assert stages.rows[0][1].text == "params model.net._target_"
    tricky = "a_b_ | `c` *d*"
    result.stages = [StageChange("train@0", params=[(tricky, 1, 2)], data=["x|y"])]
    result.params = [(tricky, "<b>", "[link](x)")]
    markdown = render(result)
    check_tables(markdown)
    shown = {code for t in tables(markdown) for row in t.rows for c in row for code in c.codes}
    assert {tricky, "<b>", "[link](x)", "x|y"} <= shown


def test_one_seed_verdict_carries_the_caveat() -> None:
    markdown = render(comparison("single seed"))
    verdict = markdown.splitlines()[3]
    assert verdict.startswith("**Verdict:** ✅ looks better, 1 seed, not tested against noise:")
    assert "`test/accuracy`" in verdict and "`test/log_loss`" in verdict
    assert "| ✅ looks better |" in markdown
    assert (
        "Per-class recall</b> (test split; base seed 0, head seed 0; 1 seed, not tested" in markdown
    )


def test_within_noise_shows_the_interval() -> None:
    result = comparison("multi-seed")
    markdown = render(result)
    verdict = markdown.splitlines()[3]
    row = next(r for r in result.metrics if r.name == "test/accuracy")
    assert row.status == "noise"
    interval = f"{row.ci_low:+.4f} to {row.ci_high:+.4f}"
    assert f"`test/accuracy` ({interval})" in verdict and "95% interval of the change" in verdict
    metrics = tables(markdown)[0]
    cells = {r[0].text: [c.text for c in r] for r in metrics.rows}
    assert cells["test/accuracy"][1] == "🟡 within noise" and cells["test/accuracy"][6] == interval
    assert metrics.header[2].text == "base (n=3)"
    assert markdown.count("± is the standard deviation over the n seeds") == 1
    assert "Mean over seeds (base 3, head 3)" in markdown
    assert "mean over 3 seeds; Welch per class" in markdown


def test_links_and_plain_commit_shas() -> None:
    """SHAs stay plain text (GitHub links them), next to the run and the plots."""
    markdown = render(
        comparison("single seed"),
        {"run_url": "https://github.com/o/r/actions/runs/7", "plots_url": "https://x/p"},
    )
    tokens = [t for block in parser().parse(markdown) for t in (block.children or [])]
    texts = " ".join(t.content for t in tokens if t.type == "text")
    assert BASE_SHA in texts and HEAD_SHA in texts
    hrefs = [t.attrGet("href") for t in tokens if t.type == "link_open"]
    assert hrefs == ["https://github.com/o/r/actions/runs/7", "https://x/p"]


def test_stages_and_per_class_are_folded_and_grouped() -> None:
    markdown = render(comparison("multi-seed"))
    assert "<summary><b>Stages</b>: 3 re-ran (<code>train@0-2</code>)</summary>" in markdown
    stages = next(t for t in tables(markdown) if t.header[0].text == "stage")
    assert [r[0].text for r in stages.rows] == ["train@0-2"]
    fold = markdown.index("<details><summary><b>Stages")
    for section in ("### Metrics", "### Params changed", "### Cost"):
        assert markdown.index(section) < fold


# ----------------------------------------------------------------------------- charts


def test_early_stopped_runs_are_not_drawn_past_their_end() -> None:
    """No held-flat values: every drawn point is a mean of values some seed logged."""
    base = {0: [3.0, 2.0, 1.0, 0.9], 1: [3.2, 2.2, 1.2, 1.0, 0.95, 0.9]}
    head = {0: [2.0, 1.0, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1]}
    chart = plan_chart(VAL_LOSS, mean_curve(base), mean_curve(head))
    assert (chart.first, chart.last) == (1, 4)  # the epochs both sides' every seed ran
    assert chart.lines["base"] == pytest.approx([3.1, 2.1, 1.1, 0.95])
    assert chart.lines["head"] == [2.0, 1.0, 0.5, 0.4]
    markdown = render(comparison("early-stopped"))
    caption = parser().render(markdown[markdown.index("```\n<sub>") + 4 :].split("</sub>")[0])
    assert "Epochs each seed ran: base 38, 44, 50; head 50, 50, 50" in caption
    assert check_xycharts(markdown)[0].last == 38


def test_zoom_leaves_out_dominating_first_epochs() -> None:
    values = [5.0, 2.0, 0.30, 0.25, 0.22, 0.21, 0.20, 0.20, 0.19, 0.19]
    chart = plan_chart(VAL_LOSS, Curve(values, [0], {0: 10}, None), None)
    assert 2 <= chart.left_out <= 5 and chart.first == chart.left_out + 1
    assert chart.lines["base"] == values[chart.left_out :]  # dropped, never clipped
    assert chart.low <= 0.19 and max(values[chart.left_out :]) <= chart.high < 0.4
    steady = [1.0 - 0.01 * e for e in range(50)]  # still falling: nothing dominates
    assert plan_chart(VAL_LOSS, Curve(steady, [0], {0: 50}, None), None).left_out == 0


def test_long_runs_are_thinned_and_tiny_values_stay_fixed_point() -> None:
    values = [1e-5 * (1 + 0.1 * math.sin(e)) for e in range(1000)]
    chart = plan_chart(VAL_LOSS, Curve(values, [0], {0: 1000}, None), None)
    assert chart.step == 5 and chart.last == 1000 and len(chart.lines["base"]) == 200
    block = "\n".join(mermaid_chart(chart))
    assert "e-" not in block.split("xychart-beta")[1]  # Mermaid reads no exponents
    assert check_xycharts(block)[0].last == 1000
    short = "\n".join(
        mermaid_chart(plan_chart(VAL_LOSS, Curve([1.0, 0.5], [0], {0: 2}, None), None))
    )
    broken = re.sub(r"line \"base\" \[.*\]", 'line "base" [1e-5, 0.5]', short)
    # the checkers can fail: Mermaid rejects an exponent, the regex check uneven lines
    first, second, third = mermaid_errors("\n".join([block, short, broken]))
    assert first is None and second is None and "Parse error" in third
    assert "[1, 0.5]" in short
    with pytest.raises(AssertionError):  # a point above the y axis
        check_xycharts(short.replace("[1, 0.5]", "[1, 9]"))


def test_checkers_reject_broken_markdown() -> None:
    with pytest.raises(AssertionError):
        check_tables("| a | b |\n|---|---|\n| 1 |\n")
    with pytest.raises(AssertionError):
        check_tables("| a | b |\n|---|---|\n| x_y_ *z* | 2 |\n")
    with pytest.raises(AssertionError):
        check_details("<details>\n<details></details>\n")
    assert len(mermaid_blocks("```mermaid\na\n```\n\n```mermaid\nb\n```\n")) == 2
