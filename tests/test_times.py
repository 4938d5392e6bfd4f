"""Tables as people have them: dates and timestamps as a declared dtype, the time axis,
datetime parts as features, drafted ranges that never refuse the same distribution, and
the data checks' wording (values cut, booleans and infinities reported once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dockyard.data.fastcheck import CompiledSchema, describe, summarise, to_numbers
from dockyard.data.features import FeatureTransform, fit_transform
from dockyard.data.readers import batch_files, read_table
from dockyard.data.register import add_dataset
from dockyard.data.schemas import validate_table
from dockyard.data.split import time_indices
from dockyard.data.times import datetime_parts, to_wall_clock
from dockyard.errors import ConfigError, DataError, ValidationFailed

from .helpers import project_env

POLICY = {
    "numeric_impute": "median",
    "scale": "standard",
    "categorical_impute": "missing",
    "encoding": "onehot",
    "unknown_category": "ignore",
    "datetime": "parts",
}


def git_dvc_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    env = project_env()
    for args in (["git", "init", "-q", "-b", "main"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(args, cwd=path, env=env, check=True, capture_output=True)
    (path / "data").mkdir()
    return path


def drafted(root: Path, table: pd.DataFrame, target: str, **options) -> dict:
    table.to_csv(root / "data" / "t.csv", index=False)
    registration = add_dataset(root / "data" / "t.csv", target, root=root, **options)
    config = yaml.safe_load(registration.config_path.read_text(encoding="utf-8"))
    return {"config": config, "notes": registration.notes}


def shop(n: int, seed: int) -> pd.DataFrame:
    """Poisson visits, normal fee, gamma spend: a fresh draw for every seed."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "visits": rng.poisson(2.0, n),
            "fee": rng.normal(10.0, 2.0, n).round(2),
            "spend": rng.gamma(2.0, 30.0, n).round(2),
            "churn": rng.choice(["no", "yes"], n),
        }
    )


# ----------------------------------------------------------------------------- reading


def test_the_issue_repro_a_date_column_is_drafted_as_datetime_and_passes_ingest(
    tmp_path: Path,
) -> None:
    """40 rows with `day` (2024-01-05), x, y: the draft used to say str and ingest refused
    every row."""
    root = git_dvc_repo(tmp_path / "repo")
    days = pd.date_range("2024-01-05", periods=40, freq="D")
    table = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "x": np.arange(40.0), "y": [0, 1] * 20})
    found = drafted(root, table, "y")
    spec = found["config"]["schema"]["columns"]["day"]
    assert spec["dtype"] == "datetime"
    assert spec["time"] is True  # the one datetime column without gaps: the time axis
    assert spec["expect"] == {"ge": "2024-01-05", "le": "2024-02-13"}
    read = read_table(root / "data" / "t.csv")
    summary = validate_table(read, found["config"]["schema"], where="t.csv", fix_in="conf")
    assert summary["status"] == "passed"
    assert str(read["day"].dtype) == "datetime64[us]"
    assert read["day"].iloc[3] == pd.Timestamp("2024-01-08")


def test_timestamps_with_offsets_are_drafted_with_their_zone_and_two_columns_need_time(
    tmp_path: Path,
) -> None:
    root = git_dvc_repo(tmp_path / "repo")
    table = pd.DataFrame(
        {
            "opened": ["2024-03-01", "2024-03-02", None, "2024-03-04"],
            "placed": [
                "2024-03-01T10:00:00+01:00",
                "2024-03-02T23:30:00+01:00",
                "2024-03-03T08:00:00+01:00",
                "2024-03-04T09:15:00+01:00",
            ],
            "y": ["a", "b", "a", "b"],
        }
    )
    columns = drafted(root, table, "y")["config"]["schema"]["columns"]
    assert columns["placed"]["dtype"] == "datetime" and columns["placed"]["tz"] == "UTC"
    assert columns["opened"] == {
        "dtype": "datetime",
        "nullable": True,
        "expect": {"ge": "2024-03-01", "le": "2024-03-04"},
    }
    assert columns["placed"].get("time") is True  # the only one without missing values
    with pytest.raises(DataError) as caught:
        drafted(root, table, "y", time="y", force=True)
    assert (caught.value.kind, caught.value.column) == ("wrong-type", "y")


