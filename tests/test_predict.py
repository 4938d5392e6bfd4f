"""Batch prediction: the compiled checks and transform against their references, and
`dockyard predict` on models trained by the real pipeline."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dockyard.data.fastcheck import ColumnsMismatch, CompiledSchema
from dockyard.data.features import fit_transform
from dockyard.data.schemas import validate_table
from dockyard.errors import ERROR_FILE_ENV, ValidationFailed
from dockyard.metrics import classification_metrics
from dockyard.serve.transform import CompiledTransform

from .helpers import customers, error_of, project_env, run
from .serving_fixtures import MODEL, STRICT_MODEL, customers_project, dockyard, proba, split_rows

# ----------------------------------------------------------------------------- generated tables

SCHEMA = {
    "strict": True,
    "columns": {
        "f": {"dtype": "float64", "ge": -5, "le": 5},
        "g": {"dtype": "float32", "nullable": True, "le": 100},
        "i": {"dtype": "int64", "ge": 0, "le": 90},
        "k": {"dtype": "int64", "unique": True},
        "s": {"dtype": "str", "nullable": True, "isin": ["a", "b", "c"]},
        "c": {"dtype": "category", "isin": ["x", "y"]},
        "n": {"dtype": "int64", "isin": [1, 2, 3]},
        r"p_\d": {"dtype": "float64", "regex": True, "allow_inf": True},
        "target": {"dtype": "int64", "isin": [0, 1]},
    },
}


def good_table(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    g = rng.uniform(-50, 50, rows).astype(np.float32)
    g[rng.random(rows) < 0.2] = np.nan
    g[0] = 1.5  # never entirely empty (pandera refuses that; scoring allows it on purpose)
    s = rng.choice(np.array(["a", "b", "c", None], dtype=object), rows)
    s[0] = "a"
    return pd.DataFrame(
        {
            "f": rng.uniform(-4.5, 4.5, rows),
            "g": g,
            "i": rng.integers(1, 90, rows),
            "k": rng.permutation(rows) + 1000,
            "s": pd.array(s, dtype="str"),
            "c": pd.Categorical(rng.choice(["x", "y"], rows), categories=["x", "y"]),
            "n": rng.integers(1, 4, rows),
            "p_1": rng.normal(size=rows),
            "p_2": rng.normal(size=rows),
            "target": rng.integers(0, 2, rows),
        }
    )


def _set(table: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    table = table.copy()
    if column in ("s",):
        values = table[column].astype(object).to_numpy().copy()
        values[row] = value
        table[column] = pd.array(values, dtype="str")
    elif column == "c":
        values = table[column].astype(object).to_numpy().copy()
        values[row] = value
        table[column] = pd.Categorical(values)
    else:
        if isinstance(value, str):
            table[column] = table[column].astype(object)
        elif _missing(value) and table[column].dtype.kind in "iu":
            return table  # pandas cannot hold a missing int: not a case pandera sees
        table.loc[row, column] = value
    return table


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


MUTATIONS = [
    ("f", np.nan),  # missing in a non-nullable column
    ("f", 7.0),  # above le
    ("f", -9.0),  # below ge
    ("f", np.inf),  # infinity, allow_inf false
    ("f", "oops"),  # text in a float column
    ("g", np.inf),  # infinity in float32
    ("g", 250.0),  # above le
    ("g", np.nan),  # missing, nullable: fine
    ("i", 95),  # above le
    ("i", -1),  # below ge
    ("n", 5),  # outside isin
    ("n", 2),  # inside isin: fine
    ("k", "dup"),  # duplicate in a unique column
    ("s", "d"),  # outside isin
    ("s", None),  # missing, nullable: fine
    ("c", "z"),  # outside isin
    ("c", None),  # missing in a non-nullable category
    ("p_1", np.inf),  # allowed infinity
    ("p_2", np.nan),  # missing, not nullable
]


def _pandera_accepts(table: pd.DataFrame) -> bool:
    try:
        validate_table(table, SCHEMA, where="generated", fix_in="test")
    except ValidationFailed:
        return False
    return True


def _fast_accepts(table: pd.DataFrame) -> bool:
    schema = CompiledSchema(SCHEMA, target="target")
    try:
        return not schema.check_pandas(table).failures
    except ColumnsMismatch:
        return False


def test_fastcheck_agrees_with_pandera_on_generated_tables() -> None:
    rng = np.random.default_rng(0)
    decisions = []
    for case in range(140):
        table = good_table(rng, int(rng.integers(4, 30)))
        kind = case % (len(MUTATIONS) + 4)
        if kind < len(MUTATIONS):
            column, value = MUTATIONS[kind]
            row = int(rng.integers(1, len(table)))
            if value == "dup":
                table = table.copy()
                table.loc[row, "k"] = table.loc[0, "k"]
            else:
                table = _set(table, column, row, value)
        elif kind == len(MUTATIONS):
            table = table.drop(columns=["i"])  # a declared column missing
        elif kind == len(MUTATIONS) + 1:
            table = table.assign(extra=1.0)  # undeclared, schema strict
        elif kind == len(MUTATIONS) + 2:
            table = table.drop(columns=["p_1", "p_2"])  # the pattern matches nothing
        expected = _pandera_accepts(table)
        assert _fast_accepts(table) == expected, (case, kind, table)
        decisions.append(expected)
    assert 20 < sum(decisions) < len(decisions) - 20  # both answers well represented


def test_fastcheck_reports_rows_and_reasons() -> None:
    table = good_table(np.random.default_rng(1), 10)
    table = _set(_set(table, "f", 3, 7.0), "s", 5, "zz")
    checked = CompiledSchema(SCHEMA, target="target").check_pandas(table)
    found = {(f.column, tuple(f.rows.tolist()), tuple(f.values)) for f in checked.failures}
    assert ("f", (3,), (7.0,)) in found and ("s", (5,), ("zz",)) in found
    assert checked.reasons()[3].startswith("f: above the maximum (le: 5)")
    assert np.flatnonzero(checked.bad_rows()).tolist() == [3, 5]


def test_fastcheck_coerces_text_and_accepts_an_empty_nullable_column() -> None:
    """Deliberate differences from pandera, for scoring: CSV/JSON text is parsed to the
    declared dtype, and a one-row request may leave a nullable column empty."""
    table = good_table(np.random.default_rng(2), 1)
    columns = {c: table[c].astype(object).astype(str).tolist() for c in table.columns}
    columns["g"] = [None]
    columns["s"] = [None]
    checked = CompiledSchema(SCHEMA, target="target").check(columns)
    assert not checked.failures
    assert checked.number("i")[0] == float(table["i"][0])
    bad = CompiledSchema(SCHEMA, target="target").check({**columns, "i": ["4.5"]})
    assert [f.reason for f in bad.failures] == ["not a whole number (the column is int64)"]


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
@pytest.mark.parametrize("impute", ["missing", "most_frequent"])
def test_compiled_transform_equals_the_reference_bit_for_bit(encoding: str, impute: str) -> None:
    train = customers(400, seed=3)
    policy = {
        "numeric_impute": "median",
        "scale": "standard",
        "categorical_impute": impute,
        "encoding": encoding,
        "unknown_category": "ignore",
    }
    reference = fit_transform(train, target="label", task="classification", policy=policy)
    new = customers(300, seed=4).drop(columns="label")
    new.loc[[3, 9], "region"] = "atlantis"  # unseen in training
    schema = {
        "strict": True,
        "columns": {
            "age": {"dtype": "int64"},
            "income": {"dtype": "float64", "nullable": True},
            "score": {"dtype": "float64"},
            "region": {"dtype": "str", "nullable": True},
            "plan": {"dtype": "str"},
        },
    }
    compiled = CompiledTransform(reference)
    for table in (new, new.astype({"region": "category", "plan": "category"})):
        checked = CompiledSchema(schema).check_pandas(table)
        x, unseen = compiled.features(checked)
        assert not unseen
        expected = reference.features(table)
        assert x.dtype == expected.dtype and np.array_equal(x, expected)


# ----------------------------------------------------------------------------- the model folder

MODEL_FILES = ("model.json", "model.pt", "transform.json")


def count_reads(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Counter:
    """Opens of each file in `folder` from here on (Path.read_*, open(), torch.load)."""
    import builtins
    import io

    folder, reads, real = folder.resolve(), Counter(), io.open

    def counting(file, *args, **kwargs):
        if isinstance(file, str | Path) and Path(file).resolve().parent == folder:
            reads[Path(file).name] += 1
        return real(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting)
    monkeypatch.setattr(builtins, "open", counting)
    return reads


def small_model_folder(folder: Path) -> pd.DataFrame:
    """An untrained network on the customers table saved as a model folder; the rows."""
    from dockyard.models.artifact import save_model
    from dockyard.models.nets import build_model

    table = customers(200, seed=5)
    policy = {
        "numeric_impute": "median",
        "scale": "standard",
        "categorical_impute": "missing",
        "encoding": "onehot",
        "unknown_category": "ignore",
    }
    transform = fit_transform(table, target="label", task="classification", policy=policy)
    net_cfg = {"_target_": "dockyard.models.nets.MLP", "hidden": [8]}
    net = build_model(net_cfg, len(transform.output_columns), len(transform.classes))
    columns = {c: {"dtype": "float64", "nullable": True} for c in ("age", "income", "score")}
    columns |= {c: {"dtype": "str", "nullable": True} for c in ("region", "plan", "label")}
    card = {
        "task": "classification",
        "target": "label",
        "keys": [],
        "schema": {"strict": True, "columns": columns},
        "features": transform.output_columns,
        "outputs": len(transform.classes),
        "classes": transform.classes,
        "net": net_cfg,
    }
    folder.parent.mkdir(parents=True)
    (folder.parent / "transform.json").write_text(transform.to_json())
    save_model(folder, net.state_dict(), card, folder.parent / "transform.json")
    return table


def test_a_model_folder_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The card, transform and weights are read once into one ModelArtifact, which the
    scorer, its runtime and the version share: no file of the folder is read twice."""
    from dockyard.io import file_sha256
    from dockyard.models.artifact import load_model, read_model
    from dockyard.serve.scoring import Scorer

    folder = tmp_path / "models/seed-0"
    table = small_model_folder(folder)
    digests = {name: file_sha256(folder / name) for name in MODEL_FILES}
    reads = count_reads(monkeypatch, folder)
    model = read_model(folder)
    scorer = Scorer(model)
    scored = scorer.score(scorer.schema.check_pandas(table.drop(columns="label")))
    assert reads == dict.fromkeys(MODEL_FILES, 1)
    assert scorer.model is model and scorer.runtime.artifact is model
    assert model.sha256 == digests and scorer.version["weights_sha256"] == digests["model.pt"]
    assert scored.rows == len(table)
    # the eager loader (evaluation, export) reads each file once as well, and agrees
    reads.clear()
    loaded = load_model(folder)
    assert reads == dict.fromkeys(MODEL_FILES, 1)
    x = scorer.transform.features(scorer.schema.check_pandas(table))[0]
    assert np.array_equal(loaded.predict(x), model.predict(x))


