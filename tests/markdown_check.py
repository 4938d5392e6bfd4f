"""A structural check of dockyard's markdown: well-formed tables and parseable xycharts."""

from __future__ import annotations

import re


def _cells(line: str) -> list[str]:
    inner = line.strip()[1:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner)]


def check_tables(text: str) -> int:
    """Every table: a header, a separator with as many columns, rows with as many cells."""
    lines = text.splitlines()
    tables, i = 0, 0
    while i < len(lines):
        if lines[i].startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            assert len(block) >= 2, f"table without separator: {block}"
            width = len(_cells(block[0]))
            separator = _cells(block[1])
            assert len(separator) == width and all(
                re.fullmatch(r":?-{3,}:?", c) for c in separator
            ), block[:2]
            for row in block[2:]:
                assert row.endswith("|"), row
                assert len(_cells(row)) == width, (
                    f"{len(_cells(row))} cells, header has {width}: {row}"
                )
            tables += 1
        else:
            i += 1
    return tables


def check_xycharts(text: str) -> int:
    """Each mermaid block is an xychart-beta: one x-axis, one y-axis, equal-length lines."""
    blocks = re.findall(r"```mermaid\n(.*?)```", text, flags=re.S)
    for block in blocks:
        lines = [line.strip() for line in block.strip().splitlines()]
        body = [line for line in lines if not line.startswith("%%")]
        assert body[0] == "xychart-beta", body[0]
        x_axes = [line for line in body if line.startswith("x-axis")]
        y_axes = [line for line in body if line.startswith("y-axis")]
        series = [line for line in body if line.startswith("line")]
        assert len(x_axes) == 1 and len(y_axes) == 1 and series, body
        categories = re.fullmatch(r"x-axis \[(.+)\]", x_axes[0]).group(1).split(",")
        y = re.fullmatch(r'y-axis "[^"]+" (\S+) --> (\S+)', y_axes[0])
        low, high = float(y.group(1)), float(y.group(2))
        assert low < high
        for line in series:
            values = [float(v) for v in re.fullmatch(r"line \[(.+)\]", line).group(1).split(",")]
            assert len(values) == len(categories)
            assert all(low <= v <= high for v in values)
        for line in body[1:]:
            assert re.match(r"(title \"|x-axis \[|y-axis \"|line \[)", line), line
    return len(blocks)
