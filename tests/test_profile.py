"""Data changes reviewed column by column: the comment's data section and `dockyard data
profile`'s page, on a generated table registered with `dockyard data add` in real git + DVC
repositories (only `dvc repro validate`, never training), and the page in a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dockyard.drift import table_drift
from dockyard.report.profile import (
    CATEGORICAL,
    TEXT,
    ProfileError,
    compare_tables,
    drift_policy_of,
    profile_column,
    profile_table,
)
from dockyard.report.sections import column_table

from .helpers import drift_policy, error_of, head, make_project, run
from .markdown_check import check_tables, tables

DATA = "data/customers.csv"
CITIES = ["Zürich", "Genève", "Bern", "Lugano"]


def customers(rows: int, seed: int, *, shift=0.0, new_city=0.0, new_missing=0.0) -> pd.DataFrame:
    """Sign-up dates, last-seen timestamps, non-ASCII city names, a referrer missing in about
    5% of rows; `shift` moves income (sd 10), `new_city` puts that share of rows in Köln,
    `new_missing` empties that share of tenure."""
    rng = np.random.default_rng(seed)
    city = rng.choice(CITIES, rows, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    city[rng.random(rows) < new_city] = "Köln"
    tenure = rng.gamma(2.0, 3.0, rows).round(1)
    tenure[rng.random(rows) < new_missing] = np.nan
    referrer = rng.choice(["search", "friend", "ad"], rows).astype(object)
    referrer[rng.random(rows) < 0.05] = None
    score = rng.uniform(0, 1, rows).round(3)
    start = pd.Timestamp("2024-01-01")
    return pd.DataFrame(
        {
            "joined": (start + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")).strftime(
                "%Y-%m-%d"
            ),
            "last_seen": (start + pd.to_timedelta(rng.integers(0, 3e7, rows), unit="s")).strftime(
                "%Y-%m-%dT%H:%M:%S"
            ),
            "city": city,
            "referrer": referrer,
            "income": rng.normal(50 + shift, 10, rows).round(2),
            "tenure": tenure,
            "score": score,
            "label": np.where(score + rng.normal(0, 0.2, rows) > 0.5, "stays", "leaves"),
        }
    )


# ----------------------------------------------------------------------------- statistics


def test_summaries_are_exact_and_match_pandas() -> None:
    frame = customers(3000, 3, new_missing=0.2)
    frame["joined"] = pd.to_datetime(frame["joined"])
    profile = profile_table(frame)
    income, tenure = profile.columns["income"], profile.columns["tenure"]
    assert income.mean == pytest.approx(frame.income.mean(), rel=1e-12)
    assert income.median == pytest.approx(frame.income.median(), rel=1e-12)
    assert income.std == pytest.approx(frame.income.std(), rel=1e-12)  # ddof=1, as pandas
    assert (income.low, income.high) == (frame.income.min(), frame.income.max())
    assert tenure.missing_share == pytest.approx(frame.tenure.isna().mean())
    assert tenure.mean == pytest.approx(frame.tenure.mean(), rel=1e-12)  # NaN left out
    city = profile.columns["city"]
    assert city.kind == CATEGORICAL
    assert city.counts == {str(k): int(v) for k, v in frame.city.value_counts().items()}
    joined = profile.columns["joined"]
    assert pd.Timestamp(int(joined.low)) == frame.joined.min()
    assert pd.Timestamp(int(joined.high)) == frame.joined.max()
    referrer = profile.columns["referrer"]
    assert referrer.missing == int(frame.referrer.isna().sum()) > 0


def test_verdicts_are_the_monitors_own() -> None:
    """Same rows, same kinds: the profile's tests, effects and BH-adjusted p-values are the
    monitor's table_drift, and its KS statistic is scipy's."""
    base = customers(800, 1).drop(columns=["joined", "last_seen"])
    head_ = customers(900, 2, shift=4).drop(columns=["joined", "last_seen"])
    change = compare_tables(base, head_, drift_policy(), "label")
    kinds = {c.name: "numeric" if c.kind == "numeric" else "categorical" for c in change.columns}
    monitor = {r.column: r for r in table_drift(base, head_, kinds, drift_policy())}
    for column in change.columns:
        expected = monitor[column.name]
        assert column.drift.p_adjusted == pytest.approx(expected.p_adjusted, rel=1e-12)
        assert column.drift.effect == pytest.approx(expected.effect, rel=1e-12)
        assert column.changed == expected.drifted
    ks = stats.ks_2samp(base.income, head_.income)
    assert change.columns[0].name == "income"
    assert change.columns[0].drift.statistic == pytest.approx(ks.statistic, rel=1e-12)


def test_large_tables_are_tested_on_a_stated_sample_and_summarised_exactly() -> None:
    base = customers(120_000, 5)
    head_ = customers(130_000, 6)
    change = compare_tables(base, head_, drift_policy(), "label", sample=50_000)
    assert len(change.head.sample) == len(change.base.sample) == 50_000
    assert change.head.columns["income"].mean == pytest.approx(head_.income.mean(), rel=1e-12)
    again = compare_tables(base, head_, drift_policy(), "label", sample=50_000)
    assert again.head.sample.index.equals(change.head.sample.index)  # seeded
    text = "\n".join(column_table(change))
    assert "Tests on a seeded sample of 50,000 rows per side (of 120,000 → 130,000)" in text
    assert "no column changed" in text


def test_identifiers_are_compared_by_length_not_as_new_categories() -> None:
    base = pd.DataFrame({"id": [f"c-{i:05d}" for i in range(500)], "x": np.arange(500.0)})
    head_ = pd.DataFrame({"id": [f"c-{i:05d}" for i in range(500, 1100)], "x": np.arange(600.0)})
    change = compare_tables(base, head_, drift_policy())
    ids = next(c for c in change.columns if c.name == "id")
    assert ids.kind == TEXT and not ids.changed
    assert profile_column(base["id"]).kind == TEXT


def test_changed_columns_fold_after_five_and_the_table_parses() -> None:
    rng = np.random.default_rng(0)
    base = pd.DataFrame({f"x{i}": rng.normal(0, 1, 2000) for i in range(8)})
    head_ = pd.DataFrame({f"x{i}": rng.normal(0.2 * (i + 1), 1, 2000) for i in range(8)})
    head_["x0"] = base["x0"]  # one column as it was
    markdown = "\n".join(column_table(compare_tables(base, head_, drift_policy())))
    check_tables(markdown)
    shown, folded = (t.rows for t in tables(markdown))
    assert [r[0].codes[0] for r in shown] == ["x7", "x6", "x5", "x4", "x3"]  # largest first
    assert [r[0].codes[0] for r in folded] == ["x2", "x1"]
    assert "<details><summary>2 more changed columns</summary>" in markdown
    assert "7 changed, largest change first; 1 column unchanged." in markdown


def test_an_empty_side_and_missing_monitor_settings_are_refused_in_words() -> None:
    with pytest.raises(ProfileError) as empty:
        compare_tables(customers(10, 1).iloc[:0], customers(10, 2), drift_policy())
    assert empty.value.kind == "no-rows"
    assert str(empty.value).startswith("the base table has no rows, so its columns cannot")
    with pytest.raises(ProfileError) as unset:
        drift_policy_of({"data": {}})
    assert (unset.value.kind, unset.value.key) == ("missing-key", "monitor")
    with pytest.raises(ProfileError) as partial:
        drift_policy_of({"monitor": {"fdr": 0.05}})
    assert partial.value.key == "monitor.numeric_threshold"


# ----------------------------------------------------------------------------- real repositories


def dockyard(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dockyard.cli", *args], project, check=check)


def commit_table(project: Path, frame: pd.DataFrame, message: str, redraft: bool) -> str:
    """Write the table, redraft its schema when asked (a new category and new missing
    values need one), validate it (`dvc repro validate`, no training) and commit."""
    frame.to_csv(project / DATA, index=False)
    if redraft:
        add = ["data", "add", DATA, "--target", "label", "--default", "--force"]
        dockyard(project, *add)
    else:
        run(["dvc", "add", "-q", DATA], project)
    run(["dvc", "repro", "-q", "validate"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", message], project)
    return head(project)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """base: 1,000 customers. changed: 500 rows added, drawn with income shifted by 1.5 sd,
    half of them in a new city (Köln) and 45% without tenure. shuffled: changed's rows
    in another order (the input's md5 changes, no distribution does)."""
    project = make_project(tmp_path_factory.mktemp("profile") / "project")
    (project / "data").mkdir(exist_ok=True)
    first = customers(1000, 1)
    commits = {"initial": head(project)}
    commits["base"] = commit_table(project, first, "customers", redraft=True)
    added = customers(500, 2, shift=15, new_city=0.5, new_missing=0.45)
    changed = pd.concat([first, added], ignore_index=True)
    commits["changed"] = commit_table(project, changed, "500 new customers", redraft=True)
    shuffled = changed.sample(frac=1.0, random_state=4)
    commits["shuffled"] = commit_table(project, shuffled, "rows reordered", redraft=False)
    missing = changed.tenure.isna().mean()
    return SimpleNamespace(project=project, tenure_missing=missing, **commits)


def column_rows(markdown: str) -> list[str]:
    """The changed columns' names, in the comment's order (folded rows included)."""
    found = [
        t for t in tables(markdown) if [c.text for c in t.header[:3]] == ["column", "base", "head"]
    ]
    return [row[0].codes[0] for t in found for row in t.rows]


@pytest.mark.slow
def test_a_data_change_shows_exactly_the_changed_columns_largest_first(history) -> None:
    markdown = dockyard(
        history.project, "report", "--base", history.base, "--head", history.changed
    ).stdout
    check_tables(markdown)
    data = markdown[markdown.index("### Data") :]
    assert column_rows(data) == ["city", "income", "tenure"]
    assert "**Columns:** 3 changed, largest change first; 5 columns unchanged." in data
    city, income, tenure = next(t.rows for t in tables(data) if t.header[0].text == "column")
    assert "new: Köln" in city[2].text and "category shares" in city[4].text
    assert "distribution" in income[4].text and "KS D" in income[3].text
    assert "missing values" in tenure[4].text
    assert f"{history.tenure_missing:.1%} missing" in tenure[2].text
    assert "0.0% missing" in tenure[1].text
    assert "Rows after validation: 1,000 → 1,500." in data
    assert "Target `label` class balance: leaves" in data


@pytest.mark.slow
def test_an_unchanged_table_says_no_column_changed(history) -> None:
    markdown = dockyard(
        history.project, "report", "--base", history.changed, "--head", history.shuffled
    ).stdout
    data = markdown[markdown.index("### Data") :]
    assert "**Columns:** no column changed" in data
    assert column_rows(data) == []


@pytest.mark.slow
def test_tables_missing_from_the_cache_come_from_the_remote_or_cost_only_the_review(
    history, tmp_path: Path
) -> None:
    """CI's case: the base's table is on the team's DVC remote, not in the runner's cache
    (and the base's own .dvc/config names no remote); without it, only the column review is
    lost."""
    project, remote = tmp_path / "copy", tmp_path / "remote"
    shutil.copytree(history.project, project, symlinks=True)
    shutil.move(project / ".dvc" / "cache", remote)  # a local remote has the cache's layout
    args = ["report", "--base", history.base, "--head", history.changed]
    markdown = dockyard(project, *args).stdout
    assert re.search(r"\*\*Columns:\*\* not compared: .*neither in the DVC cache nor on", markdown)
    assert "Rows after validation: 1,000 → 1,500." in markdown

    run(["dvc", "remote", "add", "-d", "team", str(remote)], project)
    markdown = dockyard(project, *args).stdout
    assert "**Columns:** 3 changed, largest change first" in markdown
    assert column_rows(markdown[markdown.index("### Data") :]) == ["city", "income", "tenure"]


@pytest.mark.slow
def test_profile_errors_name_their_kind(history, tmp_path: Path) -> None:
    out = str(tmp_path / "page.html")
    unknown = dockyard(history.project, "data", "profile", "--base", "nope", "-o", out, check=False)
    assert unknown.returncode == 2 and error_of(unknown)["kind"] == "unknown-revision"
    never = dockyard(
        history.project, "data", "profile", "--rev", history.initial, "-o", out, check=False
    )
    assert never.returncode == 2
    assert error_of(never)["kind"] == "missing-file"
    assert "records no data/raw/table.parquet in dvc.lock" in error_of(never)["message"]
    assert not Path(out).exists()


# ------------------------------------------------------------------------ the page in a browser


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    pytest.skip("chromium is not installed (`make test` installs it with apt-get when it can)")


def browse(browser: str, page: Path, *flags: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a file; stderr carries the page's console (--enable-logging)."""
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", *flags, page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow
def test_the_profile_page_renders_offline_with_a_chart_per_column(history, tmp_path) -> None:
    from PIL import Image, ImageStat

    browser = chromium()
    page = tmp_path / "profile.html"
    args = ["data", "profile", "--rev", history.changed, "--base", history.base, "-o", str(page)]
    dockyard(history.project, *args)
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(|(src|href)=", text)
    # the console check can fail: a page that logs an error is caught
    noisy = tmp_path / "noisy.html"
    noisy.write_text("<p>x</p><script>console.error('broken')</script>")
    assert console_lines(browse(browser, noisy, "--dump-dom").stderr)

    dom = browse(browser, page, "--dump-dom")
    assert dom.returncode == 0 and not console_lines(dom.stderr), dom.stderr[-2000:]
    sections = re.findall(
        r'<section class="column" data-column="([^"]+)">(.*?)</section>', dom.stdout, re.S
    )
    columns = ["joined", "last_seen", "city", "referrer", "income", "tenure", "score", "label"]
    assert [name for name, _ in sections] == columns
    for name, body in sections:
        assert re.search(r'<svg class="chart"[^>]*>.*<rect', body, re.S), name
    overlaid = dict(sections)["income"]
    assert 'fill="#9aa5b1"' in overlaid and 'fill="#1f6feb"' in overlaid  # base and head
    assert "changed (category shares)" in dict(sections)["city"]

    shot = tmp_path / "shot.png"
    browse(browser, page, f"--screenshot={shot}", "--window-size=1200,1600")
    image = Image.open(shot).convert("L")
    assert image.size == (1200, 1600)
    assert ImageStat.Stat(image).var[0] > 100  # not a blank page


@pytest.mark.slow
def test_a_page_without_a_base_charts_one_table(history, tmp_path: Path) -> None:
    page = tmp_path / "one.html"
    dockyard(history.project, "data", "profile", "--rev", history.changed, "-o", str(page))
    text = page.read_text(encoding="utf-8")
    sections = re.findall(r'<section class="column" data-column="([^"]+)">(.*?)</section>', text)
    assert len(sections) == 8 and all('<svg class="chart"' in body for _, body in sections)
    assert 'fill="#9aa5b1"' not in text  # no base drawn
    assert "1,500 rows, 8 columns." in text and "one of Bern, Genève, Köln, Lugano, Zürich" in text
