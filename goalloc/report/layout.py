"""Tables that fit the terminal (#19): every text table is built by a function of how tight
it may be and which columns it may leave out, and `fit` takes the first that fits the
console's width: normal padding, then one space between columns, then columns dropped in the
table's priority order (least useful first). A wider terminal gets the roomier layout and
every column; nothing wraps or truncates a figure. rich is imported by the callers.
"""

from __future__ import annotations


def plain_table(title: str | None = None, *, tight: bool = False):
    """A table with a rule under the header; `tight`: one space between columns."""
    from rich import box
    from rich.table import Table

    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD,
                 padding=(0, 0 if tight else 1), pad_edge=False, show_edge=False)


def width_of(console, table) -> int:
    """The width `table` needs to print without wrapping any cell."""
    # measured against an unbounded width: rich clamps a measurement to the one it is given
    return console.measure(table, options=console.options.update_width(1 << 16)).maximum


def fit(console, build, drops=()):
    """`build(tight: bool, dropped: frozenset) -> Table`; the first layout that fits
    `console.width` (the tightest with every droppable column gone if none does)."""
    table = None
    for tight in (False, True):
        table = build(tight, frozenset())
        if width_of(console, table) <= console.width:
            return table
    dropped: set = set()
    for name in drops:
        dropped.add(name)
        table = build(True, frozenset(dropped))
        if width_of(console, table) <= console.width:
            return table
    return table


def print_table(console, title, columns, rows, drops=(), *, tight: bool = False) -> None:
    """Print rows (lists of str, one per column) under `columns` ((name, justify) pairs) as
    the first layout of `fit` that fits; `drops`: column names, least useful first."""
    def build(tight_, dropped):
        t = plain_table(title, tight=tight or tight_)
        keep = [i for i, (name, _) in enumerate(columns) if name not in dropped]
        for i in keep:
            t.add_column(columns[i][0], justify=columns[i][1], no_wrap=True)
        for r in rows:
            t.add_row(*[r[i] for i in keep])
        return t

    console.print(fit(console, build, drops))
