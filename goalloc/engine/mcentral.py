"""mcentral (runtime/mcentral.go, mspanset.go; spanSet design since Go 1.15/1.16, unchanged in
1.19-1.26): per span class, partial[2] and full[2] FIFO span sets; index sweepgen/2 % 2 holds
swept spans, the other unswept ones, so the sweepgen += 2 at mark termination swaps their
roles. cacheSpan: partial swept, then (within a 100-span budget shared by both loops) partial
unswept swept on demand, full unswept swept (used if a slot freed, else pushed full swept),
then a fresh span from mheap. uncacheSpan: a stale span is swept now, else placed by fullness.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import mspan, sweep
from goalloc.engine.spanset import pop, push, set_id, swept_idx  # noqa: F401 (re-exported)
from goalloc.engine.state import (
    PAGE_SIZE,
    S_SG,
    SP_FREEINDEX,
    SP_NELEMS,
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
