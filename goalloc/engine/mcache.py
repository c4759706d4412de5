"""mcache (runtime/mcache.go, malloc.go mallocgc; Go 1.19-1.26): per P, the current span of
every span class, refill from mcentral (heapLive += span bytes - allocCount*elemsize, the
runtime's over-estimate), the tiny allocator (pointer-free objects < 16 B packed into 16 B
blocks with mallocgc's alignment rules; a block dies when all its sub-objects are dead) and
releaseAll at GC (spans back to mcentral, tiny block dropped, over-estimate removed except for
stale spans). mallocgc's size-class dispatch (malloc headers [1.22+]) and large path live here.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import mcentral, mspan, sweep
from goalloc.engine.state import (
    CS_REQ_LIVE,
    OB_SIZE,
    OB_SLOT,
    OB_SPAN,
    OB_TB,
    P_HEADER_SIZE,
    P_HEADER_THRESHOLD,
    P_MALLOC_HEADER,
    P_SMALL_MAX,
    P_SWEEP_FREES,
    P_TINY_SIZE,
    P_TINY_SPC,
    PAGE_SIZE,
    PP_FLUSH_PENDING,
    PP_TINY,
    PP_TINY_OFF,
    S_HEAP_LIVE,
    S_LARGE_ALLOCS,
    S_MALLOCS,
    S_REQ_LIVE,
    S_SG,
    S_TB_FREE,
    S_TB_HW,
    S_TB_NFREE,
    S_TINY_ALLOCS,
    SP_ALLOC_BEFORE_CACHE,
    SP_ALLOCCOUNT,
    SP_ELEMSIZE,
    SP_FREEINDEX,
    SP_NELEMS,
    SP_NPAGES,
    SP_REQ,
    SP_SWEEPGEN,
    SP_WHERE,
    TB_CNT,
    TB_NEXT,
    TB_OWNER,
    TB_SLOT,
    TB_SPAN,
)
from goalloc.jit import njit
from goalloc.sizeclasses.lookup import malloc_size, size_to_class, tiny_offset


@njit(cache=True)
def tb_free_records(s):
    return s.sc[S_TB_NFREE] + s.tb.shape[0] - s.sc[S_TB_HW]


@njit(cache=True, inline="always")
def tb_new(sc, tb, sid, slot):
    """A tiny block record for the block in (sid, slot), holding one sub-object."""
    b = sc[S_TB_FREE]
    if b >= 0:
        sc[S_TB_FREE] = tb[b, TB_NEXT]
        sc[S_TB_NFREE] -= 1
    else:
        b = sc[S_TB_HW]
        sc[S_TB_HW] += 1
    tb[b, TB_CNT] = 1
    tb[b, TB_SPAN] = sid
    tb[b, TB_SLOT] = slot
    tb[b, TB_OWNER] = -1
    tb[b, TB_NEXT] = -1
    return b


@njit(cache=True, inline="always")
def tb_recycle(sc, tb, b):
    """Tiny block b's record back on the free list (its slot died with it)."""
    tb[b, TB_NEXT] = sc[S_TB_FREE]
    tb[b, TB_OWNER] = -1
    tb[b, TB_CNT] = 0
    sc[S_TB_FREE] = b
    sc[S_TB_NFREE] += 1


@njit(cache=True, inline="always")
def tb_sub_dead(tb, b):
    """One sub-object of tiny block b died. True when the whole block is now dead: no
    sub-object left and no P holds it as its current block."""
    tb[b, TB_CNT] -= 1
    return (tb[b, TB_CNT] == 0) & (tb[b, TB_OWNER] < 0)


@njit(cache=True, inline="always")
def tb_release(tb, b):
    """A P stops holding tiny block b. True when the block is dead (no sub-object left)."""
    tb[b, TB_OWNER] = -1
    return tb[b, TB_CNT] == 0


@njit(cache=True)
def tb_kill(s, b, sweep_frees):
    """Every sub-object of tiny block b is dead and no P holds it: the block slot is dead."""
    mspan.slot_dead(s, s.tb[b, TB_SPAN], s.tb[b, TB_SLOT], sweep_frees)
    tb_recycle(s.sc, s.tb, b)


@njit(cache=True)
def _tb_drop(s, p):
    b = s.pp[p, PP_TINY]
    if b >= 0 and tb_release(s.tb, b):
        tb_kill(s, b, s.prm[P_SWEEP_FREES] != 0)
    s.pp[p, PP_TINY] = -1
    s.pp[p, PP_TINY_OFF] = 0