def test_wall_clock_reads_every_form_and_names_what_it_refuses() -> None:
    wall, problems = to_wall_clock(
        ["2024-01-05", "2024-01-05 10:30", None, "soon", 3, True, "2024-01-05T10:00:00Z"]
    )
    assert wall[:3].astype(str).tolist() == [
        "2024-01-05T00:00:00.000000",
        "2024-01-05T10:30:00.000000",
        "NaT",
    ]
    reasons = {reason.split(" (")[0]: shown for _, reason, shown in problems}
    assert reasons == {
        "not a date/time": ["soon", "3", "True"],
        "has a time zone": ["2024-01-05T10:00:00Z"],
    }
    berlin, problems = to_wall_clock(
        ["2024-07-01T08:00:00+00:00", "2024-01-01T08:00:00Z", "2024-01-01T08:00"],
        "Europe/Berlin",
    )
    assert berlin[:2].astype(str).tolist() == [
        "2024-07-01T10:00:00.000000",  # summer time: UTC+2
        "2024-01-01T09:00:00.000000",
    ]
    assert problems[0][1].startswith("no time zone (the column is declared tz: Europe/Berlin")


def test_dates_are_read_year_first_and_never_guessed() -> None:
    """A day-first or month-first date is refused, not guessed: `01/02/2023` would be
    2 January to pandas' guesser and 1 February to a European feed. Every path reads text
    the same way (a pandas column, an Arrow block, JSON values), and what it accepts is
    what Python's own ISO reader reads, to the microsecond."""
    import datetime as dt

    import pandas as pd
    import pyarrow as pa

    accepted = [
        "2023-02-01",
        "2023-02-01T10:30:00",
        "2023-02-01 10:30",
        "2023-02-01T10:30:00.123456",
        "20230201",
    ]
    refused = ["01/02/2023", "31/12/2023", "Feb 1 2023", "1 February 2023", "2023-02-30"]
    for values in (
        accepted + refused,
        pd.Series(accepted + refused, dtype="str"),
        pa.array(accepted + refused),
    ):
        wall, problems = to_wall_clock(values)
        expected = [np.datetime64(dt.datetime.fromisoformat(v), "us") for v in accepted]
        assert wall[: len(accepted)].tolist() == expected
        assert np.isnat(wall[len(accepted) :]).all()
        assert [(reason.split(" (")[0], shown) for _, reason, shown in problems] == [
            ("not a date/time", refused)
        ]
    # with a zone: the instant, whatever the offset, read in the column's zone
    wall, problems = to_wall_clock(["2023-02-01T10:30:00-05:00", "01/02/2023 10:30Z"], "UTC")
    assert wall[0] == np.datetime64("2023-02-01T15:30:00", "us") and np.isnat(wall[1])
    assert problems[0][2] == ["01/02/2023 10:30Z"]


