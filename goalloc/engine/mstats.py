"""The runtime's memory beyond the heap (runtime/mstats.go memory classes, mheap.go, mcache.go,
mgcwork.go; Go 1.19-1.27): mappedReady, what GOMEMLIMIT limits, is the heap's mapped pages
(in use + free, not released) plus stacks and runtime metadata (/memory/classes/total -
/memory/classes/heap/released). The memory-limit heap goal (pacer.memory_limit_goal) and the
scavenger's memory-limit goal subtract its non-heap part.

The trace carries the heap, not the rest, so each non-heap term is modelled or measured:
- mspan structs (/memory/classes/metadata/mspan): one per span record ever used (the fixalloc
  keeps freed ones), MSPAN_SIZE bytes each (measured 1.23-1.27, linux/amd64), mapped in
  FIXALLOC_CHUNK pieces;
- GC metadata the runtime allocates as it goes and never frees (the rest of
  /memory/classes/metadata/other beyond start-up): mcentral's span-set blocks and spines
  (spanset.py) and the gcBits arenas of every span's mark and alloc bits (gcbits.py), as the
  model's own spans and sets use them, and a heapArena record per 64 MiB arena past the first;
- goroutine stacks and GC work buffers (/memory/classes/heap/stacks and metadata/other's
  inWorkBufs): the pages of the trace's manual spans (mheap.alloc_manual: stack spans are
  counted whole, as the runtime counts them); without manual spans what the trace's stack
  events say is in use, else FIXED_STACKS, a program of a few goroutines;
- the rest is a fixed start-up amount per release (P_NONHEAP_FIXED, set by the replay from
  the release and whether the tracer's buffers are kept: nonheap_fixed).
docs/model.md ("Memory limit: non-heap memory") gives each measurement and its expected error.
"""

from __future__ import annotations

from goalloc.engine import gcbits, spanset
from goalloc.engine.state import (
    CHUNK_PAGES,
    P_NONHEAP_FIXED,
    PAGE_SIZE,
    S_MAPPED_CHUNKS,
    S_NONHEAP_READY,
    S_PAGES_FREE,
    S_PAGES_INUSE,
    S_PAGES_MANUAL,
    S_SPAN_HW,
    S_SS_SPINES,
    S_SSB_HW,
    S_STACK_EVENTS,
    S_STACK_INUSE,
)
from goalloc.jit import njit

MSPAN_SIZE = 160  # unsafe.Sizeof(mspan{}) on linux/amd64, 1.23-1.27 (measured 158.7 B/span)
FIXALLOC_CHUNK = 16 << 10  # _FixAllocChunk
ARENA_BYTES = 64 << 20  # heapArenaBytes (linux/amd64)
HEAP_ARENA_META = 68_624  # unsafe.Sizeof(heapArena{}) 1.23 (spans, pageInUse/Marks/Specials)

# the fixed part, measured at start-up on linux/amd64 (tests/data/whatif, an idle run):
# metadata/other 1.345 MB, other 0.54-0.79 MB, mcache 16 KB, heap stacks 0.26-0.33 MB
FIXED_METADATA = 1_345_000
FIXED_OTHER = 650_000
FIXED_MCACHE = 16_000
FIXED_STACKS = 280_000
PROFILING_BUCKETS_EAGER = 1_442_600  # [1.25+] buckhash mapped at start
PROFILING_BUCKETS_LAZY = 2_400
# the execution tracer's own off-heap buffers (/memory/classes/other) while it runs: measured
# +0.37 MB idle, +0.9 MB and +1.3 MB on the two validation programs
TRACER_OTHER = 900_000


def nonheap_fixed(eager_profiling_buckets: bool, tracer_kept: bool) -> int:
    """P_NONHEAP_FIXED for a release and whether the replay keeps the tracer's memory."""
    return (FIXED_METADATA + FIXED_OTHER + FIXED_MCACHE
            + (PROFILING_BUCKETS_EAGER if eager_profiling_buckets else PROFILING_BUCKETS_LAZY)
            + (TRACER_OTHER if tracer_kept else 0))


@njit(cache=True)
def heap_mapped(s):
    """Heap pages mapped and ready: in use + free (not released)."""
    return (s.sc[S_PAGES_INUSE] + s.sc[S_PAGES_FREE]) * PAGE_SIZE


@njit(cache=True)
def nonheap(s):
    """mappedReady's non-heap memory: stacks and runtime metadata, modelled; or, when the
    trace carries runtime/metrics samples (#20), measured: the last sample's total minus its
    heap classes (scavenge.on_metric)."""
    measured = s.sc[S_NONHEAP_READY]
    if measured >= 0:
        return measured
    return modelled_nonheap(s.sc, s.prm)


@njit(cache=True)
def modelled_nonheap(sc, prm):
    """The non-heap memory the model works out (module docstring), samples or not."""
    mspans = (sc[S_SPAN_HW] * MSPAN_SIZE + FIXALLOC_CHUNK - 1) // FIXALLOC_CHUNK * FIXALLOC_CHUNK
    return prm[P_NONHEAP_FIXED] + mspans + gc_metadata(sc) + stacks(sc)


@njit(cache=True)
def gc_metadata(sc):
    """metadata/other beyond start-up: span-set blocks (the pool's high water) and spines,
    gcBits arenas, heapArena records of the arenas past the first."""
    arenas = (sc[S_MAPPED_CHUNKS] * CHUNK_PAGES * PAGE_SIZE + ARENA_BYTES - 1) // ARENA_BYTES
    return (sc[S_SSB_HW] * spanset.BLOCK_BYTES + sc[S_SS_SPINES] * spanset.SPINE_BYTES
            + gcbits.bytes_mapped(sc) + max(arenas - 1, 0) * HEAP_ARENA_META)


@njit(cache=True)
def stacks(sc):
    """Stack and work-buffer memory: the trace's manual spans, else its stack events, else the
    fixed stand-in."""
    if sc[S_PAGES_MANUAL] > 0:
        return sc[S_PAGES_MANUAL] * PAGE_SIZE
    if sc[S_STACK_EVENTS] > 0:
        return sc[S_STACK_INUSE]
    return FIXED_STACKS


@njit(cache=True, inline="always")
def stack_event(sc, stk, alloc, sid, size):
    """A trace's stack_alloc (size bytes for dense stack id sid) or stack_free."""
    if sid < 0 or sid >= stk.shape[0]:
        return
    sc[S_STACK_EVENTS] += 1
    sc[S_STACK_INUSE] -= stk[sid]
    stk[sid] = size if alloc else 0
    sc[S_STACK_INUSE] += stk[sid]


@njit(cache=True)
def mapped_ready(s):
    """gcControllerState.mappedReady: what GOMEMLIMIT limits."""
    return heap_mapped(s) + nonheap(s)