@njit(cache=True)
def refill(s, p, spc):
    """mcache.refill: return the full span to mcentral, cache a span with a free slot."""
    old = s.mc[p, spc]
    if old >= 0:
        mcentral.uncache_span(s, spc, old)
    sid = mcentral.cache_span(s, spc, p)
    s.sp[sid, SP_SWEEPGEN] = s.sc[S_SG] + 3
    s.sp[sid, SP_WHERE] = -2 - p
    s.sp[sid, SP_ALLOC_BEFORE_CACHE] = s.sp[sid, SP_ALLOCCOUNT]
    s.mc[p, spc] = sid
    s.sc[S_HEAP_LIVE] += (s.sp[sid, SP_NPAGES] * PAGE_SIZE
                          - s.sp[sid, SP_ALLOCCOUNT] * s.sp[sid, SP_ELEMSIZE])
    return sid


@njit(cache=True)
def next_free(s, p, spc):
    """mcache.nextFree: (span, slot, refilled)."""
    sid = s.mc[p, spc]
    refilled = False
    if sid >= 0:
        slot = mspan.next_free_index(s, sid)
        if slot == s.sp[sid, SP_NELEMS]:
            sid = -1
    if sid < 0:
        sid = refill(s, p, spc)
        refilled = True
        slot = mspan.next_free_index(s, sid)
    s.sp[sid, SP_ALLOCCOUNT] += 1
    return sid, slot, refilled


@njit(cache=True)
def release_all(s, p):
    """mcache.releaseAll (via prepareForSweep after mark termination)."""
    s.pp[p, PP_FLUSH_PENDING] = 0
    sg = s.sc[S_SG]
    mc = s.mc
    for spc in range(mc.shape[1]):
        sid = mc[p, spc]
        if sid >= 0:
            if s.sp[sid, SP_SWEEPGEN] != sg + 1:
                s.sc[S_HEAP_LIVE] -= ((s.sp[sid, SP_NELEMS] - s.sp[sid, SP_ALLOCCOUNT])
                                      * s.sp[sid, SP_ELEMSIZE])
            mcentral.uncache_span(s, spc, sid)
            mc[p, spc] = -1
    _tb_drop(s, p)


@njit(cache=True)
def uncounted_bytes(s):
    """Slot bytes allocated in spans the mcaches hold that the heap statistics have not
    counted yet: refill and releaseAll add a span's allocCount - allocCountBeforeCache to
    heapStats.smallAllocCount when they let it go, so runtime/metrics'
    /memory/classes/heap/objects (heapStatsAggregate.inObjects) leaves out what the Ps have
    allocated from their current spans, and /memory/classes/heap/unused has it instead.
    Large objects are counted at allocation."""
    n = 0
    mc = s.mc
    for p in range(mc.shape[0]):
        for spc in range(mc.shape[1]):
            sid = mc[p, spc]
            if sid >= 0:
                k = s.sp[sid, SP_ALLOCCOUNT] - s.sp[sid, SP_ALLOC_BEFORE_CACHE]
                if k > 0:
                    n += k * s.sp[sid, SP_ELEMSIZE]
    return n


@njit(cache=True)
def late_flush(s, p):
    """prepareForSweep when P p next runs (acquirep), for a P whose flush its mark termination
    left for later (gc.mark_term: forEachP runs the flush at each P's safe point, and a P that
    does not reach one, such as one its M left for a system call, keeps its stale spans out
    of every mcentral list until an M acquires it); nothing if it is not pending."""
    if s.pp[p, PP_FLUSH_PENDING] != 0:
        release_all(s, p)


@njit(cache=True, inline="always")
def set_obj(ob, oid, sid, slot, size, b):
    """Object oid's record: its span and slot, requested size and tiny block (-1 none)."""
    ob[oid, OB_SPAN] = sid
    ob[oid, OB_SLOT] = slot
    ob[oid, OB_SIZE] = size
    ob[oid, OB_TB] = b


@njit(cache=True, inline="always")
def small_class(size, noscan, prm, class8, class128):
    """mallocgc's span class for a small object: malloc header [1.22+] on pointerful objects
    above the header threshold, then the size-class lookup."""
    n = malloc_size(size, noscan, prm[P_MALLOC_HEADER] != 0, prm[P_HEADER_THRESHOLD],
                    prm[P_HEADER_SIZE])
    return (size_to_class(n, class8, class128) << 1) | np.int64(noscan)