def test_dates_in_another_form_are_drafted_with_their_format_and_read_by_it(
    tmp_path: Path,
) -> None:
    """31/12/2024, 12/31/2024 10:30, 31.12.2024 10:30:15 and 2024/12/31 are drafted as
    datetimes with the one format every value fits; a column where no value tells the day
    from the month stays text, with a note. Ingest's check (pandas) and predict's and the
    server's (fastcheck) read by the format and refuse a row in another form, ISO included."""
    root = git_dvc_repo(tmp_path / "repo")
    rng = np.random.default_rng(4)
    seconds = np.sort(rng.integers(0, 200 * 86_400, 60))
    moments = pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s")
    table = pd.DataFrame(
        {
            "day": moments.strftime("%d/%m/%Y"),
            "seen": moments.strftime("%m/%d/%Y %H:%M"),
            "stamp": moments.strftime("%d.%m.%Y %H:%M:%S"),
            "ymd": moments.strftime("%Y/%m/%d"),
            "amb": ["01/02/2024", "03/04/2024"] * 30,
            "y": ["a", "b"] * 30,
        }
    )
    found = drafted(root, table, "y", time="day")
    schema = found["config"]["schema"]
    columns = schema["columns"]
    assert {c: (columns[c]["dtype"], columns[c].get("format")) for c in table} == {
        "day": ("datetime", "%d/%m/%Y"),
        "seen": ("datetime", "%m/%d/%Y %H:%M"),
        "stamp": ("datetime", "%d.%m.%Y %H:%M:%S"),
        "ymd": ("datetime", "%Y/%m/%d"),
        "amb": ("str", None),
        "y": ("str", None),
    }
    assert columns["day"]["time"] is True
    assert columns["day"]["expect"] == {  # bounds stay ISO whatever the column's format
        "ge": moments.min().strftime("%Y-%m-%d"),
        "le": moments.max().strftime("%Y-%m-%d"),
    }
    assert any(
        note.startswith("column 'amb' holds dates such as '01/02/2024', where no value tells")
        and "format: '%d/%m/%Y' (day first) or '%m/%d/%Y' (month first)" in note
        for note in found["notes"]
    )
    read = read_table(root / "data" / "t.csv")
    summary = validate_table(read, schema, where="t.csv", fix_in="conf")
    assert summary["status"] == "passed"
    assert read["stamp"].tolist() == moments.tolist()
    assert read["seen"].tolist() == moments.floor("min").tolist()
    assert read["day"].tolist() == moments.normalize().tolist()
    bad = table.astype(object)
    bad.loc[3, "day"] = moments[3].strftime("%Y-%m-%d")  # ISO, in a day-first column
    bad.loc[5, "seen"] = "13/05/2024 10:00"  # day first, in a month-first column
    bad.to_csv(root / "data" / "bad.csv", index=False)
    with pytest.raises(ValidationFailed) as caught:
        validate_table(read_table(root / "data" / "bad.csv"), schema, where="bad.csv", fix_in="c")
    message = str(caught.value)
    assert "not a date/time in the column's format %d/%m/%Y (e.g. 31/01/2024)" in message
    assert f"row 3: {moments[3].strftime('%Y-%m-%d')}" in message
    assert "row 5: 13/05/2024 10:00" in message
    checked = CompiledSchema(schema, target="y").check_pandas(bad.drop(columns="y"))
    refused = {(f.column, f.reason, tuple(f.rows)) for f in checked.failures}
    assert refused == {
        ("day", "not a date/time in the column's format %d/%m/%Y (e.g. 31/01/2024)", (3,)),
        (
            "seen",
            "not a date/time in the column's format %m/%d/%Y %H:%M (e.g. 01/31/2024 16:45)",
            (5,),
        ),
    }


def test_numbers_with_a_decimal_comma_are_named_with_the_way_to_read_them(
    tmp_path: Path,
) -> None:
    """A ';'-delimited export with decimal commas: the amounts are not drafted as hundreds
    of categories under an 'identifier?' note, but named, with a command that re-saves the
    file; run, it makes them numbers."""
    root = git_dvc_repo(tmp_path / "repo")
    rng = np.random.default_rng(8)
    amounts = rng.normal(1500, 400, 120).round(2)
    table = pd.DataFrame(
        {
            "betrag": [
                f"{v:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") for v in amounts
            ],
            "menge": rng.integers(1, 9, 120),
            "klasse": rng.choice(["ja", "nein"], 120),
        }
    )
    path = root / "data" / "euro.csv"
    table.to_csv(path, sep=";", index=False)
    registration = add_dataset(path, "klasse", root=root)
    spec = yaml.safe_load(registration.config_path.read_text())["schema"]["columns"]["betrag"]
    assert spec == {"dtype": "str"}
    (note,) = [n for n in registration.notes if "betrag" in n]
    assert "decimal comma" in note and "distinct text values" not in note
    command = note.split("e.g. ", 2)[2]
    assert command.startswith('python -c "') and "sep=';', decimal=','" in command
    subprocess.run(
        [sys.executable, "-c", command.removeprefix('python -c "').removesuffix('"')],
        cwd=root,
        check=True,
    )
    again = add_dataset(path, "klasse", root=root, force=True)
    spec = yaml.safe_load(again.config_path.read_text())["schema"]["columns"]["betrag"]
    assert spec["dtype"] == "float64"
    np.testing.assert_allclose(read_table(path, delimiter=";")["betrag"], amounts)


