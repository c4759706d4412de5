"""mheap (runtime/mheap.go allocSpan / freeSpanLocked; Go 1.19-1.27): allocate a span of
npages for a span class (per-P page cache for npages < 16, else first fit in the page
allocator, growing the heap when nothing fits), and free a span's pages back to the page
allocator (coalescing is implicit in its bitmaps). Accounts heapInUse / heapFree / heapReleased
in pages: allocation uses scavenged pages (released -> in use) before free ones, then scavenges
synchronously (memory limit, heap growth) as allocSpan does. mheap.alloc's reclaim is
sweep.heap_alloc (it needs the sweeper).

Manual spans (allocManual / freeManual: goroutine stacks, GC work buffers) take their pages
through the same allocSpan path but are not heap: they leave heapFree / heapReleased without
entering heapInUse (the runtime counts them in /memory/classes/heap/stacks or metadata). The
model has no stacks of its own; it places the trace's recorded manual spans (span_alloc with
aux -1, by the trace's span id), so the page heap fills, grows and is scavenged around them as
the runtime's does.
"""

from __future__ import annotations

from goalloc.engine import mspan, pagealloc, pagecache, scavenge
from goalloc.engine.locks import (
    LK_ALLOC,
    LK_FREE,
    LK_GROW,
    LK_MSPAN,
    MSPAN_CACHE,
    MSPAN_REFILL,
    acquire,
)
from goalloc.engine.state import (
    CS_H0,
    CS_PAGES,
    CS_SPANS,
    CS_TAIL,
    P_NO_PCACHE,
    PAGE_SIZE,
    PCACHE_MAX_NPAGES,
    PP_MSPANC,
    S_CUR_P,
    S_PAGES_FREE,
    S_PAGES_INUSE,
    S_PAGES_MANUAL,
    S_PAGES_RELEASED,
    S_SPAN_ALLOCS,
    S_SPANS_INUSE,
    S_SPANS_PCACHE,
    S_TAIL_BYTES,
    SP_BASE,
    SP_ELEMSIZE,
    SP_LIVE,
    SP_NELEMS,
    SP_NPAGES,
    SP_SPC,
)
from goalloc.jit import njit


@njit(cache=True)
def alloc_span(s, npages, spc, p, elemsize, nelems, sweepgen):
    """mheap.alloc: a new in-use span record (pages, stats, page -> span map)."""
    base, scav, growth = _take_pages(s, npages, p)
    return _new_span(s, base, scav, growth, npages, spc, elemsize, nelems, sweepgen)


@njit(cache=True)
def alloc_span_at(s, base, npages, spc, elemsize, nelems, sweepgen):
    """alloc_span with the pages where a trace shows the runtime had the span at its start
    (the snapshot, engine/snapshot.py) instead of searched for; -1 when they are not free."""
    if not pagealloc.range_free(s, base, npages):
        return -1
    scav = _place_pages(s, base, npages)
    return _new_span(s, base, scav, 0, npages, spc, elemsize, nelems, sweepgen)


@njit(cache=True, inline="always")
def _new_span(s, base, scav, growth, npages, spc, elemsize, nelems, sweepgen):
    """mheap.alloc's other half: the span record on pages [base, base+npages) taken."""
    sc = s.sc
    sc[S_PAGES_INUSE] += npages
    scavenge.on_alloc(s, scav, growth)
    sid = mspan.new_record(s)
    mspan.init_span(s, sid, base, npages, spc, elemsize, nelems, sweepgen)
    for pg in range(base, base + npages):
        s.pg_span[pg] = sid
    tail = npages * PAGE_SIZE - nelems * elemsize
    mspan.cs_touch(s, spc)
    s.cs[spc, CS_H0] += 1
    s.cs[spc, CS_SPANS] += 1
    s.cs[spc, CS_PAGES] += npages
    s.cs[spc, CS_TAIL] += tail
    sc[S_TAIL_BYTES] += tail
    sc[S_SPANS_INUSE] += 1
    return sid


@njit(cache=True, inline="always")
def _take_pages(s, npages, p):
    """allocSpan's page half, for heap and manual spans alike: npages from P p's page cache
    (npages < 16) or the page allocator (growing the heap) and the mspan struct's fixalloc.
    Returns (base, scavenged pages taken, growth in bytes) for the caller's scavenge.on_alloc;
    heapFree / heapReleased lose the pages, the caller says where they go."""
    base = -1
    s.sc[S_SPAN_ALLOCS] += 1
    if p >= 0 and npages < PCACHE_MAX_NPAGES and s.prm[P_NO_PCACHE] == 0:
        base = pagecache.alloc(s, p, npages)
    growth = 0
    if base >= 0:
        s.sc[S_SPANS_PCACHE] += 1
        if s.pp[p, PP_MSPANC] > 0:  # tryAllocMSpan: no lock
            s.pp[p, PP_MSPANC] -= 1
        else:  # locked path just for allocMSpanLocked's refill
            acquire(s, LK_MSPAN)
            s.pp[p, PP_MSPANC] = MSPAN_REFILL - 1
    else:
        base = pagealloc.find(s, npages)
        if base < 0:
            growth = pagealloc.grow(s, npages) * PAGE_SIZE
            base = pagealloc.find(s, npages)
        acquire(s, LK_GROW if growth > 0 else LK_ALLOC)
        if p >= 0:  # allocMSpanLocked
            if s.pp[p, PP_MSPANC] == 0:
                s.pp[p, PP_MSPANC] = MSPAN_REFILL
            s.pp[p, PP_MSPANC] -= 1
        pagealloc.mark_alloc(s, base, npages)
    return base, _use_pages(s, base, npages), growth


