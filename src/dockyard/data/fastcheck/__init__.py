"""A dataset's schema compiled into vectorised numpy checks, for prediction.

`schemas.validate_table` (pandera) is the reference and guards the pipeline. Scoring new
rows asks the same questions many times on small tables (one HTTP request) or on a stream
of chunks (batch prediction), where pandera's fixed cost per call (~10 ms) would be most of
the work. This package asks them with a handful of numpy operations per table and answers
row by row, so bad rows can be refused with their reasons or skipped.

The checks are pandera's (a test compares the two decisions on generated tables), with two
deliberate differences for scoring: values arriving as text (CSV, JSON) are coerced to the
declared dtype, a value that cannot be is a failure of its row; and a nullable column that
is entirely empty is accepted (a one-row request with a missing value is normal). The target
column is not checked: it may come along and is then carried beside the predictions.

Input columns may be numpy arrays, Python lists (JSON), `Text` (dictionary-encoded strings)
or pyarrow arrays; every check works on the coerced form: numbers as one float64 matrix,
text as integer codes into a list of categories.

- `coerce`: any column as numbers or dictionary-encoded text;
- `columns`: a column's compiled spec, `Failure` and the `Checked` table;
- `numeric`, `text`, `datetimes`: the checks of each kind of column;
- `compiled`: `CompiledSchema`, a table's columns resolved against the schema;
- `report`: failures summarised and described in words.
"""

from dockyard.data.fastcheck.coerce import Text, to_numbers, to_text
from dockyard.data.fastcheck.columns import Checked, Failure
from dockyard.data.fastcheck.compiled import ColumnsMismatch, CompiledSchema
from dockyard.data.fastcheck.report import describe, summarise

__all__ = [
    "Checked",
    "ColumnsMismatch",
    "CompiledSchema",
    "Failure",
    "Text",
    "describe",
    "summarise",
    "to_numbers",
    "to_text",
]