@njit(cache=True, inline="always")
def tiny_fit(pp, p, size, tiny_size):
    """The tiny allocator's combining test: the aligned offset at which a size-byte object
    fits in P p's current block, or -1 (no block, or it does not fit)."""
    off = tiny_offset(pp[p, PP_TINY_OFF], size)
    return off if pp[p, PP_TINY] >= 0 and off + size <= tiny_size else -1


@njit(cache=True, inline="always")
def tiny_combine(pp, tb, ob, sc, cs, p, oid, size, off, tspc):
    """Object oid goes into P p's current tiny block at off (tiny_fit said it fits); the
    caller touched class tspc."""
    b = pp[p, PP_TINY]
    pp[p, PP_TINY_OFF] = off + size
    tb[b, TB_CNT] += 1
    set_obj(ob, oid, tb[b, TB_SPAN], tb[b, TB_SLOT], size, b)
    sc[S_TINY_ALLOCS] += 1
    sc[S_MALLOCS] += 1
    sc[S_REQ_LIVE] += size
    cs[tspc, CS_REQ_LIVE] += size


@njit(cache=True, inline="always")
def new_block_replaces(pp, p, old, size):
    """mallocgc: a new tiny block becomes P p's current one if it has more room left than the
    old one (size < old offset) or there is none."""
    return (old < 0) | (size < pp[p, PP_TINY_OFF])


@njit(cache=True, inline="always")
def set_tiny(pp, tb, p, b, size):
    pp[p, PP_TINY] = b
    pp[p, PP_TINY_OFF] = size
    tb[b, TB_OWNER] = p


@njit(cache=True)
def malloc(s, p, oid, size, noscan):
    """mallocgc for object oid on P p. Returns True where the runtime tests the GC trigger
    (after a refill or a large allocation)."""
    prm = s.prm
    if size == 0:
        set_obj(s.ob, oid, -2, 0, 0, -1)
        s.sc[S_MALLOCS] += 1
        return False
    if size <= prm[P_SMALL_MAX]:
        if noscan and size < prm[P_TINY_SIZE]:
            return _tiny(s, p, oid, size)
        spc = small_class(size, noscan, prm, s.class8, s.class128)
        sid, slot, refilled = next_free(s, p, spc)
        mspan.slot_live(s, sid, slot, size)
        set_obj(s.ob, oid, sid, slot, size, -1)
        return refilled
    # large object: its own span of ceil(size / page) pages, span class 0
    npages = (size + PAGE_SIZE - 1) // PAGE_SIZE
    spc = 1 if noscan else 0
    sweep.deduct_sweep_credit(s, npages * PAGE_SIZE, npages)
    sid = sweep.heap_alloc(s, npages, spc, p, npages * PAGE_SIZE, 1, s.sc[S_SG])
    s.sp[sid, SP_ALLOCCOUNT] = 1
    s.sp[sid, SP_FREEINDEX] = 1
    s.sp[sid, SP_REQ] = size
    mcentral.push(s, mcentral.set_id(spc, True, mcentral.swept_idx(s)), sid)
    mspan.slot_live(s, sid, 0, size)
    set_obj(s.ob, oid, sid, 0, size, -1)
    s.sc[S_HEAP_LIVE] += npages * PAGE_SIZE
    s.sc[S_LARGE_ALLOCS] += 1
    return True


@njit(cache=True)
def _tiny(s, p, oid, size):
    """mallocgc's tiny path (64-bit alignment rules)."""
    tspc = s.prm[P_TINY_SPC]
    off = tiny_fit(s.pp, p, size, s.prm[P_TINY_SIZE])
    if off >= 0:
        mspan.cs_touch(s, tspc)
        tiny_combine(s.pp, s.tb, s.ob, s.sc, s.cs, p, oid, size, off, tspc)
        return False
    old = s.pp[p, PP_TINY]
    sid, slot, refilled = next_free(s, p, tspc)
    mspan.slot_live(s, sid, slot, size)
    nb = tb_new(s.sc, s.tb, sid, slot)
    set_obj(s.ob, oid, sid, slot, size, nb)
    if new_block_replaces(s.pp, p, old, size):
        _tb_drop(s, p)
        set_tiny(s.pp, s.tb, p, nb, size)
    return refilled
