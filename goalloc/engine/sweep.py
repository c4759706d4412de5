"""Sweeping one span (runtime/mgcsweep.go mspan.sweep; Go 1.19-1.26): the mark bits become the
alloc bits, unmarked slots are freed, freeindex restarts at 0, and a span left empty (or a
large span whose object is unmarked) goes back to the heap unless the caller preserves it
(cacheSpan sweeping a span to use it). The caller places a kept span in mcentral.
Span sweepgen (relative to mheap sweepgen sg): sg-2 unswept, sg swept, sg+1 cached stale,
sg+3 swept and cached.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import mheap
from goalloc.engine.state import (
    CS_ALLOC_BYTES,
    CS_ALLOC_SLOTS,
    S_FREES,
    S_OBJ_BYTES,
    S_SG,
    S_SPANS_SWEPT,
    SP_ALLOCCOUNT,
    SP_ELEMSIZE,
    SP_FREEINDEX,
    SP_NELEMS,
    SP_SPC,
    SP_SWEEPGEN,
)
from goalloc.jit import njit, popcount64

U0 = np.uint64(0)


@njit(cache=True)
def needs_sweep(s, sid):
    sg = s.sc[S_SG]
    g = s.sp[sid, SP_SWEEPGEN]
    return g == sg - 2 or g == sg + 1


@njit(cache=True)
def sweep_span(s, sid, preserve):
    """Sweep span sid; return True if its pages went back to the heap."""
    sp = s.sp
    sc = s.sc
    nel = sp[sid, SP_NELEMS]
    words = (nel + 63) >> 6
    cnt = 0
    for w in range(words):
        m = s.mbits[sid, w]
        cnt += popcount64(m)
        s.abits[sid, w] = m
        s.mbits[sid, w] = U0
    spc = sp[sid, SP_SPC]
    elemsize = sp[sid, SP_ELEMSIZE]
    freed = sp[sid, SP_ALLOCCOUNT] - cnt
    sp[sid, SP_ALLOCCOUNT] = cnt
    sp[sid, SP_FREEINDEX] = 0
    s.acache[sid] = ~s.abits[sid, 0]
    sp[sid, SP_SWEEPGEN] = sc[S_SG]
    s.cs[spc, CS_ALLOC_SLOTS] -= freed
    s.cs[spc, CS_ALLOC_BYTES] -= freed * elemsize
    sc[S_OBJ_BYTES] -= freed * elemsize
    sc[S_FREES] += freed
    sc[S_SPANS_SWEPT] += 1
    if cnt == 0 and (not preserve or (spc >> 1) == 0):
        mheap.free_span(s, sid)
        return True
    return False
