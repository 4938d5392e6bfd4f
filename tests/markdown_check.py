"""Checks of dockyard's markdown as GitHub reads it: a CommonMark parser with GFM tables
(markdown-it-py) for tables and inline text, and Mermaid's own parser (node) for charts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
# Mermaid and jsdom for tests/mermaid_parse.mjs; git-ignored (.cache/), installed by `make test`
MERMAID_DIR = Path(os.environ.get("DOCKYARD_MERMAID_DIR", ROOT / ".cache" / "mermaid"))
MERMAID_PACKAGES = ("mermaid@11", "jsdom@26")


def parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


@dataclass
class Cell:
    text: str  # what a reader sees (code spans' content included, markup removed)
    codes: list[str] = field(default_factory=list)  # code spans' content
    emphasis: bool = False  # an <em> or <strong> the parser made


@dataclass
class Table:
    header: list[Cell]
    rows: list[list[Cell]]
    align: list[str]  # per column: "right", "left", "center" or ""


def tables(markdown: str) -> list[Table]:
    """Every table as GitHub's parser builds it."""
    found: list[Table] = []
    row: list[Cell] = []
    align: list[str] = []
    inside = False
    for token in parser().parse(markdown):
        if token.type in ("table_open", "table_close"):
            inside = token.type == "table_open"
            if inside:
                found.append(Table([], [], []))
        elif not inside:
            continue
        elif token.type == "tr_open":
            row, align = [], []
        elif token.type in ("th_open", "td_open"):
            style = token.attrGet("style") or ""
            align.append(style.removeprefix("text-align:") if style else "")
        elif token.type == "inline":
            row.append(_cell(token))
        elif token.type == "tr_close":
            table = found[-1]
            if not table.header:
                table.header, table.align = row, align
            else:
                table.rows.append(row)
    return found


def _cell(token) -> Cell:
    cell = Cell("")
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            cell.text += child.content
        if child.type == "code_inline":
            cell.codes.append(child.content)
        if child.type in ("em_open", "strong_open"):
            cell.emphasis = True
    return cell


def _source_cells(line: str) -> int:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return len(re.split(r"(?<!\\)\|", inner))


def check_tables(markdown: str) -> list[Table]:
    """Every source table is a table to the parser, and each row has the header's cells
    (GFM silently drops extra cells and fills missing ones, so the source is counted)."""
    lines = markdown.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            blocks.append(block)
        else:
            i += 1
    parsed = tables(markdown)
    assert len(parsed) == len(blocks), f"{len(blocks)} tables written, {len(parsed)} parsed"
    for block, table in zip(blocks, parsed, strict=True):
        width = _source_cells(block[0])
        assert len(table.header) == width, block[:2]
        for line in block[1:]:
            assert _source_cells(line) == width, f"{_source_cells(line)} cells, not {width}: {line}"
        for row in table.rows:
            assert all(not cell.emphasis for cell in row), f"emphasis in a cell: {row}"
    return parsed


def check_details(markdown: str) -> int:
    """<details> blocks open and close in balance, never closing one that is not open."""
    depth = opened = 0
    for match in re.finditer(r"</?details>", markdown):
        depth += -1 if match.group().startswith("</") else 1
        opened += not match.group().startswith("</")
        assert depth >= 0, "</details> without <details>"
    assert depth == 0, f"{depth} <details> left open"
    return opened


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, flags=re.S | re.M)


