"""The one Markdown table writer of graphfm's reports (benchmarks, scripts).

Example::

    lines = markdown_table(["target", "mean"], [["Cora", 61.234], ["Photo", None]])
    # ['| target | mean |', '|---|---|', '| Cora | 61.23 |', '| Photo | – |']
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, List, Sequence

__all__ = ["markdown_table", "markdown_row", "cell"]


def cell(value: Any) -> str:
    """A table cell: floats with two decimals, ``None`` as ``–``, anything else as ``str``."""
    if isinstance(value, float):
        return f"{value:.2f}"
    if value is None:
        return "–"
    return str(value)


def markdown_table(header: Sequence[Any], rows: Iterable[Sequence[Any]],
                   fmt: Callable[[Any], str] = cell) -> List[str]:
    """The lines of a Markdown table: the header, its separator, one line per row.

    Args:
        header: Column titles.
        rows: One sequence of values per row.
        fmt (callable): Writes a value as its cell. (default: :func:`cell`)
    """
    return [markdown_row(header, str), "|" + "---|" * len(header), *(markdown_row(row, fmt) for row in rows)]


def markdown_row(cells: Sequence[Any], fmt: Callable[[Any], str] = cell) -> str:
    """One line of a Markdown table (for tables written a row at a time)."""
    return "| " + " | ".join(fmt(c) for c in cells) + " |"
