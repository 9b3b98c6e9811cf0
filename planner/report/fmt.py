"""Shared pieces of the terminal reports: tables with named columns and number formats."""

from __future__ import annotations

from collections.abc import Iterable

from rich import box
from rich.table import Table


def columns_table(title: str, columns: Iterable[str], left: Iterable[str] = (), heavy: bool = False) -> Table:
    """A left-titled table whose columns are right-justified (numbers) except those in `left`."""
    t = Table(title=title, box=box.SIMPLE_HEAVY if heavy else box.SIMPLE, title_justify="left")
    left = set(left)
    for col in columns:
        t.add_column(col, justify="left" if col in left else "right")
    return t


def num(x: float | None, digits: int = 2, unit: str = "") -> str:
    """A number with thousands separators ('-' for none); no decimals from 1,000 up."""
    if x is None:
        return "-"
    if abs(x) >= 1000:
        digits = 0
    return f"{x:,.{digits}f}{unit}"


def signed_pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"
