"""mheap (runtime/mheap.go allocSpan / freeSpanLocked; Go 1.19-1.26): allocate a span of
npages for a span class (per-P page cache for npages < 16, else first fit in the page
allocator, growing the heap when nothing fits), and free a span's pages back to the page
allocator (coalescing is implicit in its bitmaps). Accounts heapInUse / heapFree / heapReleased
in pages: allocation uses scavenged pages (released -> in use) before free ones, then scavenges
synchronously (memory limit, heap growth) as allocSpan does. mheap.alloc's reclaim is
sweep.heap_alloc (it needs the sweeper).
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
    P_NO_PCACHE,
    S_CUR_P,
    S_SPAN_ALLOCS,
    S_SPANS_PCACHE,
    acquire,
)
from goalloc.engine.state import (
    CS_H0,
    CS_PAGES,
    CS_SPANS,
    CS_TAIL,
    PAGE_SIZE,
    PCACHE_MAX_NPAGES,
    PP_MSPANC,
    S_PAGES_FREE,
    S_PAGES_INUSE,
    S_PAGES_RELEASED,
    S_SPANS_INUSE,
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
    scav = pagealloc.take_scavenged(s, base, npages)
    sc = s.sc
    sc[S_PAGES_RELEASED] -= scav
    sc[S_PAGES_FREE] -= npages - scav
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


@njit(cache=True)
def free_span(s, sid):
    """mheap.freeSpan: pages back to the page allocator as free (not released)."""
    acquire(s, LK_FREE)
    cp = s.sc[S_CUR_P]
    if cp >= 0 and s.pp[cp, PP_MSPANC] < MSPAN_CACHE:  # freeMSpanLocked
        s.pp[cp, PP_MSPANC] += 1
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
