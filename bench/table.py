"""The markdown tables the benchmarks print, one row at a time as each is measured."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def row(cells: Iterable[object]) -> str:
    """One table row; an empty cell prints as ``| |``."""
    return "|" + "".join(f" {c} |" if c != "" else " |" for c in cells)


def print_header(titles: Sequence[str], align: str, note: str = "") -> None:
    """The title row (``note`` after it, outside the table) and the rule; ``align`` has one
    letter per column: ``l`` left, ``r`` right."""
    print(row(titles) + note)
    print("|" + "".join("---:|" if a == "r" else "---|" for a in align))


def print_row(cells: Iterable[object]) -> None:
    """One row, flushed, so that a long benchmark shows each figure as it comes."""
    print(row(cells), flush=True)


def means(rows: Sequence[dict], keys: Iterable[str]) -> dict[str, float]:
    """The mean of each of ``keys`` over ``rows``."""
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}
