"""Users' own tables: `dockyard data add`, training on them, and every kind of bad file."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from .helpers import customers, error_of, make_project, run
from .s3_server import s3_remote  # noqa: F401

pytestmark = pytest.mark.slow

DATA = "data/customers.csv"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dockyard(project: Path, *args: str, check: bool = True):
    return run([sys.executable, "-m", "dockyard.cli", *args], project, check=check)


@pytest.fixture(scope="session")
def customers_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with data/customers.csv registered as the default dataset, trained on and
    committed, following the README's "Your own data" steps. Copy before use."""
    project = make_project(tmp_path_factory.mktemp("own") / "project")
    (project / "data").mkdir(exist_ok=True)
    customers().to_csv(project / DATA, index=False)
    added = dockyard(project, "data", "add", DATA, "--target", "label", "--default")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "Train on customers"], project)
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "train on customers"], project)
    (project / "added.txt").write_text(added.stdout)
    return project


def test_data_add_drafts_a_readable_schema(customers_run: Path) -> None:
    printed = (customers_run / "added.txt").read_text()
    assert "Task: classification (the target holds 3 text/boolean classes)" in printed
    assert "Made data=customers the default in conf/config.yaml" in printed
    assert (customers_run / f"{DATA}.dvc").is_file()
    assert DATA.split("/")[-1] in (customers_run / "data/.gitignore").read_text()
    config = yaml.safe_load((customers_run / "conf/data/customers.yaml").read_text())
    assert config["target"] == "label" and config["task"] == "classification"
    columns = config["schema"]["columns"]
    assert columns["label"]["isin"] == ["churn", "stay", "upgrade"]
    assert columns["income"]["nullable"] is True and columns["region"]["nullable"] is True
    assert "nullable" not in columns["age"]
    assert columns["age"]["dtype"] == "int64" and columns["age"]["ge"] == 0
    assert "le" not in columns["age"]  # the observed range is soft, never refused
    assert columns["age"]["expect"]["ge"] <= 18 and columns["age"]["expect"]["le"] >= 79
    assert columns["region"]["isin"] == ["centre", "east", "north", "south", "west"]


def test_training_on_own_data_beats_the_majority_class(customers_run: Path) -> None:
    metrics = json.loads((customers_run / "eval/seeds/0/metrics.json").read_text())
    majority = customers()["label"].value_counts(normalize=True).max()
    assert metrics["test/accuracy"] >= majority + 0.2, (metrics, majority)
    transform = json.loads((customers_run / "models/seed-0/transform.json").read_text())
    assert transform["classes"] == ["churn", "stay", "upgrade"]
    assert transform["categorical"] == ["region", "plan"]
    assert "region=__missing__" in transform["output_columns"]