def d3_ticks(start: float, stop: float, count: int = 10) -> int:
    """How many labels d3's scale.ticks() (Mermaid's linear axis) puts on [start, stop]."""
    step0 = (stop - start) / count
    power = 10 ** int(f"{step0:e}".split("e")[1])
    error = step0 / power
    factor = 10 if error >= 50**0.5 else 5 if error >= 10**0.5 else 2 if error >= 2**0.5 else 1
    step = factor * power
    first, last = -(-start // step), stop // step
    return int(last - first + 1)


@dataclass
class XYChart:
    title: str
    first: float
    last: float
    low: float
    high: float
    lines: dict[str, list[float]]


def check_xycharts(markdown: str) -> list[XYChart]:
    """Each chart: an epoch axis with few labels (d3's ticks, or one per epoch up to ten),
    a y range holding every point (Mermaid draws points outside it over the title), and
    named lines of equal length."""
    charts = []
    for block in mermaid_blocks(markdown):
        body = [line.strip() for line in block.strip().splitlines() if line.strip()]
        body = [line for line in body if not line.startswith("%%")]
        assert body[0] == "xychart-beta", body[0]
        title = re.fullmatch(r'title "([^"]+)"', body[1]).group(1)
        x = re.fullmatch(r'x-axis "epoch" (\d+) --> (\d+)', body[2])
        band = re.fullmatch(r'x-axis "epoch" \[([\d, ]+)\]', body[2])
        y = re.fullmatch(r'y-axis "[^"]+" (-?[\d.]+) --> (-?[\d.]+)', body[3])
        assert (x or band) and y, body[:4]
        lines = {}
        for line in body[4:]:
            match = re.fullmatch(r'line "(\w+)" \[([-\d., ]+)\]', line)
            assert match, line
            lines[match.group(1)] = [float(v) for v in match.group(2).split(",")]
        lengths = {len(v) for v in lines.values()}
        assert len(lengths) == 1, "lines of different lengths"
        if band:
            epochs = [int(e) for e in band.group(1).split(",")]
            assert len(epochs) <= 12 and lengths == {len(epochs)}, "one label per point"
            first, last = epochs[0], epochs[-1]
        else:
            first, last = int(x.group(1)), int(x.group(2))
            assert d3_ticks(first, last) <= 16, "too many x labels"
            assert lengths.pop() >= 11, "a numeric axis this short labels fractions of epochs"
        chart = XYChart(title, first, last, *map(float, y.groups()), lines)
        assert chart.first < chart.last and chart.low < chart.high
        for values in lines.values():
            assert all(chart.low <= v <= chart.high for v in values), (chart, values)
        charts.append(chart)
    return charts


def mermaid_errors(markdown: str) -> list[str | None]:
    """Mermaid's own parser on every mermaid block. `make test` installs Mermaid into
    .cache/mermaid beforehand (a dev step, like pip's); the test is skipped, saying why, where
    node or that install is missing: tests themselves reach no network."""
    blocks = mermaid_blocks(markdown)
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: Mermaid's parser cannot check the charts")
    if not (MERMAID_DIR / "node_modules" / "mermaid").is_dir():
        pytest.skip(
            f"Mermaid is not installed in {MERMAID_DIR}: run `make test` (its dev step runs "
            f"`npm install --prefix {MERMAID_DIR} {' '.join(MERMAID_PACKAGES)}`)"
        )
    result = subprocess.run(
        [node, str(ROOT / "tests" / "mermaid_parse.mjs"), str(MERMAID_DIR)],
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["results"]


# ----------------------------------------------------------------------------- table width

# GitHub sets comment text in a 14 px system sans-serif and code spans in a monospace at 85%
# with 0.4 em of padding each side; table cells are padded 13 px left and right, with 1 px
# borders. Advance widths are Helvetica's (Arial's, Liberation Sans'), in thousandths of an
# em; an emoji takes 1.25 em. A table wider than the comment column makes GitHub wrap its
# cells ("0.9629 ± / 0.0016").
FONT_PX, CODE_CHAR_PX, CODE_PAD_PX, CELL_PAD_PX = 14.0, 14.0 * 0.85 * 0.6, 14.0 * 0.85 * 0.8, 27.0
_WIDTHS = {
    **dict.fromkeys("0123456789abdeghnopqu_#$?", 556),
    **dict.fromkeys(" .,/:;!fitIjl", 278),
    **dict.fromkeys("ijl", 222),
    **dict.fromkeys("ckmsvxyz", 500),
    **dict.fromkeys("+±=×<>~", 584),
    **dict.fromkeys("-()r", 333),
    "m": 833,
    "w": 722,
    "%": 889,
    "—": 1000,
    "→": 1000,
    "…": 1000,
    "α": 578,
    "≥": 584,
    "\ufe0f": 0,
}
TABLE_MAX_PX = 820


def _text_px(text: str) -> float:
    width = 0.0
    for char in text:
        if ord(char) >= 0x2600 and char not in _WIDTHS:  # emoji and pictographs
            width += 1250
        else:
            width += _WIDTHS.get(char, 667 if char.isupper() else 556)
    return width * FONT_PX / 1000


def cell_px(cell: Cell, bold: bool = False) -> float:
    """The unwrapped width of a cell's content as GitHub draws it (approximately)."""
    plain = cell.text
    for span in cell.codes:
        plain = plain.replace(span, "", 1)
    codes = sum(len(span) * CODE_CHAR_PX + CODE_PAD_PX for span in cell.codes)
    return _text_px(plain) * (1.05 if bold else 1.0) + codes


def table_px(table: Table) -> float:
    """The width the table needs for no cell to wrap."""
    columns = [
        max([cell_px(table.header[i], bold=True)] + [cell_px(row[i]) for row in table.rows])
        for i in range(len(table.header))
    ]
    return sum(columns) + CELL_PAD_PX * len(columns) + 1
