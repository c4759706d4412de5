"""Helpers shared by the command modules (kept free of numba and heavy imports)."""

from __future__ import annotations

import contextlib
import sys
import time


@contextlib.contextmanager
def progress_for(label: str, total: int | None, *, min_seconds: float = 1.0):
    """Yield `advance(n)`. A transient rich bar appears on a terminal once the work has taken
    `min_seconds`, with the real total when the trace header has one; never when piped."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    start = time.monotonic()
    state = {"bar": None, "task": None, "done": 0}
    progress = Progress(
        TextColumn(f"{label}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} events"),
        TimeRemainingColumn(), console=Console(stderr=True), transient=True,
    )

    def advance(n: int) -> None:
        state["done"] += n
        if state["bar"] is None:
            if time.monotonic() - start < min_seconds:
                return
            progress.start()
            state["bar"] = progress
            state["task"] = progress.add_task(label, total=total, completed=state["done"])
        else:
            progress.update(state["task"], completed=state["done"])

    try:
        yield advance
    finally:
        if state["bar"] is not None:
            progress.stop()
