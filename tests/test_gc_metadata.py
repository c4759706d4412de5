"""GC metadata the runtime allocates off-heap and never frees, as /memory/classes/metadata/other
counts it (engine/spanset.py, engine/gcbits.py, engine/mstats.py): mcentral's span-set blocks
and spines (runtime/mspanset.go) and the gcBits arenas of the spans' mark and alloc bits
(runtime/mheap.go newMarkBits, nextMarkBitArenaEpoch); and the manual spans' pages as the
stack memory the memory limit sees.

Expected values are worked out by hand from those files: a block holds 512 span pointers and
goes back to the pool when all 512 were popped; a set's spine comes with its first push; a
bitmap for n objects is ceil(n / 64) * 8 bytes out of a 64 KiB arena less its 16-byte header;
arenas rotate next -> current -> previous -> free at each sweep termination. The comparison
with the runtime's own readings is tests/test_scavenger_go.py
(test_modelled_nonheap_memory_as_the_samples_measure_it).
"""

from __future__ import annotations

import numpy as np
from conftest import write_trace

from goalloc.engine import gcbits, mstats, spanset
from goalloc.engine import state as S
from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.trace import Header
from goalloc.trace import format as fmt

PAGE = 8192


def engine(tmp_path, events, **cfg):
    events = [dict(e, ts=i + 1) for i, e in enumerate(events)]
    path = write_trace(tmp_path / "t.msgpack", events, Header(gomaxprocs=1))
    out = []
    replay(path, Config(**{"no_pagecache": True, "gc_mode": "recorded", **cfg}), engine_out=out)
    return out[0]


def blocks(sc):
    return int(sc[S.S_SSB_INUSE]), int(sc[S.S_SSB_HW]), int(sc[S.S_SS_SPINES])


