"""Errors a user can act on. The CLI prints them as one line and exits 2; nothing else does."""

from __future__ import annotations


class GoallocError(Exception):
    """A problem with the user's input or options; `str()` is the whole one-line message."""

    exit_code = 2


class TraceError(GoallocError):
    """Bad trace data, located by file, byte offset and (where known) event index."""

    def __init__(
        self,
        path,
        message: str,
        offset: int | None = None,
        event: int | None = None,
        line: int | None = None,
    ):
        self.path = str(path)
        self.offset = offset
        self.event = event
        self.line = line
        self.reason = message
        where = []
        if line is not None:
            where.append(f"line {line}")
        if offset is not None:
            where.append(f"byte {offset}")
        if event is not None:
            where.append(f"event {event}")
        place = (": " + ", ".join(where)) if where else ""
        super().__init__(f"{self.path}{place}: {message}")