def test_own_data_stays_the_default_through_later_experiments(
    customers_run: Path, tmp_path: Path
) -> None:
    """After `data add --default`, experiments that name no dataset keep training on the
    user's table: DVC's own composition (`dvc exp run -S ...`) and `dockyard compose`."""
    project = tmp_path / "p"
    shutil.copytree(customers_run, project, symlinks=True)
    run(["dvc", "exp", "run", "-S", "train.lr=0.002", "-S", "train.epochs=5"], project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["data"]["name"] == "customers" and params["train"]["lr"] == 0.002
    transform = json.loads((project / "models/seed-0/transform.json").read_text())
    assert transform["classes"] == ["churn", "stay", "upgrade"]
    dockyard(project, "compose", "train.lr=0.003", "train.epochs=5")
    result = run(["dvc", "repro"], project)
    assert "trains on data=" not in result.stderr  # no notice: nothing disagrees
    assert yaml.safe_load((project / "params.yaml").read_text())["data"]["name"] == "customers"
    card = json.loads((project / "models/seed-0/model.json").read_text())
    assert card["dataset"] == "customers" and card["classes"] == ["churn", "stay", "upgrade"]


def test_a_silent_switch_back_to_the_bundled_data_is_refused_before_training(
    customers_run: Path, tmp_path: Path
) -> None:
    """The old flow (`dvc exp run -S data=NAME`, committed, defaults untouched): the next
    composition that names no dataset trains on digits again. `dockyard compose` says so in
    one line; a stage that would read or train on it refuses, with the fix."""
    project = tmp_path / "p"
    shutil.copytree(customers_run, project, symlinks=True)
    config = project / "conf/config.yaml"
    config.write_text(config.read_text().replace("- data: customers", "- data: digits"))
    run(["git", "commit", "-qam", "defaults back to digits"], project)
    composed = dockyard(project, "compose", "train.lr=0.002")
    notice = [line for line in composed.stderr.splitlines() if "dockyard: note:" in line]
    assert len(notice) == 1 and "dockyard use data=customers" in notice[0]
    assert "committed params.yaml trains on data=customers" in notice[0]
    # params.yaml now names digits: a stage that runs refuses (DVC's own composition for
    # `dvc exp run -S train.lr=...` leaves the workspace in this state)
    for stage in ("ingest", "train"):
        refused = run([sys.executable, "-m", f"dockyard.stages.{stage}"], project, check=False)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        record = error_of(refused)
        assert (record["kind"], record["key"]) == ("dataset-switch", "data")
        assert "dockyard use data=customers" in record["message"]  # the fix, with its value
    fixed = dockyard(project, "use", "data=customers")
    assert "data: digits -> customers" in fixed.stdout
    assert "dockyard: note" not in dockyard(project, "compose", "train.lr=0.002").stderr


def test_data_add_refuses_a_text_target_for_regression(project: Path) -> None:
    (project / "data").mkdir(exist_ok=True)
    (project / DATA).write_text(GOOD)
    result = dockyard(
        project, "data", "add", DATA, "--target", "label", "--task", "regression", check=False
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    record = error_of(result)
    assert (record["kind"], record["column"], record["path"]) == ("wrong-type", "label", DATA)
    assert not (project / "conf/data/customers.yaml").exists()


def test_data_add_leaves_out_an_empty_column_and_says_so(project: Path) -> None:
    (project / "data").mkdir(exist_ok=True)
    customers(rows=300).assign(notes=None).to_csv(project / DATA, index=False)
    result = dockyard(project, "data", "add", DATA, "--target", "label")
    assert "'notes' are entirely empty: left out" in result.stdout
    config = yaml.safe_load((project / "conf/data/customers.yaml").read_text())
    assert config["source"]["drop_columns"] == ["notes"]
    assert "notes" not in config["schema"]["columns"]
    dockyard(project, "compose", "data=customers")
    ingest = run([sys.executable, "-m", "dockyard.stages.ingest"], project, check=False)
    assert ingest.returncode == 0, ingest.stderr
    assert "300 rows x 6 columns" in ingest.stdout


def test_parquet_named_csv_gets_a_rename_hint(project: Path) -> None:
    (project / "data").mkdir(exist_ok=True)
    customers(rows=50).to_parquet(project / DATA, index=False)
    result = dockyard(project, "data", "add", DATA, "--target", "label", check=False)
    assert result.returncode == 2
    record = error_of(result)
    assert record["kind"] == "wrong-format"
    assert record["path"] == str((project / DATA).resolve())
    # the one wording check for kind 'wrong-format'
    assert f"{DATA} is named .csv but holds a Parquet file." in result.stderr
    assert "Rename it to customers.parquet" in result.stderr  # the fix, with the new name


def _lines(text: str, replace: dict[int, str]) -> str:
    lines = text.splitlines()
    for number, line in replace.items():
        lines[number] = line
    return "\n".join(lines) + "\n"


GOOD = customers().to_csv(index=False)
HEADER = GOOD.splitlines()[0]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
LATIN1 = (
    _lines(GOOD, {6: "41,50.0,0.5,north,basic,stay"}).encode().replace(b"north", b"n\xf6rth", 1)
)
LATIN1_LINE = LATIN1.split(b"n\xf6rth")[0].count(b"\n") + 1  # the file's first bad line

# case: (file content, the error's attributes (those not named are None), what its message
# says beyond them: values, the name of the failed check)
BAD_INPUTS = {
    "ragged rows": (
        _lines(GOOD, {5: "25,40.0,0.5,north,basic,stay,extra"}),
        {"kind": "ragged-rows", "path": DATA},
        [
            # the one wording check for kind 'ragged-rows'
            f"{DATA} has rows with the wrong number of fields: the header has 6 columns",
            "line 6 has 7",
        ],
    ),
    "wrong delimiter": (
        GOOD.replace(",", ";"),
        {"kind": "wrong-delimiter", "key": "data.source.delimiter", "path": DATA},
        [
            # the one wording check for kind 'wrong-delimiter'
            f"{DATA} was read with the delimiter ',' and came out as a single column "
            f"{HEADER.replace(',', ';')!r}, which contains ';': the file looks ';'-delimited."
        ],
    ),
    "empty file": (
        "",
        {"kind": "empty-file", "path": DATA},
        # the one wording check for kind 'empty-file'
        [f"{DATA} is empty (0 bytes): there is no header and no data."],
    ),
    "header only": (
        HEADER + "\n",
        {"kind": "no-rows", "path": DATA},
        [f"({HEADER.replace(',', ', ')})"],
    ),
    "missing target": (
        customers().drop(columns="label").to_csv(index=False),
        {"kind": "missing-column", "column": "label", "key": "data.target"},
        [],
    ),
    "missing feature": (
        customers().drop(columns="income").to_csv(index=False),
        {"kind": "validation", "column": "income"},
        ["missing column"],
    ),
    "text in numeric": (
        _lines(GOOD, {3: "41,lots,0.5,north,basic,stay"}),
        {"kind": "validation", "column": "income"},
        ["text in a float64 column", "row 2: lots"],
    ),
    "undeclared category": (
        _lines(GOOD, {4: "41,50.0,0.5,moon,basic,stay"}),
        {"kind": "validation", "column": "region"},
        ["not one of the allowed values (isin)", "row 3: moon"],
    ),
    "out of range": (  # the drafted sign is hard (a drafted maximum is soft)
        _lines(GOOD, {8: "-5,50.0,0.5,north,basic,stay"}),
        {"kind": "validation", "column": "age"},
        ["below the minimum (ge: 0)", "row 7: -5"],
    ),
    "inf": (
        _lines(GOOD, {2: "41,inf,0.5,north,basic,stay"}),
        {"kind": "validation", "column": "income"},
        ["finite (no inf)", "row 1: inf"],
    ),
    "entirely null column": (
        customers().assign(score=None).to_csv(index=False),
        {"kind": "validation", "column": "score"},
        ["entirely empty"],
    ),
    "duplicate columns": (
        GOOD.replace("score", "age", 1),
        {"kind": "duplicate-column", "column": "age", "path": DATA},
        # the one wording check for kind 'duplicate-column'
        [f"{DATA} has duplicate column names: 'age'."],
    ),
    "single class": (
        customers().assign(label="stay").to_csv(index=False),
        {"kind": "validation", "column": "label"},
        ["single class"],
    ),
    "non-utf8": (
        LATIN1,
        {"kind": "bad-encoding", "path": DATA},
        [
            # the one wording check for kind 'bad-encoding'
            f"{DATA} is not valid UTF-8 text: undecodable bytes at line",
            f"line {LATIN1_LINE} (b'\\xf6rth')",
        ],
    ),
    "not a table": (PNG, {"kind": "wrong-format", "path": DATA}, ["PNG"]),
}


def fail_on(customers_run: Path, tmp_path: Path, case: str) -> tuple[Path, dict[str, str]]:
    """A copy of the trained project whose data file holds BAD_INPUTS[case], after the
    `dvc repro` that refused it; the hashes of what was there before."""
    project = tmp_path / "p"
    shutil.copytree(customers_run, project, symlinks=True)
    before = {p: sha(project / p) for p in ("dvc.lock", DATA, "models/seed-0/model.pt")}
    content, expected, fragments = BAD_INPUTS[case]
    data = project / DATA
    if isinstance(content, bytes):
        data.write_bytes(content)
    else:
        data.write_text(content, encoding="utf-8")

    result = run(["dvc", "repro"], project, check=False)
    assert result.returncode != 0
    message = next(
        (line for line in result.stderr.splitlines() if line.startswith("dockyard: error:")), ""
    )
    assert message, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert DATA in message
    record = error_of(result)  # the refusing stage's, through DVC's environment
    assert message == f"dockyard: error: {record['message'].splitlines()[0]}"
    attributes = {name: record[name] for name in ("kind", "column", "key", "path")}
    assert attributes == {"column": None, "key": None, "path": None, **expected}
    for fragment in fragments:
        assert fragment in record["message"], (fragment, record["message"])
    assert sha(project / "dvc.lock") == before["dvc.lock"]
    assert "Running stage 'train@0'" not in result.stdout
    assert sha(project / "models/seed-0/model.pt") == before["models/seed-0/model.pt"]
    return project, before


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_stops_cleanly_and_loses_nothing(
    customers_run: Path, tmp_path: Path, case: str
) -> None:
    fail_on(customers_run, tmp_path, case)


def test_after_a_refused_file_git_and_dvc_restore_the_committed_data(
    customers_run: Path, tmp_path: Path
) -> None:
    """The recovery docs/own-data.md gives after a refused file: `dvc repro` recorded the new
    file version in data/customers.csv.dvc, so git restores the pointer and DVC the bytes."""
    project, before = fail_on(customers_run, tmp_path, "text in numeric")
    run(["git", "checkout", "--", "."], project)
    run(["dvc", "checkout", "--force"], project)
    assert sha(project / DATA) == before[DATA]
    assert sha(project / "models/seed-0/model.pt") == before["models/seed-0/model.pt"]
    assert "Data and pipelines are up to date." in run(["dvc", "repro"], project).stdout


@pytest.mark.parametrize(
    ("path", "kind", "wording"),
    [
        ("data/nowhere.csv", "missing-file", None),
        # the one wording check for kind 'outside-repo'
        ("../outside.csv", "outside-repo", "../outside.csv is outside the repository ("),
    ],
)
def test_data_add_refuses_missing_or_outside_paths(
    project: Path, path: str, kind: str, wording: str | None
) -> None:
    (project.parent / "outside.csv").write_text(GOOD)
    result = dockyard(project, "data", "add", path, "--target", "label", check=False)
    assert result.returncode == 2
    record = error_of(result)
    assert (record["kind"], record["path"]) == (kind, path)
    if wording is not None:
        assert wording in result.stderr
    assert "Traceback" not in result.stderr
    assert (
        not list((project / "conf/data").glob("nowhere*"))
        and not (project / "conf/data/outside.yaml").exists()
    )


def test_data_add_refuses_bad_tables_and_unknown_target(project: Path) -> None:
    (project / "data").mkdir(exist_ok=True)
    (project / "data/picture.csv").write_bytes(PNG)
    result = dockyard(project, "data", "add", "data/picture.csv", "--target", "y", check=False)
    assert result.returncode == 2
    record = error_of(result)
    assert record["kind"] == "wrong-format"
    assert record["path"] == str((project / "data/picture.csv").resolve())
    assert "PNG" in record["message"]
    (project / "data/ok.csv").write_text(GOOD)
    result = dockyard(project, "data", "add", "data/ok.csv", "--target", "lable", check=False)
    assert result.returncode == 2
    record = error_of(result)
    assert (record["kind"], record["column"]) == ("missing-column", "lable")
    assert "Did you mean 'label'?" in record["message"]
    assert not (project / "data/ok.csv.dvc").exists()


def test_parquet_and_regression_are_inferred(project: Path) -> None:
    table = customers(rows=400).drop(columns="label")
    (project / "data").mkdir(exist_ok=True)
    table.to_parquet(project / "data/spend.parquet", index=False)
    result = dockyard(project, "data", "add", "data/spend.parquet", "--target", "score")
    assert "Task: regression" in result.stdout
    config = yaml.safe_load((project / "conf/data/spend.yaml").read_text())
    assert config["source"]["format"] == "parquet" and config["task"] == "regression"
    assert "isin" not in config["schema"]["columns"]["score"]
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "add spend"], project)
    run(["dvc", "exp", "run", "-S", "data=spend", "-S", "train.epochs=5"], project)
    metrics = json.loads((project / "eval/seeds/0/metrics.json").read_text())
    assert set(metrics) == {"test/rmse", "test/mae", "test/r2"}
    assert metrics["test/rmse"] >= metrics["test/mae"] > 0
    plots = json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)
    assert "errors" not in plots
    assert plots["data"]["Predicted vs actual (test, regression)"]