def test_span_set_blocks_as_mspanset_takes_and_gives_them_back(tmp_path):
    """push takes a block at every 512th entry, pop gives one back when all its entries were
    popped, reset gives back the partly popped one; the pool keeps its high water and a set
    its spine."""
    eng = engine(tmp_path, [dict(kind=fmt.ALLOC, id=0, size=16, flags=fmt.FLAG_NOSCAN)])
    s, sc = eng.arrays.state, eng.arrays.sc
    base = blocks(sc)
    spc = 2 * 60  # a class the trace never used: its sets are empty and unreset
    un = 1 - spanset.swept_idx(s)
    lid = spanset.set_id(spc, False, un)
    rows = range(100, 100 + 513)  # span records the trace does not use
    spanset.push(s, lid, rows[0])
    assert blocks(sc) == (base[0] + 1, max(base[1], base[0] + 1), base[2] + 1)
    for sid in rows[1:512]:
        spanset.push(s, lid, sid)
    assert blocks(sc)[0] == base[0] + 1  # 512 entries: one block
    spanset.push(s, lid, rows[512])
    assert blocks(sc)[0] == base[0] + 2  # the 513th takes a second block
    high = blocks(sc)[1]
    assert high >= base[0] + 2
    for _ in range(512):
        spanset.pop(s, lid)
    assert blocks(sc)[0] == base[0] + 1  # the first block, all popped, went back
    assert spanset.pop(s, lid) == rows[512]
    assert blocks(sc)[0] == base[0] + 1  # one of 512 popped: still held
    # sweep termination resets every unswept set: each gives back the blocks from its head's
    # to its tail's (ceil(pushed / 512) - popped // 512, mspanset.go's index), ours the one
    lh = eng.arrays.lh
    ids = [spanset.set_id(c, full, un) for c in range(eng.arrays.mc.shape[1]) for full in (False, True)]
    held = {i: -(-lh[i, S.LH_PUSHED] // 512) - lh[i, S.LH_POPPED] // 512 for i in ids}
    assert held[lid] == 1
    before = blocks(sc)[0]
    spanset.reset_unswept(s)
    assert blocks(sc)[0] == before - sum(held.values())
    assert (lh[lid, S.LH_PUSHED], lh[lid, S.LH_POPPED]) == (0, 0)
    spanset.push(s, lid, rows[0])
    assert blocks(sc)[1] == high  # taken from the pool: the high water stays
    assert blocks(sc)[2] == base[2] + 1  # the spine is the set's for good


def test_gc_bits_arenas_fill_rotate_and_keep_their_high_water():
    sc = np.zeros(S.N_SC, np.int64)
    per_arena = (64 * 1024 - 16) // 64  # 512-object spans: 64 bytes each
    assert per_arena == 1023
    for _ in range(per_arena):
        gcbits.new_mark_bits(sc, 512)
    assert (sc[S.S_GCB_NEXT], sc[S.S_GCB_HW]) == (1, 1)
    gcbits.new_mark_bits(sc, 512)  # no room for 64 more bytes: a fresh arena
    assert (sc[S.S_GCB_NEXT], sc[S.S_GCB_HW]) == (2, 2)
    gcbits.new_mark_bits(sc, 1)  # 8 bytes fit the fresh head arena
    assert sc[S.S_GCB_NEXT] == 2
    gcbits.next_epoch(sc)  # next (2) becomes current
    gcbits.new_mark_bits(sc, 65)  # 16 bytes
    assert (sc[S.S_GCB_NEXT], sc[S.S_GCB_CUR], sc[S.S_GCB_HW]) == (1, 2, 3)
    gcbits.next_epoch(sc)  # previous 2, current 1
    gcbits.new_mark_bits(sc, 8)
    assert sc[S.S_GCB_HW] == 4
    gcbits.next_epoch(sc)  # the previous two go to the free list
    gcbits.new_mark_bits(sc, 8)
    assert (sc[S.S_GCB_PREV], sc[S.S_GCB_CUR], sc[S.S_GCB_NEXT]) == (1, 1, 1)
    assert sc[S.S_GCB_HW] == 4  # held 3 of the 4 mapped
    assert gcbits.bytes_mapped(sc) == 4 * 64 * 1024


def test_spans_take_their_bitmaps_at_init_and_at_every_sweep(tmp_path):
    """initSpan takes mark and alloc bits, a sweep fresh mark bits: 2000 one-object (large)
    spans take 2 x 8 bytes each, 32,000 bytes of one arena; after a cycle that sweeps them
    all (they died), 8 bytes more each."""
    events = [dict(kind=fmt.ALLOC, id=i, size=40 * 1024, flags=fmt.FLAG_NOSCAN)
              for i in range(2000)]
    eng = engine(tmp_path, events)
    sc = eng.arrays.sc
    assert (sc[S.S_GCB_NEXT], sc[S.S_GCB_HEAD_USED]) == (1, 2000 * 16)
    events += [dict(kind=fmt.GC_START, id=1), dict(kind=fmt.GC_MARK_TERM, id=1),
               dict(kind=fmt.GC_END, id=1)]
    events += [dict(kind=fmt.FREE, id=i) for i in range(2000)]
    events += [dict(kind=fmt.GC_START, id=2)]  # sweep termination sweeps every span
    eng = engine(tmp_path, events)
    sc = eng.arrays.sc
    # the sweeps' 2000 x 8 bytes went to the arena that became `current` at the second
    # sweep termination, after the first one's: previous + current, one arena each
    assert (sc[S.S_GCB_PREV], sc[S.S_GCB_CUR], sc[S.S_GCB_NEXT]) == (1, 1, 0)
    assert sc[S.S_GCB_HW] == 2


def test_stack_memory_is_the_manual_spans_pages(tmp_path):
    """/memory/classes/heap/stacks counts stack spans whole: a 4-page manual span holding one
    8 KiB stack is 32 KiB of it; the stack events alone count only without manual spans."""
    stack = dict(kind=fmt.STACK_ALLOC, id=1, size=8192)
    eng = engine(tmp_path, [dict(kind=fmt.SPAN_ALLOC, id=0, size=4, aux=-1), stack])
    assert mstats.stacks(eng.arrays.sc) == 4 * PAGE
    eng = engine(tmp_path, [stack])
    assert mstats.stacks(eng.arrays.sc) == 8192
    eng = engine(tmp_path, [dict(kind=fmt.ALLOC, id=0, size=16, flags=fmt.FLAG_NOSCAN)])
    assert mstats.stacks(eng.arrays.sc) == mstats.FIXED_STACKS
