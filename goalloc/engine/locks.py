"""The heap lock (mheap_.lock) as the runtime takes it (Go 1.23 source read: mheap.go allocSpan,
allocMSpanLocked, freeSpan, reclaim/reclaimChunk, grow; mpagecache.go allocToCache via
allocSpan; mgcscavenge.go scavengeOne), logged per acquisition for the contention model
(goalloc/engine/contention.py) and counted per operation:

- pcache-refill: allocSpan refills an empty per-P page cache (lock, allocToCache, unlock),
  whether or not the refill finds free pages.
- alloc: a span allocation that takes the locked path: >= 16 pages, no P, no fitting cached run,
  or --no-pagecache.
- grow: the same, when the page allocator had to grow the heap (one acquisition, counted here
  instead of alloc).
- mspan-cache: a page-cache allocation whose P has no free mspan struct cached (tryAllocMSpan
  fails, so allocSpan locks the heap; allocMSpanLocked refills 32 structs). freeSpanLocked puts
  a freed span's struct back in the P's cache while it holds fewer than 64.
- free: mheap.freeSpan (every span a sweeper frees).
- reclaim: mheap.reclaim locks once before scanning its first 512-page chunk and re-locks after
  each span it sweeps (the span's own free is a `free`).
- scavenge: scavengeOne locks twice per range it releases (mark allocated; free + mark
  scavenged), the background scavenger and allocSpan's synchronous scavenging alike.

Each acquisition appends (ts, P, op) to the `lk` log: ts is the model clock (the background
sweeper and scavenger use their own paced clocks), P the event's P (S_CUR_P), or -1 for the
background sweeper and scavenger goroutines (their own lane in the contention model). The
driver drains the log after every kernel call; counts per op are exact even if a burst
overflows the log (S_LK_LOST counts those entries).
"""

from __future__ import annotations

import numpy as np

from goalloc.engine.state import (
    N_LK_OPS,
    S_CUR_P,
    S_LK_CNT0,
    S_LK_LOST,
    S_LK_N,
    S_LK_TS,
    S_MAPPED_CHUNKS,
    S_NOW,
    S_SPANS_INUSE,
)
from goalloc.jit import njit

# ---- operations ---------------------------------------------------------------------------
LK_PCACHE_REFILL = 0
LK_ALLOC = 1
LK_GROW = 2
LK_FREE = 3
LK_RECLAIM = 4
LK_SCAVENGE = 5
LK_MSPAN = 6
OP_NAMES = ("pcache-refill", "alloc", "grow", "free", "reclaim", "scavenge", "mspan-cache")
assert len(OP_NAMES) == N_LK_OPS  # state.py sizes the per-op counters (S_LK_CNT0)

MSPAN_CACHE = 64  # len(p.mspancache.buf)
MSPAN_REFILL = 32  # allocMSpanLocked's refillCount

LK_TS = 0
LK_P = 1
LK_OP = 2


@njit(cache=True)
def acquire(s, op):
    """One acquisition of the heap lock by the current P for op."""
    sc = s.sc
    sc[S_LK_CNT0 + op] += 1
    n = sc[S_LK_N]
    if n < s.lk.shape[0]:
        t = sc[S_LK_TS]
        s.lk[n, LK_TS] = t - 1 if t > 0 else sc[S_NOW]
        s.lk[n, LK_P] = sc[S_CUR_P]
        s.lk[n, LK_OP] = op
        sc[S_LK_N] = n + 1
    else:
        sc[S_LK_LOST] += 1


@njit(cache=True)
def background(s, ts):
    """The work that follows is a background worker's at trace time ts (P -1); returns the
    previous P to restore with foreground()."""
    sc = s.sc
    prev = sc[S_CUR_P]
    sc[S_CUR_P] = -1
    sc[S_LK_TS] = ts + 1
    return prev


@njit(cache=True)
def foreground(s, prev):
    s.sc[S_CUR_P] = prev
    s.sc[S_LK_TS] = 0


@njit(cache=True, _nrt=True)  # (called from Python too: counted, see goalloc/jit.py)
def reserve(s):
    """Log rows the kernel keeps free before an event: a mark start's finishing sweep or a
    mark termination's flush can free every span in use."""
    sc = s.sc
    return 2 * sc[S_SPANS_INUSE] + 2 * sc[S_MAPPED_CHUNKS] + 1024


@njit(cache=True)
def fifo(t, lane, hold, nlanes):
    """The contention model's lock: acquisitions (sorted by t, stable) are served first in,
    first out by the time they are issued; each lane (a P, or the background workers) is one
    thread, so it issues its next acquisition no earlier than its previous one's release.
    Returns (issue, start) per acquisition: wait = start - issue, hold from start."""
    n = t.shape[0]
    issue = np.empty(n, np.int64)
    start = np.empty(n, np.int64)
    first = np.zeros(nlanes + 1, np.int64)
    for j in range(n):
        first[lane[j] + 1] += 1
    for q in range(nlanes):
        first[q + 1] += first[q]
    # per lane, in t order: a counting sort by lane (stable; np.argsort's mergesort would
    # bring numba's sort and string support into the cached kernel, 0.1 s to load)
    order = np.empty(n, np.int64)
    head = first[:nlanes].copy()
    for j in range(n):
        order[head[lane[j]]] = j
        head[lane[j]] += 1
    for q in range(nlanes):  # (not head[:] = first[:nlanes]: numba's array-to-slice copy
        head[q] = first[q]   # brings its string formatting along, ~1 s of the first compile)
    lane_free = np.full(nlanes, np.iinfo(np.int64).min, np.int64)
    lock_free = np.iinfo(np.int64).min
    for _ in range(n):
        best = -1
        bi = 0
        bj = 0
        for q in range(nlanes):
            if head[q] < first[q + 1]:
                j = order[head[q]]
                iss = t[j] if t[j] > lane_free[q] else lane_free[q]
                if best < 0 or iss < bi or (iss == bi and j < bj):
                    best = q
                    bi = iss
                    bj = j
        head[best] += 1
        st = bi if bi > lock_free else lock_free
        issue[bj] = bi
        start[bj] = st
        lock_free = st + hold[bj]
        lane_free[best] = lock_free
    return issue, start