def test_a_new_data_version_is_reported_and_time_travel_restores_the_old(
    customers_run: Path, tmp_path: Path
) -> None:
    from .markdown_check import check_tables

    project = tmp_path / "p"
    shutil.copytree(customers_run, project, symlinks=True)
    tracked = (
        DATA,
        "data/raw/table.parquet",
        "models/seed-0/model.pt",
        "models/seed-0/transform.json",
    )
    commit_a = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    at_a = {path: sha(project / path) for path in tracked}
    old_md5 = yaml.safe_load((project / f"{DATA}.dvc").read_text())["outs"][0]["md5"]

    customers().iloc[:1200].to_csv(project / DATA, index=False)  # a new version of the file
    run(["dvc", "add", DATA], project)
    run(["dvc", "repro"], project)
    new_md5 = yaml.safe_load((project / f"{DATA}.dvc").read_text())["outs"][0]["md5"]

    # the pull request's comment on a data-only change
    markdown = dockyard(project, "report", "--base", commit_a).stdout
    check_tables(markdown)
    assert "No parameter changed." in markdown
    assert f"| `{DATA}` | `{old_md5[:10]}` | `{new_md5[:10]}` |" in markdown
    assert "Rows after validation: 1,500 → 1,200." in markdown
    assert f"| `ingest` | data `{DATA}` |" in markdown
    for stage in ("validate", "split", "featurize", "train@0", "evaluate@0", "aggregate"):
        assert f"| `{stage}` | upstream outputs" in markdown

    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "B: fewer rows"], project)
    at_b = {path: sha(project / path) for path in tracked}
    assert (
        at_b[DATA] != at_a[DATA]
        and at_b["models/seed-0/model.pt"] != at_a["models/seed-0/model.pt"]
    )

    run(["git", "checkout", "-q", commit_a], project)
    run(["dvc", "checkout"], project)
    assert {path: sha(project / path) for path in tracked} == at_a
    assert "Data and pipelines are up to date." in run(["dvc", "repro"], project).stdout


