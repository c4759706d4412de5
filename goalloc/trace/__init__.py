"""Trace layer: the v1 format, its streaming reader and writer, JSON Lines, and validation.

    for chunk in goalloc.trace.open("t.msgpack"):
        chunk.kind, chunk.ts, chunk.id, chunk.size  # numpy columns

Nothing here imports numba except the validation kernels (goalloc.trace.validate).
"""

from goalloc.trace import format
from goalloc.trace.header import Header
from goalloc.trace.reader import Chunk, TraceReader, open
from goalloc.trace.writer import Writer

__all__ = ["Chunk", "Header", "TraceReader", "Writer", "format", "open"]
