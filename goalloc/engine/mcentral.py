"""mcentral (runtime/mcentral.go, mspanset.go; spanSet design since Go 1.15/1.16, unchanged in
1.19-1.26): per span class, partial[2] and full[2] FIFO span sets; index sweepgen/2 % 2 holds
swept spans, the other unswept ones, so the sweepgen += 2 at mark termination swaps their
roles. cacheSpan: partial swept, then (within a 100-span budget shared by both loops) partial
unswept swept on demand, full unswept swept (used if a slot freed, else pushed full swept),
then a fresh span from mheap. uncacheSpan: a stale span is swept now, else placed by fullness.
With `--gc recorded` on a trace with sweep frees, a refill takes first the span the recording
shows the runtime's cacheSpan sweeping for it (recorded_choice).
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import mspan, spanset, sweep
from goalloc.engine.spanset import pop, push, set_id, swept_idx  # noqa: F401 (re-exported)
from goalloc.engine.state import (
    PAGE_SIZE,
    PP_LAST_FREE_SPAN,
    S_SG,
    SP_FREEINDEX,
    SP_INUSE,
    SP_NELEMS,
    SP_SPC,
    SP_SWEEPGEN,
    SP_WHERE,
    SPAN_BUDGET,
    WHERE_NONE,
)
from goalloc.jit import njit


@njit(cache=True)
def havespan(s, sid):
    """cacheSpan's havespan: rebuild allocCache at freeindex."""
    fi = s.sp[sid, SP_FREEINDEX]
    mspan.refill_alloc_cache(s, sid, fi >> 6)
    s.acache[sid] = s.acache[sid] >> np.uint64(fi & 63)
    return sid


@njit(cache=True)
def cache_span(s, spc, p):
    """mcentral.cacheSpan: a swept span of class spc with at least one free slot."""
    c = spc >> 1
    sweep.deduct_sweep_credit(s, s.class_pages[c] * PAGE_SIZE, 0)
    sid = recorded_choice(s, spc, p)
    if sid >= 0:
        return havespan(s, sid)
    idx = swept_idx(s)
    un = 1 - idx
    sid = pop(s, set_id(spc, False, idx))
    if sid >= 0:
        return havespan(s, sid)
    budget = SPAN_BUDGET
    while budget >= 0:
        sid = pop(s, set_id(spc, False, un))
        if sid < 0:
            break
        sweep.sweep_span(s, sid, True)
        return havespan(s, sid)
    while budget >= 0:
        sid = pop(s, set_id(spc, True, un))
        if sid < 0:
            break
        sweep.sweep_span(s, sid, True)
        fi = mspan.next_free_index(s, sid)
        if fi != s.sp[sid, SP_NELEMS]:
            s.sp[sid, SP_FREEINDEX] = fi
            return havespan(s, sid)
        push(s, set_id(spc, True, idx), sid)
        budget -= 1
    # mcentral.grow: a fresh span from the heap.
    nelems = s.objs_noscan[c] if spc & 1 else s.objs_scan[c]
    sid = sweep.heap_alloc(s, s.class_pages[c], spc, p, s.class_size[c], nelems, s.sc[S_SG])
    return havespan(s, sid)


@njit(cache=True)
def recorded_choice(s, spc, p):
    """[recorded sweep] The span the runtime's cacheSpan took for this refill, or -1. The
    recording reports a sweep's frees as it makes them; frees on P p right before p's
    allocation (the kernel keeps the model span of the last one, PP_LAST_FREE_SPAN, until
    the allocation is done) are cacheSpan sweeping the span it then cached: partialSwept
    was empty in the runtime, so it swept from the unswept sets. The model's sweepers meet
    the recording's count of frees in sweepone's order, so its partialSwept set may hold
    spans the runtime had not swept yet: taking its head instead packs this refill's
    objects into another span than the runtime's. The model takes that span when it is of
    this class and waits in an mcentral set (swept by then or not) with a free slot after
    its sweep; else (the layouts differ there) the usual order decides."""
    sid = s.pp[p, PP_LAST_FREE_SPAN]
    if sid < 0:
        return -1
    s.pp[p, PP_LAST_FREE_SPAN] = -1
    sp = s.sp
    if sp[sid, SP_INUSE] != 1 or sp[sid, SP_SPC] != spc or sp[sid, SP_WHERE] < 0:
        return -1
    unswept = sweep.needs_sweep(s, sid)
    if not unswept and sp[sid, SP_WHERE] != set_id(spc, False, swept_idx(s)):
        return -1  # swept and full: not a span a refill could take
    spanset.unlink(s, sid)
    if unswept:
        sweep.sweep_span(s, sid, True)
    fi = mspan.next_free_index(s, sid)
    if fi == sp[sid, SP_NELEMS]:
        sweep.place_swept(s, spc, sid)  # full in the model
        return -1
    sp[sid, SP_FREEINDEX] = fi
    return sid


@njit(cache=True)
def uncache_span(s, spc, sid):
    """mcentral.uncacheSpan: a span leaving an mcache."""
    sg = s.sc[S_SG]
    s.sp[sid, SP_WHERE] = WHERE_NONE
    if s.sp[sid, SP_SWEEPGEN] == sg + 1:  # stale: cached before this cycle's sweepgen bump
        s.sp[sid, SP_SWEEPGEN] = sg - 1
        sweep.sweep_and_place(s, spc, sid)
    else:
        s.sp[sid, SP_SWEEPGEN] = sg
        sweep.place_swept(s, spc, sid)
