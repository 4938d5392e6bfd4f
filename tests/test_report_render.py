"""The pull-request comment as GitHub renders it: GFM tables (markdown-it-py), folds,
identifiers, verdict wording, and every chart through Mermaid's own parser."""

from __future__ import annotations

import math
import re
import statistics

import pytest
from scipy import stats as sp

from dockyard.metrics import VAL_ACCURACY, VAL_LOSS
from dockyard.report import head_name, pull_request
from dockyard.report.charts import mermaid_chart
from dockyard.report.collect import Snapshot
from dockyard.report.compare import compare
from dockyard.report.curves import Curve, mean_curve, plan_chart
from dockyard.report.markdown import number, percent, signed
from dockyard.report.render import render
from dockyard.report.stages import StageChange, stale_stages

from .helpers import run
from .markdown_check import (
    TABLE_MAX_PX,
    check_details,
    check_tables,
    check_xycharts,
    d3_ticks,
    mermaid_blocks,
    mermaid_errors,
    parser,
    table_px,
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
    assert markdown.startswith("## dockyard report")  # the GitHub boundary adds the marker
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
    verdict = markdown.splitlines()[2]
    assert verdict.startswith("**Verdict:** ✅ looks better, 1 seed, not tested against noise:")
    assert "`test/accuracy`" in verdict and "`test/log_loss`" in verdict
    assert "| ✅ looks better |" in markdown
    assert (
        "Per-class recall</b> (test split; base seed 0, head seed 0; 1 seed, not tested" in markdown
    )


def test_three_seeds_not_told_from_noise_are_inconclusive() -> None:
    """The bug: with 3 seeds a change the test could not see was called `within noise`;
    it is inconclusive, with the smallest change those seeds could have detected."""
    result = comparison("multi-seed")
    markdown = render(result)
    verdict = markdown.splitlines()[2]
    row = next(r for r in result.metrics if r.name == "test/accuracy")
    assert row.status == "noise" and row.inconclusive
    base, head = [0.950, 0.952, 0.949], [0.951, 0.949, 0.953]
    low, high = sp.ttest_ind(head, base, equal_var=False).confidence_interval(0.95)
    assert row.detectable == pytest.approx((high - low) / 2, rel=1e-6)
    assert "within noise" not in markdown
    assert verdict.startswith("**Verdict:** no change told from the seed noise (2 metrics")
    assert (
        "🟡 inconclusive (3 seeds per side; the smallest change of the mean they could have "
        f"detected): `test/accuracy` ±{row.detectable:.4f}, `test/log_loss` ±"
    ) in verdict
    cells = metric_cells(markdown)
    assert cells["test/accuracy"][1] == "🟡 inconclusive"
    assert cells["test/accuracy"][5] == f"{row.ci_low:+.4f} to {row.ci_high:+.4f}"
    assert tables(markdown)[0].header[2].text == "base (n=3)"
    assert markdown.count("± is the standard deviation over the n seeds") == 1
    assert "🟡 inconclusive: not told from the noise by 3 seeds or fewer" in markdown
    assert "Mean over seeds (base 3, head 3)" in markdown
    assert "mean over 3 seeds; Welch per class" in markdown


def test_more_seeds_not_told_from_noise_are_within_noise() -> None:
    five = [0.950, 0.952, 0.949, 0.951, 0.950]
    result = compare(
        Snapshot("main", BASE_SHA, samples={"test/accuracy": five}),
        Snapshot("head", HEAD_SHA, samples={"test/accuracy": [v + 0.0005 for v in five]}),
    )
    [row] = result.metrics
    assert row.status == "noise" and not row.inconclusive
    markdown = render(result)
    assert "🟡 within noise (95% interval of the change): `test/accuracy` (" in markdown
    assert "inconclusive" not in markdown


def metric_cells(markdown: str) -> dict[str, list[str]]:
    metrics = next(t for t in tables(markdown) if t.header[0].text == "metric")
    return {r[0].text: [c.text for c in r] for r in metrics.rows}


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


# ----------------------------------------------------------------------------- issue 19, item 5


def curves_of(per_seed: dict[int, list[float]]) -> dict[str, dict[int, list[float]]]:
    return {VAL_LOSS: per_seed, VAL_ACCURACY: {s: [1 - v for v in c] for s, c in per_seed.items()}}


def chart_captions(markdown: str) -> list[str]:
    return re.findall(r"```\n<sub>(.*?)</sub>", markdown)


def test_head_named_by_its_branch_not_workspace(tmp_path) -> None:
    """The bug: the head was called `workspace`. In CI the pull request's branch, locally
    the branch checked out; `workspace` only on a detached HEAD outside Actions."""
    run(["git", "init", "-q", "-b", "topic"], tmp_path)
    run(["git", "commit", "-q", "--allow-empty", "-m", "one"], tmp_path)
    ci = {"GITHUB_HEAD_REF": "feature-x", "GITHUB_REF_NAME": "12/merge"}
    assert head_name(tmp_path, ci) == "feature-x"
    assert head_name(tmp_path, {"GITHUB_REF_NAME": "main"}) == "main"  # a push build
    assert head_name(tmp_path, {"GITHUB_HEAD_REF": ""}) == "topic"
    run(["git", "checkout", "-q", "--detach"], tmp_path)
    assert head_name(tmp_path, {}) == "workspace"
    assert pull_request({"GITHUB_REF": "refs/pull/12/merge"}) == 12
    assert pull_request({"GITHUB_REF": "refs/heads/main"}) is None
    result = comparison("single seed")
    result.head = Snapshot("feature-x", None, commit=HEAD_SHA, samples=result.head.samples)
    markdown = render(result, {"pull_request": 12})
    assert markdown.splitlines()[0] == "## dockyard report: `feature-x` vs `main`"
    assert f"head `feature-x` (pull request #12, the workspace on {HEAD_SHA})" in markdown
    assert "`workspace`" not in markdown


def test_spread_is_read_at_the_epoch_the_caption_names() -> None:
    """The bug: "± std over seeds at epoch 17: base ..." read base's std at its own last
    epoch (39), not at 17."""
    base = {s: [1.0 / (e + 1) + 0.01 * s * (e % 5) for e in range(39)] for s in (0, 1, 2)}
    head = {s: [1.0 / (e + 1) + 0.003 * s for e in range(17)] for s in (0, 1, 2)}
    result = comparison("multi-seed")
    result.base.curves, result.head.curves = curves_of(base), curves_of(head)
    caption = chart_captions(render(result))[0]
    at_17 = statistics.stdev(base[s][16] for s in base)
    at_39 = statistics.stdev(base[s][38] for s in base)
    assert f"{at_17:.2g}" != f"{at_39:.2g}"
    assert f"± std over seeds at epoch 17: base {at_17:.2g}, head " in caption


def test_tiny_relative_change_is_in_percent() -> None:
    """The bug: -0.0028% was written -2.8e-05% (the fraction, not x100)."""
    assert percent(-2.8e-5) == "-0.0028%"
    assert percent(3e-9) == "+3e-7%" and percent(0.0123) == "+1.23%"
    base = Snapshot("main", BASE_SHA, samples={"test/accuracy": [0.9629]})
    head = Snapshot("head", HEAD_SHA, samples={"test/accuracy": [0.9629 * (1 - 2.8e-5)]})
    cells = metric_cells(render(compare(base, head, rtol=1e-9)))
    assert cells["test/accuracy"][5] == "-0.0028%"


def test_a_shorter_head_run_is_marked_with_each_sides_best_epoch() -> None:
    """The bug: both lines were cut at the shorter run without a word, so the head looked
    better while it stopped at 17 and base went on improving to 40."""
    base_loss = [1.0 / (e + 1) for e in range(40)]  # still improving at epoch 40
    head_loss = [0.9 / (e + 1) + (0.02 * (e - 12) if e > 12 else 0) for e in range(17)]
    result = comparison("single seed")
    result.base.curves, result.head.curves = curves_of({0: base_loss}), curves_of({0: head_loss})
    markdown = render(result)
    chart = check_xycharts(markdown)[0]
    assert chart.last == 17
    caption = chart_captions(markdown)[0]
    best = min(range(17), key=lambda e: head_loss[e])
    assert (
        f"Drawn to epoch 17, where head stopped: base ran to epoch 40 (`val/loss` "
        f"{base_loss[-1]:.4g} there), not drawn further"
    ) in caption
    assert (
        f"Best `val/loss`: base {min(base_loss):.4g} at epoch 40, head "
        f"{head_loss[best]:.4g} at epoch {best + 1}"
    ) in caption


def test_identical_curves_get_one_line() -> None:
    """The bug: identical runs drew two charts with the grey line hidden under the blue."""
    result = comparison("single seed")
    result.head.curves = result.base.curves
    markdown = render(result)
    assert mermaid_blocks(markdown) == []
    loss = result.base.curves[VAL_LOSS][0]
    section = markdown.split("### Training curves\n\n")[1].split("\n")[0]
    assert section.startswith("Identical on base and head (same values at every epoch")
    assert (
        f"`val/loss` (50 epochs, best {min(loss):.4g} at epoch {loss.index(min(loss)) + 1})"
        in section
    )
    assert "`val/accuracy` (50 epochs, best " in section


def test_timings_within_run_to_run_noise_are_not_a_change() -> None:
    """The bug: the same code's 36.5 s -> 24.2 s showed as a change of x0.66."""
    result = comparison("multi-seed")
    result.base.runs = timings(36.0, 36.5, 37.0)
    result.head.runs = timings(24.0, 24.2, 24.4)
    costs = {c.name: c for c in compare(result.base, result.head).costs}
    assert costs["training time per seed"].within_noise
    cells = cost_cells(render(compare(result.base, result.head)))
    assert cells["training time per seed"][3] == "within noise (×0.66)"
    assert "A time within noise differs by less than runs of the same code do" in render(
        compare(result.base, result.head)
    )
    result.head.runs = timings(110.0, 111.0, 112.0)
    slower = cost_cells(render(compare(result.base, result.head)))
    assert slower["training time per seed"][3] == "+74.5 s (×3.04)"
    # the model's size is deterministic: any change is a change
    assert not any(c.within_noise for c in compare(result.base, result.head).costs[:2])


def timings(*seconds: float) -> dict[int, dict[str, float]]:
    return {seed: {"train_seconds": t} for seed, t in enumerate(seconds)}


def cost_cells(markdown: str) -> dict[str, list[str]]:
    table = next(t for t in tables(markdown) if t.header[0].text == "")
    return {row[0].text: [c.text for c in row] for row in table.rows}


def test_metrics_table_fits_the_comment_column() -> None:
    """The bug: the 8-column table wrapped at 820 px ("0.9629 ± / 0.0016", "-2.8e- / 05%")."""
    names = ["test/accuracy", "test/f1_macro", "test/log_loss", "test/roc_auc"]
    base = {n: [0.9629, 0.9645, 0.9613] for n in names}
    head = {n: [0.9601, 0.9624, 0.9578] for n in names}
    result = compare(
        Snapshot("main", BASE_SHA, samples=base), Snapshot("head", HEAD_SHA, samples=head)
    )
    metrics = check_tables(render(result))[0]
    assert [c.text for c in metrics.header] == [
        "metric",
        "verdict",
        "base (n=3)",
        "head (n=3)",
        "change",
        "95% interval",
        "p (BH)",
    ]
    assert table_px(metrics) <= TABLE_MAX_PX, table_px(metrics)
    old = tables(
        "| metric | verdict | base (n=3) | head (n=3) | change | relative | 95% interval of "
        "change | p |\n|---|---|---|---|---|---|---|---|\n| `test/f1_macro` | 🟡 within "
        "noise | 0.9629 ± 0.0016 | 0.9601 ± 0.0023 | -0.0028 | -2.8e-05% | -0.0040 to +0.0012 "
        "| 0.413 |\n"
    )[0]
    assert table_px(old) > TABLE_MAX_PX  # the width model sees the table that wrapped


def test_false_discovery_rate_over_the_table() -> None:
    """The bug: each metric was tested at alpha on its own, so a change to nothing was
    called significant somewhere far more often than alpha."""
    base = {
        "test/accuracy": [0.900, 0.910, 0.920],
        "test/f1_macro": [0.900, 0.910, 0.920],
        "test/log_loss": [0.300, 0.310, 0.320],
        "test/roc_auc": [0.950, 0.960, 0.970],
    }
    head = {
        "test/accuracy": [0.927, 0.937, 0.947],  # p about 0.03 on its own
        "test/f1_macro": [0.905, 0.915, 0.925],
        "test/log_loss": [0.298, 0.311, 0.318],
        "test/roc_auc": [0.945, 0.962, 0.968],
    }
    raw = {n: sp.ttest_ind(head[n], base[n], equal_var=False).pvalue for n in base}
    assert raw["test/accuracy"] < 0.05
    adjusted = dict(zip(raw, sp.false_discovery_control(list(raw.values())), strict=True))
    assert adjusted["test/accuracy"] >= 0.05
    result = compare(
        Snapshot("main", BASE_SHA, samples=base), Snapshot("head", HEAD_SHA, samples=head)
    )
    rows = {r.name: r for r in result.metrics}
    for name, q in adjusted.items():
        assert rows[name].p_adjusted == pytest.approx(q, rel=1e-6)
        assert rows[name].p_value == pytest.approx(raw[name], rel=1e-6)
    assert rows["test/accuracy"].status == "noise" and rows["test/accuracy"].inconclusive
    markdown = render(result)
    assert metric_cells(markdown)["test/accuracy"][6] == f"{adjusted['test/accuracy']:.2g}"
    assert (
        "with the false discovery rate over this table's 4 tests held at α = 0.05 "
        "(Benjamini-Hochberg); p (BH) is the adjusted p-value." in markdown
    )
    assert result.to_dict()["fdr"] == {"method": "benjamini_hochberg", "tests": 4}


def test_zero_is_written_one_way() -> None:
    """The bug: zero read 0, +0.00%, 0.0000 or -0.0000 in one table."""
    base = Snapshot("main", BASE_SHA, samples={"test/accuracy": [0.95], "test/mae": [0.0]})
    head = Snapshot("head", HEAD_SHA, samples={"test/accuracy": [0.95], "test/mae": [-0.0]})
    cells = metric_cells(render(compare(base, head)))
    assert cells["test/accuracy"][4:] == ["0", "0"]
    assert cells["test/mae"][2:5] == ["0", "0", "0"]
    assert number(-0.0) == signed(0.0) == percent(-0.0) == "0"
    assert number(3e-7) == "3.0e-7" and signed(-3e-7) == "-3.0e-7"


def test_seeds_are_listed_in_seed_order() -> None:
    """The bug: "epochs each seed ran" listed the counts sorted by value, not by seed."""
    result = comparison("multi-seed")
    stops = {2: 44, 0: 50, 1: 38}  # inserted out of order, too
    result.base.curves = curves_of({s: loss_curve(n, 0.2, s) for s, n in stops.items()})
    result.base.seeds = [2, 0, 1]
    caption = chart_captions(render(result))[0]
    assert "Epochs each seed ran: base 50, 38, 44; head 50, 50, 50." in caption
    assert result.to_dict()["seeds"]["base"] == [0, 1, 2]
    result.head.curves = curves_of({s: loss_curve(50, 0.05, s) for s in (3, 4, 5)})
    caption = chart_captions(render(result))[0]
    assert "base 50, 38, 44 (seeds 0, 1, 2); head 50, 50, 50 (seeds 3, 4, 5)" in caption


def test_legend_explains_only_what_the_table_shows() -> None:
    """The bug: the legend explained 🟡 within noise (and ±) where no row showed them."""
    result = comparison("early-stopped")  # three seeds, every metric better
    markdown = render(result)
    legend = markdown.split("### Metrics")[1].split("### Params")[0]
    assert "🟡" not in markdown and "inconclusive" not in legend and "within noise" not in legend
    assert "± is the standard deviation" in legend and "—" not in legend
    single = render(comparison("single seed")).split("### Metrics")[1].split("### Params")[0]
    assert "±" not in single and "Welch" not in single and "One seed on a side" in single
    new = render(comparison("new metric")).split("### Metrics")[1].split("### Params")[0]
    assert "— means there is no value" in new
    cost = render(comparison("single seed")).split("### Cost")[1].split("###")[0]
    assert "—" not in cost  # every cost recorded: no legend for a dash


def test_base_confusion_matrix_stands_beside_the_heads() -> None:
    result = comparison("multi-seed")
    markdown = render(result)
    matrices = [t for t in check_tables(markdown) if t.header[0].text == "actual \\ predicted"]
    assert len(matrices) == 2
    head_counts, base_counts = ([[c.text for c in r[1:]] for r in m.rows] for m in matrices)
    # head hit 18 of 20 per class and seed, base 16 (confusion() above), over 3 seeds
    assert head_counts[0] == ["54", "6", "0"] and base_counts[0] == ["48", "12", "0"]
    assert markdown.index("**head**, summed over 3 seeds") < markdown.index(
        "**base**, summed over 3 seeds"
    )


def test_a_stale_head_gets_no_verdict() -> None:
    """Item 7 on constructed input: what `dvc status` reports, named, and no verdict."""
    status = {
        "data/t.csv.dvc": [{"changed outs": {"data/t.csv": "modified"}}],
        "ingest": [
            {"changed deps": {"data/t.csv": "modified"}},
            {"changed outs": {"data/raw/table.parquet": "deleted"}},
        ],
        "validate": [{"changed deps": {"data/raw/table.parquet": "deleted"}}],
        # a stage reading a whole section: DVC names the section
        "train@0": [{"changed deps": {"params.yaml": {"train": "modified"}}}],
        "train@1": [{"changed deps": {"params.yaml": {"train": "modified"}}}],
        "monitor": ["always changed"],
    }
    recorded = {"params.yaml": {"train": {"lr": 0.001, "epochs": 50}}}
    lock = {
        "ingest": {"outs": [{"path": "data/raw/table.parquet"}]},
        "validate": {"deps": [{"path": "data/raw/table.parquet"}]},
        "train@0": {"params": recorded},
        "train@1": {"params": recorded},
        "monitor": {},
    }
    stale = stale_stages(status, lock, {"train.lr": 0.01, "train.epochs": 50})
    assert [s.stage for s in stale] == [
        "data/t.csv.dvc",
        "ingest",
        "validate",
        "train@0",
        "train@1",
    ]
    assert stale[1].changes == [
        ("data", "data/t.csv", "modified"),
        ("output", "data/raw/table.parquet", "deleted"),
    ]
    assert stale[2].changes == [("upstream output", "data/raw/table.parquet", "deleted")]
    result = comparison("multi-seed")
    result = compare(result.base, result.head, stale=stale)
    markdown = render(result)
    verdict = markdown.splitlines()[2]
    assert verdict.startswith("**Verdict:** none: ⚠️ the head's pipeline is not up to date")
    assert "(5 stages out of date: `data/t.csv.dvc`, `ingest`, `validate`, `train@0,1`)" in verdict
    assert "Run `dvc repro`" in verdict
    assert "better" not in verdict and "noise" not in verdict and "changed (" not in verdict
    table = next(t for t in check_tables(markdown) if t.header[1].text == "out of date because")
    reasons = {r[0].text: r[1].text for r in table.rows}
    assert reasons == {
        "data/t.csv.dvc": "data modified data/t.csv",
        "ingest": "data modified data/t.csv; output deleted data/raw/table.parquet",
        "validate": "upstream output deleted data/raw/table.parquet",
        "train@0,1": "params modified train.lr",
    }
    assert "`dvc add data/t.csv`, then `dvc repro`" in markdown
    assert {c[1] for c in metric_cells(markdown).values()} == {"⚠️ not judged"}
    assert "✅" not in markdown and "🟡" not in markdown
    assert result.to_dict()["verdict"] == {"stale": ["test/accuracy", "test/log_loss"]}


def test_a_data_change_links_the_data_profile_beside_the_plots() -> None:
    from dockyard.report.render import links

    result = comparison("single seed")
    extras = {"plots_url": "https://x/p"}
    assert not any("data profile" in line for line in links(result, extras))
    result.data = ["data/t.csv changed"]  # any changed input: CI profiled its table
    (line,) = [line for line in links(result, extras) if "data profile" in line]
    assert "(https://x/p)" in line and "data-profile.html" in line
