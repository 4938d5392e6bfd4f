"""One monitoring run: a current batch against a reference, feature by feature, in the
model's predictions and (when the batch carries labels) in the model's metrics.

The model is used only through `serve.scoring.Scorer`, so its rows are checked and
transformed exactly as batch prediction and the HTTP server do; the features compared
are the columns the model's transform reads (its schema minus the target and keys), each
as numeric or categorical the way the transform treats it. Everything here is a pure
function of tables and a scorer; `monitor.run` and `monitor.pipeline` find them in a
project.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dockyard.errors import DataError
from dockyard.monitor.drift import CATEGORICAL, NUMERIC, feature_drift, table_drift
from dockyard.monitor.policy import DECAY, DRIFT, MonitorPolicy
from dockyard.serve.scoring import PREDICTION, Scored, Scorer

OK, SKIPPED = "ok", "skipped"


def feature_kinds(scorer: Scorer, columns: list[str]) -> dict[str, str]:
    """The model's input features among `columns`, numeric or categorical as its
    transform reads them (keys and the target are no features)."""
    reads = scorer.transform.columns
    return {
        c: NUMERIC if reads[c] == "float64" else CATEGORICAL
        for c in columns
        if c in reads and c not in scorer.keys and c != scorer.target
    }


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
    trained on (the test split), since a model fits its own training rows more closely
    than any new rows, which would show as prediction drift on an unchanged batch."""
    kinds = feature_kinds(scorer, [str(c) for c in reference.columns])
    if not kinds:
        raise DataError(
            "None of the model's input features is in the reference table "
            f"({', '.join(map(str, reference.columns[:10]))}): compare a table of the same "
            "dataset, such as data/prepared/train.parquet."
        )
    features = table_drift(reference, current, kinds, policy.drift)
    scored = {
        "current": score_table(scorer, current),
        "prediction_reference": score_table(
            scorer, reference if prediction_reference is None else prediction_reference
        ),
    }
    prediction = _prediction_drift(
        scorer, scored["prediction_reference"], scored["current"], policy
    )
    return {"features": [f.to_dict() for f in features], "prediction": prediction}, scored


def _prediction_drift(
    scorer: Scorer, reference: Scored, current: Scored, policy: MonitorPolicy
) -> dict[str, Any] | None:
    """The predicted classes (categorical) or values (numeric), compared as a feature."""
    refused = {
        side: 0 if scored.bad is None else int(len(scored.bad))
        for side, scored in (("reference", reference), ("current", current))
    }
    if reference.rows == 0 or current.rows == 0:
        return {"tested": False, "refused_rows": refused, "drifted": False}
    kind = CATEGORICAL if scorer.task == "classification" else NUMERIC
    values = [pd.Series(side.columns[PREDICTION]) for side in (reference, current)]
    if kind == CATEGORICAL:
        values = [v.astype(str) for v in values]
    result = feature_drift(*values, kind, policy.drift, column=PREDICTION)
    entry: dict[str, Any] = {"tested": True, "refused_rows": refused, **result.to_dict()}
    if kind == CATEGORICAL:  # a list, so `dvc metrics show` lists none of it
        shares = [s.value_counts(normalize=True) for s in values]
        entry["shares"] = [
            {
                "class": str(label),
                "reference": round(float(shares[0].get(label, 0.0)), 6),
                "current": round(float(shares[1].get(label, 0.0)), 6),
            }
            for label in sorted(set(shares[0].index) | set(shares[1].index), key=str)
        ]
    return entry


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
