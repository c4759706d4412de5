"""mcentral's span sets (runtime/mspanset.go; Go 1.15/1.16+, unchanged in 1.19-1.26) as FIFO
lists of span records: set id = spc*4 + kind, kind 0/1 partial[idx], 2/3 full[idx]; index
sweepgen/2 % 2 holds swept spans. The lists are doubly linked so mheap.reclaim can take an
unswept span out of its set (the runtime leaves it there and skips it later: same effect).
Popping or unlinking an unswept span counts sweeping down (S_UNSWEPT); when the last one goes,
the timed work (background scavenger wake-up) is rescheduled.

The runtime's sets are blocks of 512 span pointers on a spine: a push past the last block takes
a block from a pool (persistentalloc'd when the pool is empty, never freed), a block goes back
when all its entries were popped, and sweep termination resets the unswept sets (finishsweep_m:
their last, partly popped block goes back). The spine is allocated at a set's first push
(256 block pointers) and kept. Each set counts its pushes and pops since its reset (LH_PUSHED,
LH_POPPED) so the blocks in use and the pool's high water are the runtime's
(/memory/classes/metadata/other, engine/mstats.py); a span mheap.reclaim unlinks counts as
popped (the runtime pops it later, already swept).
"""

from __future__ import annotations

from goalloc.engine.state import (
    CS_SS0,
    LH_HEAD,
    LH_LEN,
    LH_POPPED,
    LH_PUSHED,
    LH_SPINE,
    LH_TAIL,
    S_NEXT_TIMED,
    S_NOW,
    S_SCAV_READY,
    S_SG,
    S_SS_SPINES,
    S_SSB_HW,
    S_SSB_INUSE,
    S_SWEEP_DONE_TS,
    S_UNSWEPT,
    SP_NEXT,
    SP_PREV,
    SP_WHERE,
    WHERE_NONE,
)
from goalloc.jit import njit

BLOCK_ENTRIES = 512  # spanSetBlockEntries
BLOCK_BYTES = 4120  # unsafe.Sizeof(spanSetBlock{}): lfnode, popped, 512 pointers (linux/amd64)
SPINE_BYTES = 256 * 8  # spanSetInitSpineCap pointers


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
    _pushed(s.sc, lh, lid)


@njit(cache=True, inline="always")
def _pushed(sc, lh, lid):
    """spanSet.push's index: a push into a new block takes one from the pool (the pool grows
    when it has none); the first push ever allocates the set's spine."""
    if lh[lid, LH_PUSHED] % BLOCK_ENTRIES == 0:
        sc[S_SSB_INUSE] += 1
        if sc[S_SSB_INUSE] > sc[S_SSB_HW]:
            sc[S_SSB_HW] = sc[S_SSB_INUSE]
        if lh[lid, LH_SPINE] == 0:
            lh[lid, LH_SPINE] = 1
            sc[S_SS_SPINES] += 1
    lh[lid, LH_PUSHED] += 1


@njit(cache=True, inline="always")
def _popped(sc, lh, lid):
    """spanSet.pop's index: a block whose every entry was popped goes back to the pool."""
    lh[lid, LH_POPPED] += 1
    if lh[lid, LH_POPPED] % BLOCK_ENTRIES == 0:
        sc[S_SSB_INUSE] -= 1


@njit(cache=True)
def blocks_held(lh, lid):
    """The blocks set lid holds: from the head's block to the tail's."""
    return (lh[lid, LH_PUSHED] + BLOCK_ENTRIES - 1) // BLOCK_ENTRIES \
        - lh[lid, LH_POPPED] // BLOCK_ENTRIES


@njit(cache=True)
def reset_unswept(s):
    """finishsweep_m: every mcentral's unswept sets, empty now, are reset; the partly popped
    block each still holds goes back to the pool."""
    lh = s.lh
    un = 1 - swept_idx(s)
    for spc in range(s.mc.shape[1]):
        for full in (False, True):
            lid = set_id(spc, full, un)
            s.sc[S_SSB_INUSE] -= blocks_held(lh, lid)
            lh[lid, LH_PUSHED] = 0
            lh[lid, LH_POPPED] = 0


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
    _popped(s.sc, lh, lid)
    _count_unswept(s, lid)