def test_a_file_git_already_tracks_gets_dvcs_own_reason(tmp_path: Path) -> None:
    """`dvc add` ran with --quiet, which hid DVC's reason: the error said 'failed: ' and
    nothing."""
    root = git_dvc_repo(tmp_path / "repo")
    shop(50, 1).to_csv(root / "data" / "t.csv", index=False)
    subprocess.run(["git", "add", "data/t.csv"], cwd=root, check=True, env=project_env())
    with pytest.raises(DataError) as caught:
        add_dataset(root / "data" / "t.csv", "churn", root=root)
    assert (caught.value.kind, caught.value.path) == ("dvc-failed", "data/t.csv")
    assert "already tracked by SCM" in str(caught.value)
    assert "git rm -r --cached 'data/t.csv'" in str(caught.value)
    assert not (root / "conf" / "data" / "t.yaml").exists()


def test_true_false_with_missing_values_passes_the_draft_it_was_given(tmp_path: Path) -> None:
    """A yes/no flag with gaps, from CSV (read as objects) and Parquet (pandas' `boolean`):
    data add drafted `dtype: bool, nullable: true`, then ingest refused its own draft
    ('wrong type'), and predict refused every CSV row ('True' is no number). Now both read
    it, and only a value that is no truth value is refused, with its row."""
    root = git_dvc_repo(tmp_path / "repo")
    rng = np.random.default_rng(6)
    table = shop(80, 2).assign(
        member=pd.array(rng.choice([True, False], 80), dtype="boolean"),
        visits=lambda t: pd.array(t["visits"], dtype="Int64"),
    )
    table.loc[[3, 9], "member"] = pd.NA
    table.loc[4, "visits"] = pd.NA
    for name in ("t.parquet", "t.csv"):  # the CSV's draft is checked against below
        path = root / "data" / name
        table.to_csv(path, index=False) if name.endswith(".csv") else table.to_parquet(path)
        registration = add_dataset(path, "churn", root=root, name="t", force=True)
        schema = yaml.safe_load(registration.config_path.read_text())["schema"]
        assert schema["columns"]["member"] == {"dtype": "bool", "nullable": True}, name
        summary = validate_table(read_table(path), schema, where=name, fix_in="conf")
        assert summary["status"] == "passed", name
    bad = table.astype({"member": object})
    bad.loc[5, "member"] = "yes"
    bad.to_csv(root / "data" / "bad.csv", index=False)
    with pytest.raises(ValidationFailed) as caught:
        validate_table(read_table(root / "data" / "bad.csv"), schema, where="b", fix_in="c")
    assert "wrong type (expected bool)  1         row 5: yes" in str(caught.value)
    # predict's and the server's reading: text as CSV writes it, JSON's true/false
    compiled = CompiledSchema(schema, target="churn")
    rows = table.drop(columns="churn").astype(str).replace({"<NA>": None})
    assert compiled.check_pandas(rows).failures == []
    values, problems = to_numbers(["True", "false", "1", "0", None, True, "yes", 2], "bool")
    np.testing.assert_array_equal(values[:6], [1.0, 0.0, 1.0, 0.0, np.nan, 1.0])
    assert [(reason, shown) for _, reason, shown in problems] == [
        ("not true/false (the column is bool)", ["yes", 2.0])
    ]