def test_pipeline_outputs_round_trip_through_an_s3_remote(
    customers_run: Path,
    tmp_path: Path,
    s3_remote,  # noqa: F811
) -> None:
    """dvc push the registered data and every stage output, wipe cache and workspace, pull."""
    project = tmp_path / "p"
    shutil.copytree(customers_run, project, symlinks=True)
    outputs = [DATA, "data/raw", "data/prepared", "data/features", "data/validation.json", "models"]
    files = [
        p
        for out in outputs
        for p in sorted((project / out).rglob("*")) or [project / out]
        if p.is_file()
    ]
    before = {p.relative_to(project): sha(p) for p in files}
    assert len(before) >= 12

    prefix = s3_remote.configure_dvc(project)
    run(["git", "commit", "-qam", "team remote"], project)  # credentials stay in config.local
    run(["dvc", "push"], project)
    assert s3_remote.list_keys(prefix + "/")
    shutil.rmtree(project / ".dvc/cache")
    for out in outputs:
        target = project / out
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    run(["git", "checkout", "--", "."], project)  # what a fresh clone has

    # CI's step: only the registered input comes back, so `dvc repro` really re-runs stages
    credentials = {
        "AWS_ACCESS_KEY_ID": s3_remote.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_remote.secret_key,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    pulled = run([sys.executable, "-m", "dockyard.cli", "ci", "pull"], project, False, credentials)
    assert pulled.returncode == 0, pulled.stderr
    assert "Pulled 1 input(s) and the run-cache from the DVC remote" in pulled.stdout
    assert sha(project / DATA) == before[Path(DATA)]
    assert not (project / "models").exists()

    run(["dvc", "pull"], project)
    assert json.loads(run(["dvc", "status", "--json"], project).stdout) == {}
    assert {p: sha(project / p) for p in before} == before
    assert "Data and pipelines are up to date." in run(["dvc", "repro"], project).stdout
