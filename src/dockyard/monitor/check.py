"""One monitoring run: a current batch against a reference, feature by feature, in the
model's predictions and (when the batch carries labels) in the model's metrics.

The model is used only through `serve.scoring.Scorer`, so its rows are checked and
transformed exactly as batch prediction and the HTTP server do; the features compared
are the columns the model's transform reads (its schema minus the target and keys), each
as numeric or categorical the way the transform treats it, a number against the range its
schema expects. Every test of one batch (each feature's distribution, missing share and
out-of-range share, and the predictions) is one Benjamini-Hochberg family: a batch is a
single question, and testing predictions apart would add a second chance of a false
alarm. Everything here is a pure function of tables and a scorer; `monitor.run` and
`monitor.pipeline` find them in a project.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from dockyard.drift import (
    CATEGORICAL,
    NUMERIC,
    Range,
    adjust_together,
    compare_feature,
    compare_table,
)
from dockyard.errors import DataError
from dockyard.monitor.policy import DECAY, DRIFT, MonitorPolicy
from dockyard.serve.scoring import PREDICTION, Scored, Scorer

OK, SKIPPED = "ok", "skipped"


def feature_kinds(scorer: Scorer, columns: list[str]) -> dict[str, str]:
    """The model's input features among `columns`, numeric or categorical as its
    transform reads them (keys and the target are no features)."""
    reads = scorer.transform.columns
    return {
        c: NUMERIC if reads[c] == "float64" else CATEGORICAL  # datetimes: see _presence
        for c in columns
        if c in reads and c not in scorer.keys and c != scorer.target
    }


def _presence(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Datetime columns as present/missing: time moves on by design (a new batch is always
    newer), so only a datetime column's missing share is a drift signal."""
    if not columns:
        return table
    marks = {c: table[c].notna().map({True: "present", False: None}) for c in columns}
    return table.assign(**marks)


def expected_ranges(schema_cfg: Mapping[str, Any], columns: list[str]) -> dict[str, Range]:
    """The range each of `columns` is expected in, where its schema entry has one: each
    bound from the soft `expect: {ge, le}` (the observed range `data add` drafts, which
    refuses nothing), else the hard `ge`/`le`."""
    specs = schema_cfg.get("columns") or {}
    patterns = [(re.compile(str(n)), s) for n, s in specs.items() if s and s.get("regex")]
    ranges: dict[str, Range] = {}
    for column in columns:
        spec = specs.get(column)
        if spec is None:
            spec = next((s for pattern, s in patterns if pattern.fullmatch(column)), None)
        spec = spec or {}
        expect = spec.get("expect") or {}
        low, high = (_number(expect.get(b, spec.get(b))) for b in ("ge", "le"))
        if low is not None or high is not None:
            ranges[column] = (low, high)
    return ranges


def _number(bound: Any) -> float | None:
    """A numeric bound as a float; None for no bound (or a date's, which is no number)."""
    if isinstance(bound, bool) or not isinstance(bound, int | float):
        return None
    return float(bound)


def score_table(scorer: Scorer, table: pd.DataFrame) -> Scored:
    """Every row the model's schema accepts, scored; refused rows are left out."""
    checked = scorer.schema.check_pandas(table)
    carried = {scorer.target: table[scorer.target]} if scorer.target in table.columns else None
    return scorer.score(checked, carried)


