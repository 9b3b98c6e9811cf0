"""Shared pieces of the terminal reports: tables that fit the terminal, number formats, the
console width.

Width rule (README, "Reading the report"): the report is laid out for `$COLUMNS` when it is set,
else for the terminal it is printed on, else (piped into a file or another program) for
`PIPED_WIDTH` columns, so that piped output is byte-stable whatever terminal started it.
Tables never cut a word or a number: each column is at least as wide as its longest word, and
only text columns wrap (between words) when the table is too wide for the console.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable

from rich import box
from rich.console import Console
from rich.table import Table
from rich.cells import cell_len
from rich.text import Text

PIPED_WIDTH = 120  # columns when the report is not printed on a terminal and $COLUMNS is unset
MIN_WIDTH = 60  # narrower terminals get this many columns (and wrap)
FOLD_FLOOR = 8  # a text column too wide for the console is folded mid-word down to this width


def report_width(stream=None) -> int:
    """The width to lay the report out for: $COLUMNS, else the terminal's, else PIPED_WIDTH."""
    cols = os.environ.get("COLUMNS", "").strip()
    if cols.isdigit() and int(cols) > 0:
        return max(MIN_WIDTH, int(cols))
    stream = stream if stream is not None else sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        return max(MIN_WIDTH, shutil.get_terminal_size((PIPED_WIDTH, 24)).columns)
    return PIPED_WIDTH


def console(stderr: bool = False) -> Console:
    """A console for a report on stdout (or stderr), as wide as `report_width` says."""
    return Console(stderr=stderr, width=report_width(sys.stderr if stderr else sys.stdout))


def _plain(cell) -> str:
    """What a cell shows: rich reads str cells as console markup, so "[red]x[/red]" shows "x"."""
    return cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain


def _widths(cells: list[str]) -> tuple[int, int]:
    """(longest word, longest line) over the cells, in terminal cells."""
    words = [cell_len(w) for c in cells for w in c.split()]
    lines = [cell_len(line) for c in cells for line in c.splitlines()]
    return max(words, default=0), max(lines, default=0)


class FitTable(Table):
    """A rich Table laid out to fit the console: each column as wide as its widest line when the
    table fits, else text columns narrowed (widest first, never below their longest word) so that
    they wrap between words. Numbers, GPU names and class names are never cut or folded."""

    optional: tuple[str, ...] = ()  # headers of columns left out (in the caption) when the table is too wide

    def __rich_console__(self, console, options):
        def need(columns):
            return sum(_widths([_plain(c.header)] + [_plain(x) for x in c._cells])[0] for c in columns) + 2 * len(columns)

        dropped = []
        for name in self.optional:
            if need(self.columns) <= options.max_width:
                break
            self.columns = [c for c in self.columns if c.header != name]
            dropped.append(name)
        if dropped:
            note = f"(left out to fit {options.max_width} columns: {', '.join(dropped)}; --json has them)"
            self.caption = f"{self.caption}\n{note}" if self.caption else note
        cols = self.columns
        spans = [_widths([_plain(c.header)] + [_plain(x) for x in c._cells]) for c in cols]
        widths = [line for _, line in spans]
        avail = options.max_width - 2 * len(cols)  # collapsed padding: 2 cells per column with the edges
        excess = sum(widths) - avail
        while excess > 0:
            i = max(range(len(cols)), key=lambda k: (widths[k] - spans[k][0], widths[k]))
            if widths[i] <= spans[i][0]:
                break
            widths[i] -= 1
            excess -= 1
        while excess > 0:  # still too wide: fold the longest text words (names), never numbers
            text = [k for k in range(len(cols)) if cols[k].justify == "left" and widths[k] > FOLD_FLOOR]
            if not text:
                break  # the console is narrower than the numbers: rich crops the table
            i = max(text, key=lambda k: widths[k])
            widths[i] -= 1
            excess -= 1
        for col, w in zip(cols, widths):
            col.width = w
            col.overflow = "fold"
        yield from super().__rich_console__(console, options)


def plain_table(title: str | None = None, **kw) -> FitTable:
    kw.setdefault("box", box.SIMPLE)
    return FitTable(title=title, title_justify="left", collapse_padding=True, pad_edge=False, **kw)


def columns_table(title: str, columns: Iterable[str], left: Iterable[str] = (), heavy: bool = False) -> FitTable:
    """A left-titled table whose columns are right-justified (numbers) except those in `left`."""
    t = FitTable(
        title=title, box=box.SIMPLE_HEAVY if heavy else box.SIMPLE, title_justify="left", caption_justify="left",
        collapse_padding=True, pad_edge=False,
    )
    left = set(left)
    for col in columns:
        t.add_column(col, justify="left" if col in left else "right")
    return t


def num(x: float | None, digits: int = 2, unit: str = "") -> str:
    """A number with thousands separators ('-' for none); no decimals from 1,000 up."""
    if x is None:
        return "-"
    if 0 < abs(x) < 0.5 * 10.0**-digits:  # would print as 0: three significant digits instead
        return f"{x:.3g}{unit}"
    if abs(x) >= 1000:
        digits = 0
    return f"{x:,.{digits}f}{unit}"


def signed_pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"