# ----------------------------------------------------------------------------- reading


def test_csv_blocks_cut_between_rows_only(tmp_path: Path) -> None:
    """The CSV reader cuts a large file into blocks of whole rows: quoted commas, quotes and
    newlines inside fields, CRLF endings, a byte-order mark and no final newline all come
    through as pandas reads them, over many blocks. Most newlines lie inside quoted fields,
    so a cut at the last newline of a block would split a field."""
    from dockyard.serve.batch import read_chunks

    rng = np.random.default_rng(3)
    rows = 120_000
    words = np.array(["plain", "with, comma", 'say "hi"', "", "naïve", "x\r\ny", "a\n" * 30])
    table = pd.DataFrame(
        {
            "id": np.arange(rows).astype(str),
            "note": rng.choice(words, rows),
            "value": rng.normal(size=rows).round(6).astype(str),
        }
    )
    table.loc[rng.random(rows) < 0.05, "value"] = None
    path = tmp_path / "tricky.csv"
    text = table.to_csv(index=False, lineterminator="\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.rstrip("\r\n").encode("utf-8"))
    assert path.stat().st_size > 3 << 20  # several 1 MiB blocks

    chunks = list(read_chunks(path, "csv", 5_000))
    assert len(chunks) >= 20 and max(c.num_rows for c in chunks) <= 5_000
    read = pd.concat([c.to_pandas() for c in chunks], ignore_index=True)
    expected = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    expected = expected.where(expected != "", None)  # an empty field is a missing value
    assert list(read.columns) == ["id", "note", "value"]
    pd.testing.assert_frame_equal(read, expected, check_dtype=False)


def test_the_csv_delimiter_is_the_one_that_splits_the_header(tmp_path: Path) -> None:
    """A file exported where the decimal sign is a comma (';'), or as TSV, reads like the
    comma-separated one (it was read as one column named 'id;note;value' and refused)."""
    from dockyard.serve.batch import header_fields, read_chunks

    table = pd.DataFrame(
        {"id": ["1", "2", "3"], "note": ["with, comma", "a;b", "tab"], "value": ["1.5", None, "-2"]}
    )
    for sep in (",", ";", "\t", "|"):
        path = tmp_path / f"t{ord(sep)}.csv"
        table.to_csv(path, sep=sep, index=False)
        read = pd.concat([c.to_pandas() for c in read_chunks(path, "csv", 2)], ignore_index=True)
        pd.testing.assert_frame_equal(read, table, check_dtype=False)
    assert header_fields("a,b;c\r\n") == (["a", "b;c"], ",")  # a tie goes to the comma
    assert header_fields("only") == (["only"], ",")


# ----------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def customers_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return customers_project(tmp_path_factory.getbasetemp())


@pytest.mark.slow
def test_predict_reproduces_the_evaluate_stage_metrics(
    customers_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scored.parquet"
    test_split = "data/prepared/test.parquet"
    result = dockyard(customers_model, "predict", test_split, "--output", str(out))
    rows = len(pd.read_parquet(customers_model / test_split))
    assert f"scored {rows} of {rows} rows" in result.stderr
    table = pd.read_parquet(out)
    card = json.loads((customers_model / MODEL / "model.json").read_text())
    classes = card["classes"]
    assert list(table.columns) == ["row", "prediction"] + [f"proba_{c}" for c in classes] + [
        "label"
    ]
    labels = np.array([classes.index(v) for v in table["label"]])
    metrics = classification_metrics(labels, proba(table), "test")
    assert metrics == json.loads((customers_model / "eval/seeds/0/metrics.json").read_text())
    assert (table["prediction"] == np.asarray(classes)[proba(table).argmax(axis=1)]).all()
    assert table["row"].tolist() == list(range(rows))


@pytest.mark.slow
def test_batch_prediction_reads_the_model_folder_once(
    customers_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committed model's version (its commit, found by comparing the folder's md5s with
    dvc.lock) comes from the digests taken when the folder was read, not a second read."""
    from dockyard.serve.batch import predict_file
    from dockyard.serve.scoring import Scorer

    folder = customers_model / MODEL
    reads = count_reads(monkeypatch, folder)
    scorer = Scorer(folder)
    test_split = customers_model / "data/prepared/test.parquet"
    result = predict_file(scorer, test_split, tmp_path / "scored.parquet", progress=None)
    assert result.scored == len(pd.read_parquet(test_split))
    assert (
        scorer.version["git_commit"]
        == run(["git", "rev-parse", "HEAD"], customers_model).stdout.strip()
    )
    assert reads == dict.fromkeys(MODEL_FILES, 1)


@pytest.mark.slow
def test_predict_csv_with_text_and_missing_values(customers_model: Path, tmp_path: Path) -> None:
    rows = split_rows(customers_model)
    source = tmp_path / "incoming.csv"
    rows.drop(columns="label").to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    dockyard(customers_model, "predict", str(source), "-o", str(out))
    scored = pd.read_csv(out)
    assert list(scored.columns) == [
        "row",
        "prediction",
        "proba_churn",
        "proba_stay",
        "proba_upgrade",
    ]
    assert len(scored) == len(rows) and set(scored["prediction"]) <= {"churn", "stay", "upgrade"}
    np.testing.assert_allclose(proba(scored).sum(axis=1), 1.0, atol=1e-9)
    meta = json.loads((tmp_path / "scored.csv.meta.json").read_text())
    head = run(["git", "rev-parse", "HEAD"], customers_model).stdout.strip()
    assert meta["git_commit"] == head and meta["rows"] == len(rows)
    assert meta["params_hash"].startswith("sha256:") and len(meta["weights_sha256"]) == 64
    # the same rows as Parquet, in small chunks: identical predictions
    parquet_out = tmp_path / "scored.parquet"
    rows.to_parquet(tmp_path / "incoming.parquet")
    dockyard(
        customers_model,
        "predict",
        str(tmp_path / "incoming.parquet"),
        "-o",
        str(parquet_out),
        "--batch-rows",
        "7",
    )
    chunked = pd.read_parquet(parquet_out)
    assert (chunked["prediction"] == scored["prediction"]).all()
    np.testing.assert_allclose(proba(chunked), proba(scored), atol=1e-6)
    assert (chunked["label"] == rows["label"]).all()  # the target is carried beside
    metadata = json.loads(pq.read_schema(parquet_out).metadata[b"dockyard"])
    assert metadata["weights_sha256"] == meta["weights_sha256"]


@pytest.mark.slow
def test_bad_rows_are_refused_or_skipped_with_reasons(
    customers_model: Path, tmp_path: Path
) -> None:
    rows = split_rows(customers_model).drop(columns="label").astype({"age": object})
    rows.loc[3, "age"] = "old"
    rows.loc[5, "plan"] = "platinum"
    rows.loc[7, "score"] = -5.0  # the drafted sign is hard (the drafted maximum is soft)
    source = tmp_path / "bad.csv"
    rows.to_csv(source, index=False)
    out = tmp_path / "scored.parquet"
    refused = dockyard(customers_model, "predict", str(source), "-o", str(out), check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    record = error_of(refused)
    # three columns fail, so the error is about no one column
    assert (record["kind"], record["column"], record["path"]) == ("validation", None, str(source))
    message = record["message"]
    assert "3 row(s)" in message
    assert "age: not a number (the column is int64), 1 row(s): row 3: 'old'" in message
    assert "plan: not one of the allowed values (basic, plus, pro), 1 row(s): row 5" in message
    assert "score: below the minimum (ge: 0), 1 row(s): row 7: -5.0" in message
    assert "--invalid skip" in message and not list(tmp_path.glob("scored*"))  # the fix
    skipped = dockyard(customers_model, "predict", str(source), "-o", str(out), "--invalid", "skip")
    assert f"scored {len(rows) - 3:,} of {len(rows):,} rows" in skipped.stderr
    assert "rejected 3 row(s)" in skipped.stderr
    scored = pd.read_parquet(out)
    assert 3 not in scored["row"].tolist() and len(scored) == len(rows) - 3
    rejected = pd.read_parquet(tmp_path / "scored.rejected.parquet")
    assert rejected["row"].tolist() == [3, 5, 7]
    assert rejected["age"].tolist()[0] == "old"
    assert rejected["reasons"].str.contains("plan: not one of the allowed values").tolist() == [
        False,
        True,
        False,
    ]


@pytest.mark.slow
def test_unknown_categories_follow_the_transform_policy(
    customers_model: Path, tmp_path: Path
) -> None:
    rows = split_rows(customers_model).drop(columns="label")
    rows.loc[2, "region"] = "atlantis"
    source = tmp_path / "new.parquet"
    rows.to_parquet(source)
    ignored = dockyard(customers_model, "predict", str(source), "-o", str(tmp_path / "a.parquet"))
    assert f"scored {len(rows)} of {len(rows)}" in ignored.stderr
    strict = dockyard(
        customers_model,
        "predict",
        str(source),
        "-o",
        str(tmp_path / "b.parquet"),
        "--model",
        STRICT_MODEL,
        check=False,
    )
    assert strict.returncode == 2
    record = error_of(strict)
    assert (record["kind"], record["column"], record["path"]) == (
        "validation",
        "region",
        str(source),
    )
    assert "category never seen in training" in record["message"]  # the failed check
    assert "row 2: 'atlantis'" in record["message"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "kind", "column", "path", "expected"),
    [
        # `path`: which of the command's files the error is about (source, out, model);
        # `expected`: what the message says beyond the attributes (values, wording checks)
        ("missing model", "missing-file", None, "model", []),
        ("incompatible model", "unknown-model-format", None, "model", ["'dockyard-model/999'"]),
        ("missing column", "missing-column", "plan", None, []),
        (
            "extra column",
            "unexpected-column",
            "coupon",
            None,
            # the one wording check for kind 'unexpected-column'
            ["has column(s) the schema does not declare: coupon"],
        ),
        ("unreadable parquet", "wrong-format", None, "source", []),
        # the one wording check for kind 'unreadable'
        ("ragged csv", "unreadable", None, "source", ["{source} could not be read as CSV: "]),
        (
            "wrong extension",
            "unknown-format",
            None,
            "source",
            # the one wording check for kind 'unknown-format'
            [
                "The input {source} has the extension '.xlsx'; dockyard predict reads and "
                "writes .csv and .parquet files."
            ],
        ),
        ("wrong output extension", "unknown-format", None, "out", ["'.txt'"]),
        ("empty csv", "empty-file", None, "source", []),
        ("header only", "no-rows", None, "source", []),
        ("no such input", "missing-file", None, "source", []),
    ],
)
def test_clear_messages_for_user_mistakes(
    customers_model: Path,
    tmp_path: Path,
    case: str,
    kind: str,
    column: str | None,
    path: str | None,
    expected: list[str],
) -> None:
    rows = split_rows(customers_model).drop(columns="label").head(20)
    source, out, model = tmp_path / "in.csv", tmp_path / "out.parquet", MODEL
    rows.to_csv(source, index=False)
    if case == "missing model":
        model = "models/seed-9"
    elif case == "incompatible model":
        folder = tmp_path / "old-model"
        for name in ("model.pt", "transform.json"):
            (folder / name).parent.mkdir(exist_ok=True)
            (folder / name).write_bytes((customers_model / MODEL / name).read_bytes())
        card = json.loads((customers_model / MODEL / "model.json").read_text())
        (folder / "model.json").write_text(json.dumps({**card, "format": "dockyard-model/999"}))
        model = str(folder)
    elif case == "missing column":
        rows.drop(columns="plan").to_csv(source, index=False)
    elif case == "extra column":
        rows.assign(coupon="x").to_csv(source, index=False)
    elif case == "unreadable parquet":
        source = tmp_path / "in.parquet"
        source.write_bytes(b"this is not parquet")
    elif case == "ragged csv":
        source.write_text(source.read_text() + "1,2,3,4,5,6,7,8\n")
    elif case == "wrong extension":
        source = tmp_path / "in.xlsx"
        source.write_bytes(b"PK\x03\x04")
    elif case == "wrong output extension":
        out = tmp_path / "out.txt"
    elif case == "empty csv":
        source.write_text("")
    elif case == "header only":
        source.write_text(",".join(rows.columns) + "\n")
    elif case == "no such input":
        source = tmp_path / "nothing.csv"
    result = dockyard(
        customers_model, "predict", str(source), "-o", str(out), "--model", model, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("dockyard: error: ")
    record = error_of(result)
    files = {"source": source, "out": out, "model": model}
    assert (record["kind"], record["column"]) == (kind, column)
    assert record["path"] == (None if path is None else str(files[path]))
    for fragment in expected:
        assert fragment.format(source=source) in record["message"]
    assert not out.exists()


# Runs each refusal with a 30 s switch interval: the main thread keeps the GIL from the
# moment read_csv returns until it exits, so an Arrow worker that still needs the GIL then
# (the abort this test guards against) is stranded, as on a machine too busy to run it.
_HOLD_GIL = "import sys; sys.setswitchinterval(30); from dockyard.cli import main; main()"


@pytest.mark.slow
def test_refusals_exit_2_and_arrow_reads_only_memory_it_owns(
    customers_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused file exits 2 every time. Before serve.buffers, Arrow's threaded CSV reader
    could still hold a Python-owned input buffer on a worker thread when the command exited;
    on a busy machine that thread asked for the GIL during interpreter shutdown and the
    process aborted after its answer ("terminate called without an active exception",
    exit 134). The race cannot be forced: with the buffers put back to Python bytes, 140
    refusals beside 2 and 4 busy loops all exited 2 here. So the cause is checked instead
    (every input predict hands Arrow's CSV reader is memory from Arrow's own pool), and real
    processes that hold the GIL from read_csv to exit still exit 2 with their record."""
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from dockyard.cli import main
    from dockyard.serve import batch
    from dockyard.serve.buffers import arrow_buffer

    from .helpers import project_env

    # the check tells the two kinds of memory apart: Arrow's pool grows by an
    # arrow_buffer's bytes while it lives, and not by a Python object's
    before = pa.total_allocated_bytes()
    owned = arrow_buffer(b"a" * 4096, b"b" * 4096)
    assert pa.total_allocated_bytes() - before >= 8192
    assert owned.to_pybytes() == b"a" * 4096 + b"b" * 4096
    borrowed = pa.py_buffer(b"c" * 8192)
    assert pa.total_allocated_bytes() - before < 8192 + 8192
    del borrowed

    rows = split_rows(customers_model).drop(columns="label").head(20)
    sources = [tmp_path / "missing.csv", tmp_path / "extra.csv"]
    rows.drop(columns="plan").to_csv(sources[0], index=False)
    rows.assign(coupon="x").to_csv(sources[1], index=False)

    made, read = [], []

    def recording_buffer(*parts: bytes):
        made.append(arrow_buffer(*parts))
        return made[-1]

    def recording_read(source, *args, **kwargs):
        read.append(source)
        return real_read(source, *args, **kwargs)

    real_read = pacsv.read_csv
    monkeypatch.setattr(batch, "arrow_buffer", recording_buffer)
    monkeypatch.setattr(pacsv, "read_csv", recording_read)
    monkeypatch.chdir(customers_model)
    for source in sources:
        with pytest.raises(SystemExit) as refused:
            main(["predict", str(source), "-o", str(tmp_path / "in-process.parquet")])
        assert refused.value.code == 2
    assert read and all(any(source is mine for mine in made) for source in read)
    monkeypatch.undo()

    def refuse(run_index: int) -> subprocess.CompletedProcess:
        source = sources[run_index % 2]
        out = tmp_path / f"out-{run_index}.parquet"
        command = [sys.executable, "-c", _HOLD_GIL, "predict", str(source), "-o", str(out)]
        env = {**project_env(), ERROR_FILE_ENV: str(tmp_path / f"errors-{run_index}.jsonl")}
        return subprocess.run(command, cwd=customers_model, env=env, capture_output=True, text=True)

    results = [refuse(index) for index in range(4)]
    aborted = [(r.returncode, r.stderr[-200:]) for r in results if r.returncode != 2]
    assert not aborted, aborted
    for index, result in enumerate(results):
        expected = ("missing-column", "plan") if index % 2 == 0 else ("unexpected-column", "coupon")
        assert result.stderr.startswith("dockyard: error: ")
        records = (tmp_path / f"errors-{index}.jsonl").read_text().splitlines()
        record = json.loads(records[-1])
        assert (record["kind"], record["column"]) == expected
        assert "terminate called" not in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / f"out-{index}.parquet").exists()


_EXIT_AND_TORCH = (
    "import sys\nfrom dockyard.cli import main\ntry:\n    main()\nexcept SystemExit as end:\n"
    "    print('exit', end.code, 'torch loaded:', 'torch' in sys.modules, file=sys.stderr)"
)


@pytest.mark.slow
def test_a_refused_file_is_refused_before_torch_loads(
    customers_model: Path, tmp_path: Path
) -> None:
    """Batch prediction builds the network at the first rows that pass their checks: a
    file with a missing column is refused in about a second, not after importing torch."""
    import subprocess
    import sys

    source = tmp_path / "no-age.csv"
    split_rows(customers_model).drop(columns=["label", "age"]).to_csv(source, index=False)
    command = [sys.executable, "-c", _EXIT_AND_TORCH, "predict", str(source), "-o", "x.csv"]
    errors = tmp_path / "errors.jsonl"
    env = {**project_env(), ERROR_FILE_ENV: str(errors)}
    result = subprocess.run(command, cwd=customers_model, env=env, capture_output=True, text=True)
    record = json.loads(errors.read_text().splitlines()[-1])
    assert (record["kind"], record["column"]) == ("missing-column", "age")
    assert "exit 2 torch loaded: False" in result.stderr
    good = tmp_path / "good.csv"
    split_rows(customers_model).drop(columns="label").head(20).to_csv(good, index=False)
    # from another folder, with --root: the files named stay relative to where it ran
    command = [sys.executable, "-c", _EXIT_AND_TORCH, "predict", "good.csv", "-o", "out.csv"]
    command += ["--root", str(customers_model)]
    result = subprocess.run(
        command, cwd=tmp_path, env=project_env(), capture_output=True, text=True
    )
    assert "exit 0 torch loaded: True" in result.stderr, result.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == 20
