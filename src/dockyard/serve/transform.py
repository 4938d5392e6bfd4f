"""The model's fitted transform applied to checked columns, with numpy alone.

`FeatureTransform.features` (pandas, column by column) is the reference: the featurize
stage trains the model through it. For scoring, its fixed cost per call (a few ms on one
row) would dominate a request, so this module applies the same parameters, read from the
same transform.json, in the same float64 arithmetic: the numeric block in one operation,
each categorical column through a lookup per category. The result equals the reference
bit for bit (tests/test_predict.py compares them on generated tables).
"""

from __future__ import annotations

import numpy as np

from dockyard.data.fastcheck import Checked, Failure, to_numbers, to_text
from dockyard.data.features import FeatureTransform


class CompiledTransform:
    def __init__(self, transform: FeatureTransform):
        self.transform = transform
        self.numeric = list(transform.numeric)
        self.impute = np.array([float(transform.impute[c]) for c in self.numeric])
        self.mean = np.array([float(transform.mean[c]) for c in self.numeric])
        self.scale = np.array([float(transform.scale[c]) for c in self.numeric])
        self.onehot = transform.encoding == "onehot"
        self.refuse_unknown = transform.unknown_category == "error"
        self.categorical = []
        offset = len(self.numeric)
        for column in transform.categorical:
            known = list(transform.categories[column])
            position = {name: index for index, name in enumerate(known)}
            fill = position.get(str(transform.impute[column]), -1)
            self.categorical.append((column, position, fill, offset))
            offset += len(known) if self.onehot else 1
        self.width = offset
        self._index: dict[tuple[str, ...], np.ndarray] = {}
        # datetime parts (numeric features named COLUMN.PART), derived from checked.times
        self.derived = transform.derived_names()

    @property
    def columns(self) -> dict[str, str]:
        """The input columns the transform reads, with the kind of value each needs."""
        return {
            **{c: "float64" for c in self.numeric if c not in self.derived},
            **{c: "datetime" for c in self.transform.datetimes},
            **{c: "str" for c, *_ in self.categorical},
        }

    def features(self, checked: Checked) -> tuple[np.ndarray, list[Failure]]:
        """The float32 matrix, and the rows refused for unseen categories (policy 'error')."""
        out = np.zeros((checked.rows, self.width), dtype=np.float32)
        if self.numeric:
            values = self._numbers(checked)
            values = np.where(np.isnan(values), self.impute, values)
            out[:, : len(self.numeric)] = (values - self.mean) / self.scale
        failures = []
        for column, position, fill, offset in self.categorical:
            text = checked.texts.get(column)
            if text is None:  # declared numeric in the schema, text to the transform
                text = to_text([_as_text(v) for v in checked.number(column)])
            lookup = np.array(
                [position.get(name, -1) for name in text.categories] + [fill], dtype=np.int64
            )
            codes = lookup[text.codes]
            unseen = codes < 0
            if self.refuse_unknown and unseen.any():
                rows = np.flatnonzero(unseen)
                names = [*text.categories, None]
                failures.append(
                    Failure(
                        column,
                        "category never seen in training (featurize.unknown_category is "
                        "'error'; 'ignore' would encode it as all zeros)",
                        rows,
                        [names[c] for c in text.codes[rows]],
                    )
                )
            if self.onehot:
                rows = np.flatnonzero(~unseen)
                out[rows, offset + codes[rows]] = 1.0
            else:
                out[:, offset] = codes
        return out, failures

    def _numbers(self, checked: Checked) -> np.ndarray:
        if self.derived:
            return self._with_parts(checked)
        key = tuple(checked.number_columns)
        index = self._index.get(key)
        if index is None and all(c in checked.number_columns for c in self.numeric):
            index = np.array([checked.number_columns.index(c) for c in self.numeric], dtype=int)
            self._index[key] = index
        if index is not None:
            return checked.numbers[:, index]
        # a numeric feature the schema declares as text: parse it like the reference does
        return np.column_stack(
            [
                checked.number(c)
                if c in checked.number_columns
                else to_numbers(checked.texts[c], "float64")[0]
                for c in self.numeric
            ]
        )

    def _with_parts(self, checked: Checked) -> np.ndarray:
        """The numeric block when datetime parts are among the features: each part from
        the column's checked wall-clock times, the same function the reference uses."""
        from dockyard.data.times import datetime_parts, to_wall_clock

        parts: dict[str, np.ndarray] = {}
        for column, names in self.transform.datetimes.items():
            wall = checked.times.get(column)
            if wall is None:  # declared otherwise in the schema: read it as the reference does
                source = checked.texts.get(column)
                wall = to_wall_clock(source, self.transform.timezones.get(column))[0]
            for part, values in datetime_parts(wall, names).items():
                parts[f"{column}.{part}"] = values
        return np.column_stack(
            [
                parts[c]
                if c in parts
                else checked.number(c)
                if c in checked.number_columns
                else to_numbers(checked.texts[c], "float64")[0]
                for c in self.numeric
            ]
        ).reshape(checked.rows, len(self.numeric))


def _as_text(value: float) -> str | None:
    return None if np.isnan(value) else str(value)
