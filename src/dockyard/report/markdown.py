"""Markdown that GitHub renders as written: escaped text, safe code spans, aligned tables.

Every table cell is escaped unless it was built as markdown here (`code`, `link`, `Md`), so
an identifier such as `model.net._target_` never loses its underscores to emphasis and a `|`
never splits a cell.
"""

from __future__ import annotations

import html
import re
from typing import Any

# ASCII punctuation that starts inline markup (CommonMark lets any ASCII punctuation be
# backslash-escaped; these are the ones that change what a cell shows).
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#@])")


class Md(str):
    """Text that is already markdown: table cells and captions leave it as it is."""


def escape(text: Any) -> Md:
    """Plain text as markdown that shows exactly that text (one line)."""
    return Md(_SPECIAL.sub(r"\\\1", _one_line(str(text))))


def code(text: Any) -> Md:
    """A code span holding `text` verbatim, also inside a table cell.

    The fence is longer than any run of backticks inside; a `|` is escaped because GFM
    splits table cells before it looks for code spans.
    """
    text = _one_line(str(text))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return Md(f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|"))


def codes(items: list[Any], separator: str = ", ") -> Md:
    return Md(separator.join(code(item) for item in items))


def link(text: str, url: str) -> Md:
    return Md(f"[{escape(text)}]({url.replace(' ', '%20').replace(')', '%29')})")


def html_code(text: Any) -> str:
    """A code element for HTML blocks (`<summary>`), where markdown is not parsed."""
    return f"<code>{html.escape(str(text))}</code>"


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Md):
        # markdown built here: only a bare pipe could still split the cell
        return re.sub(r"(?<!\\)\|", r"\\|", _one_line(value))
    return escape(value)


def table(header: list[Any], rows: list[list[Any]], right: set[int] | None = None) -> list[str]:
    """A GFM table; columns whose index is in `right` are right-aligned (numbers)."""
    right = right or set()
    lines = [
        "| " + " | ".join(cell(h) for h in header) + " |",
        "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|",
    ]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} cells under a header of {len(header)}")
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return lines


def details(summary: str, body: list[str]) -> list[str]:
    """A folded block; `summary` is HTML (use html_code for identifiers)."""
    return [f"<details><summary>{summary}</summary>", "", *body, "", "</details>"]


# ----------------------------------------------------------------------------- numbers


def _exponent(text: str) -> str:
    """1.2e-05 written as 1.2e-5."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", text)


def number(value: float | None, digits: int = 4) -> str:
    """A value with `digits` decimals; one too small for them keeps two significant digits
    (never 0.0000 or -0.0000 for something that is not zero), and zero reads 0."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    if abs(value) < 0.5 * 10**-digits:
        return _exponent(f"{value:.1e}")
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 4) -> str:
    """A signed change, written as `number` writes values, with its sign; zero reads 0."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    if abs(value) < 0.5 * 10**-digits:
        return _exponent(f"{value:+.1e}")
    return f"{value:+.{digits}f}"


def percent(value: float | None) -> str:
    """A relative change (a fraction) in percent with two decimals; one too small for them
    keeps two significant digits of the percentage (-2.8e-5 reads -0.0028%); zero reads 0."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    share = value * 100
    if abs(share) < 0.005:
        return _exponent(f"{share:+.2g}") + "%"
    return f"{share:+.2f}%"


def size(value: float | None) -> str:
    """Bytes in B, KiB or MiB."""
    if value is None:
        return "—"
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale:
            return f"{value / scale:,.1f} {unit}"
    return f"{value:,.0f} B"
