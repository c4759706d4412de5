"""passes.chunk_facts and engine_kinds (#14: the replay driver's per-chunk bookkeeping, one
pass in a kernel) on a hand-made chunk: the facts and the rewrites worked out by hand from the
format's rules (goalloc/trace/format.py), including the edge cases no shipped trace has."""

from __future__ import annotations

import numpy as np

import goalloc.jit  # noqa: F401  (numba's cache directory first)
from goalloc.engine import passes
from goalloc.engine.kernel import FLUSH_MCACHES, FORCED_GC, MANUAL_ALLOC
from goalloc.trace import format as fmt
from goalloc.trace.reader import Chunk

READ_MEM_STATS = fmt.STW_REASONS.index("read mem stats")
GOMAXPROCS = fmt.STW_REASONS.index("GOMAXPROCS")

# (kind, ts, size, aux) and what engine_kinds makes of it: (kind, flags, size)
ROWS = [
    ((fmt.ALLOC, 50, 16, 0), (fmt.ALLOC, 0, 16)),
    ((fmt.STW_BEGIN, 40, 0, READ_MEM_STATS), (FLUSH_MCACHES, 0, 0)),  # ReadMemStats flushes
    ((fmt.STW_END, 41, 0, 0), (fmt.STW_END, 0, 0)),
    ((fmt.STW_BEGIN, 42, 0, GOMAXPROCS), (fmt.STW_BEGIN, 0, 0)),  # a stop that does not
    ((fmt.STW_BEGIN, 43, 0, len(fmt.STW_REASONS)), (fmt.STW_BEGIN, 0, 0)),  # unknown reason
    ((fmt.GC_START, 60, 7, fmt.GC_TRIGGER_FORCED), (FORCED_GC, 0, 0)),  # forced; size cleared
    ((fmt.GC_START, 61, 0, 0), (fmt.GC_START, 0, 0)),
    ((fmt.GC_MARK_TERM, 62, 9, 0), (fmt.GC_MARK_TERM, 0, 0)),
    ((fmt.METRIC, 70, 123, 2), (fmt.METRIC, 2, 123)),  # value index into flags
    ((fmt.METRIC, 71, 5, 1000), (fmt.METRIC, len(fmt.METRIC_NAMES), 5)),  # clipped above
    ((fmt.METRIC, 72, 5, -3), (fmt.METRIC, 0, 5)),  # and below
    ((fmt.SPAN_ALLOC, 30, 1, -1), (MANUAL_ALLOC, 0, 1)),  # a manual span (stacks)
    ((fmt.SPAN_ALLOC, 80, 1, 5), (fmt.SPAN_ALLOC, 0, 1)),  # a heap span
]


def _chunk(rows) -> Chunk:
    n = len(rows)
    col = lambda i, dt: np.array([r[i] for r in rows], dt)  # noqa: E731
    return Chunk(n=n, start=1000, offset=0, kind=col(0, np.uint8), ts=col(1, np.int64),
                 p=np.zeros(n, np.int16), id=np.arange(n, dtype=np.int64),
                 size=col(2, np.int64), flags=np.zeros(n, np.uint8), aux=col(3, np.int64),
                 site=np.zeros(n, np.int32))


def test_facts_and_rewrites_of_a_hand_made_chunk():
    chunk = _chunk([r for r, _ in ROWS])
    f = passes.facts(chunk, True)
    assert f[passes.FACT_TS_MIN] == 30 and f[passes.FACT_TS_MAX] == 80
    assert f[passes.FACT_STW_EVENTS] == 4
    assert f[passes.FACT_LAST_GC_START] == 6
    assert f[passes.FACT_REWRITES] == (passes.REWRITE_KIND | passes.REWRITE_FLAGS
                                       | passes.REWRITE_SIZE)
    out = passes.engine_kinds(chunk, True, int(f[passes.FACT_REWRITES]))
    got = list(zip(out.kind.tolist(), out.flags.tolist(), out.size.tolist(), strict=True))
    assert got == [e for _, e in ROWS]
    # the chunk as read is left alone
    assert chunk.kind.tolist() == [r[0] for r, _ in ROWS]
    assert chunk.size.tolist() == [r[2] for r, _ in ROWS]


def test_a_forced_gc_stays_a_gc_start_unless_asked_and_a_plain_chunk_is_itself():
    chunk = _chunk([(fmt.GC_START, 5, 0, fmt.GC_TRIGGER_FORCED), (fmt.ALLOC, 6, 8, 0)])
    f = passes.facts(chunk, False)
    assert f[passes.FACT_REWRITES] == 0 and f[passes.FACT_LAST_GC_START] == 0
    assert passes.engine_kinds(chunk, False, 0) is chunk
    assert passes.facts(chunk, True)[passes.FACT_REWRITES] == passes.REWRITE_KIND
    empty = passes.facts(_chunk([]), True)
    assert empty[passes.FACT_LAST_GC_START] == -1 and empty[passes.FACT_STW_EVENTS] == 0


def test_largest_ids_per_kind():
    from goalloc.engine import arrays

    kind = np.array([fmt.ALLOC, fmt.FREE, fmt.ALLOC, MANUAL_ALLOC, fmt.ALLOC], np.uint8)
    ids = np.array([7, 99, 3, 12, 5], np.int64)
    got = arrays.largest_ids(kind, ids, fmt.ALLOC, fmt.STACK_ALLOC, MANUAL_ALLOC).tolist()
    assert got == [7, arrays.NO_ID, 12]  # the free's id is no allocation's; no stacks
