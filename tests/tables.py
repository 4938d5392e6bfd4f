"""Tables the tests generate: never stored in the repository, never seen by the code."""

from __future__ import annotations

import numpy as np
import pandas as pd


def customers(rows: int = 1500, seed: int = 7) -> pd.DataFrame:
    """Mixed numeric and text columns, ~4% missing in two of them, string labels.

    The label follows a noisy rule over plan, income, score and age, so a model can beat
    the majority class by a wide margin.
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    income = rng.normal(50, 15, rows).round(2)
    score = rng.uniform(0, 1, rows).round(3)
    region = rng.choice(["north", "south", "east", "west", "centre"], rows)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    upgrade = (plan == "pro") * 1.5 + (income - 50) / 10
    churn = (score < 0.3) * 2.0 + (age > 60) * 1.0 - (plan == "pro")
    utility = np.stack([np.zeros(rows), upgrade, churn], axis=1)
    utility += rng.gumbel(size=(rows, 3)) * 0.5
    label = np.array(["stay", "upgrade", "churn"])[utility.argmax(axis=1)]
    table = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "score": score,
            "region": region,
            "plan": plan,
            "label": label,
        }
    )
    table.loc[rng.random(rows) < 0.04, "income"] = np.nan
    table.loc[rng.random(rows) < 0.04, "region"] = None
    return table