def test_a_column_format_is_checked_where_it_is_given(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from dockyard.config import compose, validate

    def refused(*overrides: str) -> ConfigError:
        with pytest.raises(ConfigError) as caught:
            validate(compose(["data=breast_cancer", *overrides], conf_root))
        return caught.value

    from .helpers import ROOT as conf_root

    column = "data.schema.columns.target"
    error = refused(f"+{column}.format=%d/%m/%Y")
    assert (error.kind, error.key) == ("conflict", f"{column}.format")  # not a datetime column
    cfg = compose(["data=breast_cancer"], conf_root)
    OmegaConf.set_struct(cfg, False)
    cfg.data.schema.columns["when"] = {"dtype": "datetime", "format": "%Y"}
    with pytest.raises(ConfigError) as caught:
        validate(cfg)
    assert (caught.value.kind, caught.value.key) == ("bad-value", "data.schema.columns.when.format")
    assert "does not write and read back a date" in str(caught.value)
    cfg.data.schema.columns["when"] = {"dtype": "datetime", "format": "%d/%m/%Y", "time": True}
    cfg.data.source["time_format"] = "%m/%d/%Y"
    with pytest.raises(ConfigError) as caught:
        validate(cfg)
    assert (caught.value.kind, caught.value.key) == ("conflict", "data.source.time_format")
    cfg.data.source["time_format"] = "%d/%m/%Y"
    assert validate(cfg).data.schema.columns["when"].format == "%d/%m/%Y"


def test_datetime_parts_equal_pandas_own() -> None:
    rng = np.random.default_rng(3)
    stamps = pd.Series(
        pd.to_datetime("2020-01-01")
        + pd.to_timedelta(rng.integers(0, 5 * 365 * 86400, 2000), unit="s")
    )
    wall, _ = to_wall_clock(stamps)
    parts = datetime_parts(wall, ["year", "month", "dayofweek", "hour", "month_sin"])
    assert np.array_equal(parts["year"], stamps.dt.year.to_numpy(dtype=float))
    assert np.array_equal(parts["month"], stamps.dt.month.to_numpy(dtype=float))
    assert np.array_equal(parts["dayofweek"], stamps.dt.day_of_week.to_numpy(dtype=float))
    hours = stamps.dt.hour + stamps.dt.minute / 60 + stamps.dt.second / 3600
    assert np.allclose(parts["hour"], hours.to_numpy())
    assert np.allclose(parts["month_sin"], np.sin(2 * np.pi * (stamps.dt.month - 1) / 12))


def test_time_split_trains_on_the_past_and_tests_on_the_newest() -> None:
    rng = np.random.default_rng(0)
    times = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.permutation(100), unit="D")
    parts = time_indices(times.to_numpy(), val_fraction=0.15, test_fraction=0.2)
    sizes = {name: len(rows) for name, rows in parts.items()}
    assert sizes == {"train": 65, "val": 15, "test": 20}
    newest = {name: times[rows].max() for name, rows in parts.items()}
    oldest = {name: times[rows].min() for name, rows in parts.items()}
    assert newest["train"] < oldest["val"] and newest["val"] < oldest["test"]