def check_batch(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    scorer: Scorer,
    policy: MonitorPolicy,
    prediction_reference: pd.DataFrame | None = None,
) -> tuple[dict[str, Any], dict[str, Scored]]:
    """Every feature and the model's predictions of `current` against `reference`, and
    the scored tables ("current", "prediction_reference") for performance.

    Predictions are compared on `prediction_reference` when given: rows the model never
    trained on (the validation and test splits), since a model fits its own training rows
    more closely than any new rows, which would show as prediction drift on an unchanged
    batch."""
    kinds = feature_kinds(scorer, [str(c) for c in reference.columns])
    if not kinds:
        raise DataError(
            "None of the model's input features is in the reference table "
            f"({', '.join(map(str, reference.columns[:10]))}): compare a table of the same "
            "dataset, such as data/prepared/train.parquet.",
            kind="missing-column",
        )
    numeric = [c for c, kind in kinds.items() if kind == NUMERIC]
    ranges = expected_ranges(scorer.schema_cfg, numeric)
    dated = [c for c in kinds if scorer.transform.columns[c] == "datetime"]
    features = compare_table(
        _presence(reference, dated), _presence(current, dated), kinds, policy.drift, ranges
    )
    scored = {
        "current": score_table(scorer, current),
        "prediction_reference": score_table(
            scorer, reference if prediction_reference is None else prediction_reference
        ),
    }
    refused = {
        side: 0 if scored[key].bad is None else int(len(scored[key].bad))
        for side, key in (("reference", "prediction_reference"), ("current", "current"))
    }
    values = _predictions(scorer, scored["prediction_reference"], scored["current"])
    if values is None:
        judged = adjust_together(features, policy.drift)
        prediction: dict[str, Any] = {"tested": False, "refused_rows": refused, "drifted": False}
    else:
        kind = CATEGORICAL if scorer.task == "classification" else NUMERIC
        compared = compare_feature(*values, kind, policy.drift, column=PREDICTION)
        judged = adjust_together([*features, compared], policy.drift)
        prediction = {"tested": True, "refused_rows": refused, **judged.pop().to_dict()}
        if kind == CATEGORICAL:  # a list, so `dvc metrics show` lists none of it
            prediction["shares"] = _class_shares(*values)
    features_out = [f.to_dict() for f in judged]
    for entry in features_out:  # compared as present/missing only (see _presence)
        if entry["column"] in dated:
            entry["kind"] = "datetime"
    return {"features": features_out, "prediction": prediction}, scored


def _predictions(
    scorer: Scorer, reference: Scored, current: Scored
) -> tuple[pd.Series, pd.Series] | None:
    """The predicted classes (as text) or values of both sides; None when a side has no
    scored row."""
    if reference.rows == 0 or current.rows == 0:
        return None
    values = [pd.Series(side.columns[PREDICTION]) for side in (reference, current)]
    if scorer.task == "classification":
        values = [v.astype(str) for v in values]
    return values[0], values[1]


def _class_shares(reference: pd.Series, current: pd.Series) -> list[dict[str, Any]]:
    shares = [s.value_counts(normalize=True) for s in (reference, current)]
    return [
        {
            "class": str(label),
            "reference": round(float(shares[0].get(label, 0.0)), 6),
            "current": round(float(shares[1].get(label, 0.0)), 6),
        }
        for label in sorted(set(shares[0].index) | set(shares[1].index), key=str)
    ]


def summarise(result: dict[str, Any], reference_rows: int, current_rows: int) -> dict[str, Any]:
    """status, alerts and the summary numbers (the ones `dvc metrics show` lists) of a
    result holding features, prediction and (optionally) performance."""
    features = result.get("features") or []
    prediction = result.get("prediction") or {}
    performance = result.get("performance") or {}
    drifted = [f["column"] for f in features if f["drifted"]]
    decayed = list(performance.get("decayed") or [])
    alerts = ([DRIFT] if drifted or prediction.get("drifted") else []) + (
        [DECAY] if decayed else []
    )
    return {
        "status": "+".join(alerts) or OK,
        "alerts": alerts,
        "summary": {
            "features": len(features),
            "drifted_features": len(drifted),
            "prediction_drifted": int(bool(prediction.get("drifted"))),
            "prediction_effect": prediction.get("effect"),
            "decayed_metrics": len(decayed),
            "reference_rows": int(reference_rows),
            "current_rows": int(current_rows),
        },
    }


def skipped(reason: str) -> dict[str, Any]:
    """What the monitor stage records when there is nothing to compare."""
    return {"status": SKIPPED, "alerts": [], "summary": {}, "notes": [reason]}