@njit(cache=True, inline="always")
def _use_pages(s, base, npages):
    """Pages [base, base+npages), just taken, leave heapFree / heapReleased (the scavenged
    ones are sysUsed again). Returns how many were scavenged."""
    scav = pagealloc.take_scavenged(s, base, npages)
    s.sc[S_PAGES_RELEASED] -= scav
    s.sc[S_PAGES_FREE] -= npages - scav
    return scav


@njit(cache=True, inline="always")
def _place_pages(s, base, npages):
    """_take_pages's page-allocator path for pages [base, base+npages), known free: taken
    under the heap lock, scavenged ones first out of heapReleased. Returns the scavenged."""
    s.sc[S_SPAN_ALLOCS] += 1
    acquire(s, LK_ALLOC)
    pagealloc.mark_alloc(s, base, npages)
    return _use_pages(s, base, npages)


@njit(cache=True, inline="always")
def _free_locked(s):
    """freeSpan's heap lock and freeMSpanLocked (the mspan struct back to P's cache)."""
    acquire(s, LK_FREE)
    cp = s.sc[S_CUR_P]
    if cp >= 0 and s.pp[cp, PP_MSPANC] < MSPAN_CACHE:
        s.pp[cp, PP_MSPANC] += 1


@njit(cache=True)
def free_span(s, sid):
    """mheap.freeSpan: pages back to the page allocator as free (not released)."""
    _free_locked(s)
    sp = s.sp
    base = sp[sid, SP_BASE]
    npages = sp[sid, SP_NPAGES]
    spc = sp[sid, SP_SPC]
    pagealloc.mark_free(s, base, npages)
    for pg in range(base, base + npages):
        s.pg_span[pg] = -1
    sc = s.sc
    sc[S_PAGES_INUSE] -= npages
    sc[S_PAGES_FREE] += npages
    tail = npages * PAGE_SIZE - sp[sid, SP_NELEMS] * sp[sid, SP_ELEMSIZE]
    mspan.cs_touch(s, spc)
    s.cs[spc, CS_H0 + mspan.bucket(sp[sid, SP_LIVE], sp[sid, SP_NELEMS])] -= 1
    s.cs[spc, CS_SPANS] -= 1
    s.cs[spc, CS_PAGES] -= npages
    s.cs[spc, CS_TAIL] -= tail
    sc[S_TAIL_BYTES] -= tail
    sc[S_SPANS_INUSE] -= 1
    mspan.free_record(s, sid)


@njit(cache=True)
def alloc_manual(s, span_id, npages, p):
    """mheap.allocManual for the trace's manual span `span_id` (a recorded span_alloc with
    aux -1): npages of the page heap, out of heapFree / heapReleased, into no span class.
    A live manual span already at that id lost its free: it goes first."""
    if span_id < 0 or span_id >= s.msp.shape[0] or npages <= 0:
        return
    free_manual(s, span_id)
    base, scav, growth = _take_pages(s, npages, p)
    s.sc[S_PAGES_MANUAL] += npages
    scavenge.on_alloc(s, scav, growth)
    s.msp[span_id, 0] = base
    s.msp[span_id, 1] = npages


@njit(cache=True)
def alloc_manual_at(s, span_id, base, npages):
    """alloc_manual with the pages a trace shows the runtime had the manual span at when it
    began (engine/snapshot.py); False, nothing placed, when they are not free."""
    if span_id < 0 or span_id >= s.msp.shape[0] or s.msp[span_id, 0] >= 0 \
            or not pagealloc.range_free(s, base, npages):
        return False
    _place_pages(s, base, npages)
    s.sc[S_PAGES_MANUAL] += npages
    s.msp[span_id, 0] = base
    s.msp[span_id, 1] = npages
    return True


@njit(cache=True)
def free_manual(s, span_id):
    """mheap.freeManual (freeSpanLocked for a manual span): its pages back to the page
    allocator as free. Nothing when span_id holds no manual span (a heap span's id)."""
    if span_id < 0 or span_id >= s.msp.shape[0] or s.msp[span_id, 0] < 0:
        return
    _free_locked(s)
    base = s.msp[span_id, 0]
    npages = s.msp[span_id, 1]
    pagealloc.mark_free(s, base, npages)
    s.sc[S_PAGES_MANUAL] -= npages
    s.sc[S_PAGES_FREE] += npages
    s.msp[span_id, 0] = -1
    s.msp[span_id, 1] = -1
