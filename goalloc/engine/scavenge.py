"""The scavenger (runtime/mgcscavenge.go, mheap.go allocSpan; Go 1.19-1.23 source read, 1.22+
by default): release free pages to the OS, highest addresses first.

- Goals, set at every commit (gcPaceScavenger): without a limit retain lastHeapInUse *
  goal/lastGoal + 10% (none before the first cycle ends); with GOMEMLIMIT L, 0.95*L against
  mappedReady. A goal already met is "none" (INF).
- Background scavenger: wakes when sweeping is done and a goal is unmet; releases one 64 KiB
  quantum per P_SCAV_QUANTUM_NS of trace time (the runtime paces it to 1% of GOMAXPROCS CPUs,
  costing ~10 us per 4 KiB physical page: docs/model.md), parks when both goals are met or
  nothing is left to release.
- Synchronous release in allocSpan: with a limit, when mappedReady + the released pages just
  reused exceed it, release the excess (forced: dense chunks too) [1.22+ force]; after a heap
  growth that takes retained memory over the background goal, release min(growth, excess).
- Search: chunk by chunk from the top; in a chunk the highest free unscavenged page and the
  free unscavenged run below it. [1.22+] chunks with >= 496 of 512 pages allocated now or at
  the end of the last GC are skipped unless forced. Pages in P page caches are allocated, so
  invisible. Cursors: the background search resumes where it stopped and is raised once per GC
  cycle to the highest chunk freed into (scavengeIndex.nextGen); the forced one at every free.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import mstats
from goalloc.engine.locks import LK_SCAVENGE, S_LK_TS, acquire, foreground
from goalloc.engine.locks import background as lk_background
from goalloc.engine.state import (
    CHUNK_WORDS,
    CK_LAST_INUSE,
    INF,
    P_GOVERSION,
    P_MEMLIMIT,
    P_SCAV_QUANTUM_NS,
    PAGE_SIZE,
    S_LAST_HEAP_GOAL,
    S_LAST_HEAP_INUSE,
    S_MAPPED_CHUNKS,
    S_PAGES_FREE,
    S_PAGES_INUSE,
    S_PAGES_RELEASED,
    S_RELEASED_BG,
    S_RELEASED_EAGER,
    S_SCAV_ACTIVE,
    S_SCAV_BG_CUR,
    S_SCAV_FORCE_CUR,
    S_SCAV_GOAL_GC,
    S_SCAV_GOAL_LIM,
    S_SCAV_HWM,
    S_SCAV_READY,
    S_SCAV_T,
    S_SWEEP_DONE_TS,
    S_UNSWEPT,
)
from goalloc.jit import hibit64, njit, popcount64

U0 = np.uint64(0)
U1 = np.uint64(1)
ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
QUANTUM = 64 << 10
DENSE_PAGES = 496  # scavChunkHiOccPages = 0.96875 * 512


@njit(cache=True)
def heap_retained(s):
    return (s.sc[S_PAGES_INUSE] + s.sc[S_PAGES_FREE]) * PAGE_SIZE


@njit(cache=True)
def chunk_inuse(s, c):
    n = 0
    for w in range(CHUNK_WORDS):
        n += popcount64(s.palloc[c, w])
    return n


@njit(cache=True)
def _has_candidate(s, c):
    for w in range(CHUNK_WORDS):
        if (s.palloc[c, w] | s.pscav[c, w]) != ALL:
            return True
    return False


@njit(cache=True)
def _dense(s, c):
    return chunk_inuse(s, c) >= DENSE_PAGES or s.ck[c, CK_LAST_INUSE] >= DENSE_PAGES


@njit(cache=True)
def _free_unscav(s, c, i):
    w = i >> 6
    b = np.uint64(i & 63)
    return ((s.palloc[c, w] | s.pscav[c, w]) >> b) & U1 == U0


@njit(cache=True)
def _scavenge_one(s, c, max_pages):
    """scavengeOne: release the highest free unscavenged run of chunk c (at most max_pages,
    taken from its top); return the pages released."""
    top = -1
    for w in range(CHUNK_WORDS - 1, -1, -1):
        m = ~(s.palloc[c, w] | s.pscav[c, w])
        if m != U0:
            top = (w << 6) + hibit64(m)
            break
    if top < 0:
        return 0
    lo = top
    while lo > 0 and top - lo + 1 < max_pages and _free_unscav(s, c, lo - 1):
        lo -= 1
    for i in range(lo, top + 1):
        s.pscav[c, i >> 6] |= U1 << np.uint64(i & 63)
    n = top - lo + 1
    acquire(s, LK_SCAVENGE)  # scavengeOne: lock, mark the range allocated, unlock, sysUnused,
    acquire(s, LK_SCAVENGE)  # lock again, free it as scavenged, unlock
    s.sc[S_PAGES_FREE] -= n
    s.sc[S_PAGES_RELEASED] += n
    return n


@njit(cache=True)
def _find(s, force):
    """scavengeIndex.find: the highest chunk at/below the cursor worth searching, or -1."""
    sc = s.sc
    slot = S_SCAV_FORCE_CUR if force else S_SCAV_BG_CUR
    skip_dense = not force and s.prm[P_GOVERSION] >= 122
    c = sc[slot]
    if c >= sc[S_MAPPED_CHUNKS]:
        c = sc[S_MAPPED_CHUNKS] - 1
    while c >= 0:
        if _has_candidate(s, c) and not (skip_dense and _dense(s, c)):
            sc[slot] = c
            return c
        c -= 1
    sc[slot] = -1
    return -1


@njit(cache=True)
def release(s, nbytes, force):
    """pageAlloc.scavenge: release up to nbytes (whole pages); return the bytes released."""
    released = 0
    while released < nbytes:
        c = _find(s, force)
        if c < 0:
            break
        want = (nbytes - released + PAGE_SIZE - 1) // PAGE_SIZE
        released += _scavenge_one(s, c, want) * PAGE_SIZE
    return released


@njit(cache=True)
def on_free(s, c):
    """scavengeIndex.free: pages of chunk c became free."""
    sc = s.sc
    if c > sc[S_SCAV_HWM]:
        sc[S_SCAV_HWM] = c
    if c > sc[S_SCAV_FORCE_CUR]:
        sc[S_SCAV_FORCE_CUR] = c


@njit(cache=True)
def next_gen(s):
    """scavengeIndex.nextGen (end of mark termination): snapshot each chunk's allocated pages,
    raise the background cursor to the highest chunk freed into since the last generation."""
    sc = s.sc
    for c in range(sc[S_MAPPED_CHUNKS]):
        s.ck[c, CK_LAST_INUSE] = chunk_inuse(s, c)
    if sc[S_SCAV_HWM] > sc[S_SCAV_BG_CUR]:
        sc[S_SCAV_BG_CUR] = sc[S_SCAV_HWM]
    sc[S_SCAV_HWM] = -1


@njit(cache=True)
def pace(s, goal):
    """gcPaceScavenger(memoryLimit, heapGoal=goal, lastHeapGoal)."""
    sc = s.sc
    limit = s.prm[P_MEMLIMIT]
    if limit >= 0:
        lg = np.int64(np.float64(limit) * 0.95)
        sc[S_SCAV_GOAL_LIM] = INF if mstats.mapped_ready(s) <= lg else lg
    else:
        sc[S_SCAV_GOAL_LIM] = INF
    last = sc[S_LAST_HEAP_GOAL]
    if last == 0 or goal >= INF:
        sc[S_SCAV_GOAL_GC] = INF
        return
    ratio = np.float64(goal) / np.float64(last)
    g = np.int64(np.float64(sc[S_LAST_HEAP_INUSE]) * ratio)
    g += g // 10
    g = (g + 4095) & ~np.int64(4095)
    retained = heap_retained(s)
    if retained <= g or retained - g < 4096:
        sc[S_SCAV_GOAL_GC] = INF
    else:
        sc[S_SCAV_GOAL_GC] = g


@njit(cache=True)
def _should_stop(s):
    sc = s.sc
    return heap_retained(s) <= sc[S_SCAV_GOAL_GC] and mstats.mapped_ready(s) <= sc[S_SCAV_GOAL_LIM]


@njit(cache=True)
def background(s, now):
    """bgscavenge up to trace time now. Wakes when sweeping is done and a goal is unmet."""
    sc = s.sc
    per = s.prm[P_SCAV_QUANTUM_NS]
    if sc[S_SCAV_ACTIVE] == 0:
        if per <= 0 or sc[S_SCAV_READY] == 0 or sc[S_UNSWEPT] != 0:
            return
        sc[S_SCAV_READY] = 0
        if _should_stop(s):
            return
        sc[S_SCAV_ACTIVE] = 1
        sc[S_SCAV_T] = sc[S_SWEEP_DONE_TS] if sc[S_SWEEP_DONE_TS] <= now else now
    k = (now - sc[S_SCAV_T]) // per
    if k <= 0:
        return
    t0 = sc[S_SCAV_T]
    prev = lk_background(s, t0)
    for j in range(k):
        if _should_stop(s):
            sc[S_SCAV_ACTIVE] = 0
            foreground(s, prev)
            return
        sc[S_LK_TS] = t0 + (j + 1) * per + 1  # the quantum's time on the scavenger's clock
        r = release(s, QUANTUM, False)
        sc[S_RELEASED_BG] += r // PAGE_SIZE
        if r < QUANTUM:
            sc[S_SCAV_ACTIVE] = 0
            foreground(s, prev)
            return
    foreground(s, prev)
    sc[S_SCAV_T] += k * per


@njit(cache=True)
def on_alloc(s, scav_pages, growth_bytes):
    """allocSpan's synchronous scavenging after taking scav_pages released pages (and growing
    the heap by growth_bytes)."""
    sc = s.sc
    todo = 0
    force = False
    limit = s.prm[P_MEMLIMIT]
    if limit >= 0:
        # mappedReady already counts the reused pages here (the runtime adds them later)
        over = mstats.mapped_ready(s) - limit
        if over > 0:
            todo = over
            force = s.prm[P_GOVERSION] >= 122
    goal = sc[S_SCAV_GOAL_GC]
    if goal < INF and growth_bytes > 0:
        retained = heap_retained(s) - scav_pages * PAGE_SIZE
        if retained + growth_bytes > goal:
            t = growth_bytes
            over = retained + growth_bytes - goal
            if t > over:
                t = over
            if t > todo:
                todo = t
    if todo > 0:
        r = release(s, todo, force)
        sc[S_RELEASED_EAGER] += r // PAGE_SIZE
