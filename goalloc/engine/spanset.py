"""mcentral's span sets (runtime/mspanset.go; Go 1.15/1.16+, unchanged in 1.19-1.26) as FIFO
lists of span records: set id = spc*4 + kind, kind 0/1 partial[idx], 2/3 full[idx]; index
sweepgen/2 % 2 holds swept spans. The lists are doubly linked so mheap.reclaim can take an
unswept span out of its set (the runtime leaves it there and skips it later: same effect).
Popping or unlinking an unswept span counts sweeping down (S_UNSWEPT); when the last one goes,
the timed work (background scavenger wake-up) is rescheduled.
"""

from __future__ import annotations

from goalloc.engine.state import (
    CS_SS0,
    LH_HEAD,
    LH_LEN,
    LH_TAIL,
    S_NEXT_TIMED,
    S_NOW,
    S_SCAV_READY,
    S_SG,
    S_SWEEP_DONE_TS,
    S_UNSWEPT,
    SP_NEXT,
    SP_PREV,
    SP_WHERE,
    WHERE_NONE,
)
from goalloc.jit import njit


@njit(cache=True)
def swept_idx(s):
    return (s.sc[S_SG] >> 1) & 1


@njit(cache=True)
def set_id(spc, full, idx):
    return spc * 4 + (2 if full else 0) + idx


@njit(cache=True)
def push(s, lid, sid):
    lh = s.lh
    sp = s.sp
    sp[sid, SP_NEXT] = -1
    t = lh[lid, LH_TAIL]
    sp[sid, SP_PREV] = t
    if t >= 0:
        sp[t, SP_NEXT] = sid
    else:
        lh[lid, LH_HEAD] = sid
    lh[lid, LH_TAIL] = sid
    lh[lid, LH_LEN] += 1
    sp[sid, SP_WHERE] = lid
    s.cs[lid >> 2, CS_SS0 + ((lid >> 1) & 1)] += 1  # span-set push (partial / full)


@njit(cache=True)
def _count_unswept(s, lid):
    sc = s.sc
    if (lid & 1) != ((sc[S_SG] >> 1) & 1):
        sc[S_UNSWEPT] -= 1
        if sc[S_UNSWEPT] == 0:
            sc[S_SWEEP_DONE_TS] = sc[S_NOW]
            sc[S_SCAV_READY] = 1
            sc[S_NEXT_TIMED] = 0  # wake the scavenger at the next event


@njit(cache=True)
def pop(s, lid):
    """Take the span at the head of set lid (-1 when it is empty)."""
    sid = s.lh[lid, LH_HEAD]
    if sid >= 0:
        unlink(s, sid)
    return sid


@njit(cache=True)
def unlink(s, sid):
    """Take span sid out of the set it is in (it must be in one)."""
    lh = s.lh
    sp = s.sp
    lid = sp[sid, SP_WHERE]
    prv = sp[sid, SP_PREV]
    nxt = sp[sid, SP_NEXT]
    if prv >= 0:
        sp[prv, SP_NEXT] = nxt
    else:
        lh[lid, LH_HEAD] = nxt
    if nxt >= 0:
        sp[nxt, SP_PREV] = prv
    else:
        lh[lid, LH_TAIL] = prv
    lh[lid, LH_LEN] -= 1
    sp[sid, SP_NEXT] = -1
    sp[sid, SP_PREV] = -1
    sp[sid, SP_WHERE] = WHERE_NONE
    s.cs[lid >> 2, CS_SS0 + 2 + ((lid >> 1) & 1)] += 1  # span-set pop (partial / full)
    _count_unswept(s, lid)