def test_batches_are_ordered_by_their_time_not_their_names(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    for name, start in (("a.csv", "2024-03-01"), ("b.csv", "2024-01-01"), ("c.csv", "2024-02-01")):
        days = pd.date_range(start, periods=3, freq="D").strftime("%Y-%m-%d")
        pd.DataFrame({"day": days, "x": [1, 2, 3]}).to_csv(folder / name, index=False)
    assert [p.name for p in batch_files(folder)] == ["a.csv", "b.csv", "c.csv"]
    assert [p.name for p in batch_files(folder, time="day")] == ["b.csv", "c.csv", "a.csv"]
    # day-first dates, read by the column's format: by name order 'a' (12/01) would sort
    # after 'b' (13/01) as text, and a month-first reading would put 'a' in December
    for name, start in (("a.csv", "2024-01-12"), ("b.csv", "2024-01-03"), ("c.csv", "2024-01-07")):
        days = pd.date_range(start, periods=3, freq="D").strftime("%d/%m/%Y")
        pd.DataFrame({"day": days, "x": [1, 2, 3]}).to_csv(folder / name, index=False)
    ordered = batch_files(folder, time="day", time_format="%d/%m/%Y")
    assert [p.name for p in ordered] == ["b.csv", "c.csv", "a.csv"]


# ----------------------------------------------------------------------------- features


def dated_table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    placed = pd.to_datetime("2024-01-01", utc=True) + pd.to_timedelta(
        rng.integers(0, 365 * 86400, n), unit="s"
    )
    return pd.DataFrame(
        {
            "placed": placed,
            "day": placed.tz_localize(None).normalize(),
            "x": rng.normal(size=n),
            "label": rng.choice(["a", "b"], n),
        }
    )


def test_datetime_parts_are_fitted_and_serving_derives_the_same_columns() -> None:
    from dockyard.serve.transform import CompiledTransform

    train, new = dated_table(400, 0), dated_table(50, 1)
    transform = fit_transform(
        train,
        target="label",
        task="classification",
        policy=POLICY,
        timezones={"placed": "Europe/Berlin"},
    )
    assert transform.datetimes == {
        "placed": ["year", "month", "dayofweek", "hour"],
        "day": ["year", "month", "dayofweek"],  # dates alone: no hour
    }
    assert transform.input_columns == ["x", "placed", "day"]
    # the reference (pandas) against the scoring path (checked JSON-like text columns)
    reference = FeatureTransform(**vars(transform)).features(new)
    schema = CompiledSchema(
        {
            "columns": {
                "placed": {"dtype": "datetime", "tz": "Europe/Berlin"},
                "day": {"dtype": "datetime"},
                "x": {"dtype": "float64"},
            }
        },
        target="label",
    )
    as_text = {
        "placed": [t.isoformat() for t in new["placed"]],
        "day": new["day"].dt.strftime("%Y-%m-%d").tolist(),
        "x": new["x"].tolist(),
    }
    checked = schema.check(as_text)
    assert not checked.failures
    served, failures = CompiledTransform(transform).features(checked)
    assert not failures
    assert np.array_equal(served, reference)
    hour = transform.output_columns.index("placed.hour")
    local = new["placed"].dt.tz_convert("Europe/Berlin")
    expected = local.dt.hour + local.dt.minute / 60 + local.dt.second / 3600
    scaled = (expected - transform.mean["placed.hour"]) / transform.scale["placed.hour"]
    assert np.allclose(reference[:, hour], scaled.to_numpy(), atol=1e-5)
    dropped = fit_transform(
        train, target="label", task="classification", policy={**POLICY, "datetime": "drop"}
    )
    assert dropped.output_columns == ["x"]


# ----------------------------------------------------------------------------- soft ranges


def test_drafted_ranges_never_refuse_fresh_batches_of_the_same_distribution(
    tmp_path: Path,
) -> None:
    root = git_dvc_repo(tmp_path / "repo")
    schema = drafted(root, shop(5000, 0), "churn")["config"]["schema"]
    visits = schema["columns"]["visits"]
    assert visits["ge"] == 0 and "le" not in visits  # the sign is certain, the maximum not
    assert visits["expect"]["le"] >= 8
    compiled = CompiledSchema(schema, target="churn")
    refused = [seed for seed in range(1, 101) if compiled.check_pandas(shop(1000, seed)).failures]
    assert refused == []
    big = shop(300_000, 999)
    assert big["visits"].max() > visits["expect"]["le"]  # past the first sample's extremes
    summary = validate_table(big, schema, where="big.csv", fix_in="conf", target="churn")
    outside = summary["outside_expected"]["visits"]
    assert outside["rows"] == int((big["visits"] > visits["expect"]["le"]).sum())
    # a range the user writes stays hard
    schema["columns"]["visits"]["le"] = 9
    with pytest.raises(ValidationFailed) as caught:
        validate_table(big, schema, where="big.csv", fix_in="conf", target="churn")
    assert (caught.value.kind, caught.value.column) == ("validation", "visits")
    assert "above the maximum (le: 9)" in str(caught.value)  # the check and its bound
    assert compiled.check_pandas(shop(1000, 1).assign(fee=-1.0)).failures[0].reason == (
        "below the minimum (ge: 0)"
    )


# ----------------------------------------------------------------------------- wording


def test_refusals_cut_long_values_refuse_booleans_and_report_inf_once() -> None:
    schema = CompiledSchema(
        {
            "columns": {
                "fee": {"dtype": "float64", "le": 5},
                "day": {"dtype": "datetime", "ge": "2024-01-01"},
            }
        }
    )
    checked = schema.check(
        {
            "fee": [float("inf"), True, "x" * 5_000_000, 1.0],
            "day": ["2023-12-31", "2024-02-01 10:00", None, "tomorrow"],
        }
    )
    summary = summarise(checked.failures)
    reasons = {(e["column"], e["reason"]): [x["row"] for x in e["examples"]] for e in summary}
    assert reasons == {
        ("fee", "infinite value (allow_inf is false)"): [0],
        ("fee", "not a number (true/false in a float64 column)"): [1],
        ("fee", "not a number (the column is float64)"): [2],
        ("day", "before the minimum (ge: 2024-01-01)"): [0],
        ("day", "missing value (the column is not nullable)"): [2],
        (
            "day",
            "not a date/time (the column is datetime; write ISO 8601, e.g. 2024-01-05 or "
            "2024-01-05T10:30:00)",
        ): [3],
    }
    text = describe(summary, "the input", "conf", int(checked.bad_rows().sum()))
    assert len(text) < 2_000
    assert "... (5,000,002 characters)" in text
    assert len(checked.reasons()[2]) < 200
    values, problems = to_numbers(pd.Series([True, False]), "float64")
    assert np.isnan(values).all() and problems[0][1].startswith("not a number (true/false")
    assert to_numbers([True, False], "bool")[0].tolist() == [1.0, 0.0]


def test_pipeline_report_cuts_long_cells() -> None:
    table = pd.DataFrame({"x": ["y" * 100_000, "1.5"], "t": [0, 1]})
    schema = {"columns": {"x": {"dtype": "float64"}, "t": {"dtype": "int64"}}, "strict": True}
    with pytest.raises(ValidationFailed) as caught:
        validate_table(table, schema, where="t.csv", fix_in="conf")
    assert len(str(caught.value)) < 1_000
    assert "(100,000 characters)" in str(caught.value)


# ----------------------------------------------------------------------------- config


def test_compose_checks_time_settings() -> None:
    from dockyard.config import compose_params

    root = Path(__file__).resolve().parents[1]
    with pytest.raises(ConfigError) as caught:
        compose_params(["split.by=time"], root)
    assert (caught.value.kind, caught.value.key) == ("conflict", "split.by")
    with pytest.raises(ConfigError) as caught:
        compose_params(["++data.schema.columns.target.tz=UTC"], root)
    assert (caught.value.kind, caught.value.key) == ("conflict", "data.schema.columns.target.tz")
    assert caught.value.column == "target"
    with pytest.raises(ConfigError) as caught:
        compose_params(["++data.schema.columns.target.ge=soon"], root)
    assert (caught.value.kind, caught.value.key) == ("wrong-type", "data.schema.columns.target.ge")
    assert caught.value.column == "target"
    assert "is 'soon'" in str(caught.value)  # the value found


def test_a_stage_refuses_the_silent_switch_back_to_the_default_dataset(tmp_path: Path) -> None:
    """params.yaml committed with data=shop while conf/ defaults to digits: what `dvc exp
    run -S train.lr=...` composes after a commit made with `dvc exp run -S data=shop`."""
    from dockyard.config import refuse_silent_switch

    root = tmp_path / "repo"
    (root / "conf" / "data").mkdir(parents=True)
    (root / "conf" / "config.yaml").write_text("defaults:\n  - data: digits\n  - _self_\n")
    for name in ("digits", "shop"):
        (root / "conf" / "data" / f"{name}.yaml").write_text(f"name: {name}\n")
    (root / "params.yaml").write_text("data:\n  name: shop\n")
    env = project_env()
    for args in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        subprocess.run(args, cwd=root, env=env, check=True, capture_output=True)
    refuse_silent_switch("shop", root)  # what was committed: fine
    with pytest.raises(ConfigError) as caught:
        refuse_silent_switch("digits", root)
    assert (caught.value.kind, caught.value.key) == ("dataset-switch", "data")
    message = str(caught.value)
    # the one wording check for kind 'dataset-switch'
    assert message.startswith(
        "This run trains on data=digits, conf/config.yaml's default, but the committed "
        "params.yaml trains on data=shop: "
    )
    assert "`dockyard use data=shop`" in message  # the fix
    # a default changed in the workspace and not yet committed (`data add --default`) is fine
    (root / "params.yaml").write_text("data:\n  name: digits\n")
    subprocess.run(["git", "commit", "-qam", "y"], cwd=root, env=env, check=True)
    (root / "conf" / "config.yaml").write_text("defaults:\n  - data: shop\n  - _self_\n")
    refuse_silent_switch("shop", root)


def test_an_entirely_empty_column_is_reported_once() -> None:
    table = pd.DataFrame({"fee": [None] * 4, "t": [0, 1, 0, 1]}, dtype=object).astype({"t": int})
    schema = {"columns": {"fee": {"dtype": "float64", "nullable": True}, "t": {"dtype": "int64"}}}
    with pytest.raises(ValidationFailed) as caught:
        validate_table(table, {**schema, "strict": True}, where="b.csv", fix_in="conf")
    assert (caught.value.kind, caught.value.column) == ("validation", "fee")
    message = str(caught.value)
    assert "1 failure(s) in column(s) fee" in message
    assert "entirely empty (all 4 values missing)" in message and "wrong type" not in message
