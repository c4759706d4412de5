"""Manual spans in the page heap (runtime/mheap.go allocManual / freeManual, the same allocSpan
path as heap spans): goroutine stacks and GC work buffers take pages of the heap's chunks but
are not heap memory (the runtime counts them in /memory/classes/heap/stacks or metadata, not
in heap objects / unused / free / released). A trace records them as span_alloc with aux -1.

Expected values are worked out by hand: a chunk is 512 pages of 8 KiB; a heap growth maps
whole chunks, released until used; a large object of k * 8 KiB takes k pages. Page caches are
off (Config.no_pagecache) except where a test is about them, so placement is first fit.
"""

from __future__ import annotations

import pytest
from conftest import write_trace

from goalloc.engine import state as S
from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.errors import TraceError
from goalloc.trace import Header
from goalloc.trace import format as fmt

PAGE = 8192
NOSCAN = fmt.FLAG_NOSCAN


def manual(span_id, pages, flags=0):
    return dict(kind=fmt.SPAN_ALLOC, id=span_id, size=pages, aux=-1, flags=flags)


def span_free(span_id):
    return dict(kind=fmt.SPAN_FREE, id=span_id)


def large(oid, pages):
    return dict(kind=fmt.ALLOC, id=oid, size=pages * PAGE, flags=NOSCAN)


def engine(tmp_path, events, **cfg):
    events = [dict(e, ts=i + 1) for i, e in enumerate(events)]
    path = write_trace(tmp_path / "t.msgpack", events, Header(gomaxprocs=1))
    out = []
    r = replay(path, Config(**{"no_pagecache": True, "gc_mode": "recorded", **cfg}),
               engine_out=out)
    return r, out[0]


def pages(eng):
    sc = eng.arrays.sc
    return (int(sc[S.S_MAPPED_CHUNKS]), int(sc[S.S_PAGES_INUSE]), int(sc[S.S_PAGES_MANUAL]),
            int(sc[S.S_PAGES_FREE]), int(sc[S.S_PAGES_RELEASED]))


def test_manual_span_takes_pages_outside_the_heap_classes(tmp_path):
    r, eng = engine(tmp_path, [manual(0, 4), large(0, 18)])
    # one chunk: 4 manual pages, then the 18-page object right after them (first fit)
    assert pages(eng) == (1, 18, 4, 0, 512 - 4 - 18)
    assert int(eng.arrays.sp[0, S.SP_BASE]) == 4
    # the heap classes leave the manual pages out, as /memory/classes/heap/* do
    end = r.end
    assert end.objects + end.unused + end.free + end.released == (512 - 4) * PAGE


def test_manual_pages_push_the_heap_into_another_chunk(tmp_path):
    # 4 + 508 pages fill one chunk exactly; 4 + 509 do not: the runtime maps a second chunk
    # (4 MiB more, released until used), which the heap alone (509 pages) would not need
    _, eng = engine(tmp_path, [manual(0, 4), large(0, 508)])
    assert pages(eng) == (1, 508, 4, 0, 0)
    _, eng = engine(tmp_path, [manual(0, 4), large(0, 509)])
    assert pages(eng)[0] == 2
    _, eng = engine(tmp_path, [large(0, 509)])
    assert pages(eng)[0] == 1


def test_freed_manual_span_returns_free_pages(tmp_path):
    # freeManual: the 4 pages come back free (not released), and 512 pages fit one chunk
    _, eng = engine(tmp_path, [manual(7, 4), span_free(7)])
    assert pages(eng) == (1, 0, 0, 4, 508)
    _, eng = engine(tmp_path, [manual(7, 4), span_free(7), large(0, 512)])
    assert pages(eng) == (1, 512, 0, 0, 0)


def test_heap_span_at_a_live_manual_id_means_its_free_was_lost(tmp_path):
    # the importer's dense span ids are reused: a heap span_alloc at a live manual span's id
    # says that span was freed (its span_free lost), so its pages are free again
    heap_span = dict(kind=fmt.SPAN_ALLOC, id=3, size=1, aux=2)
    _, eng = engine(tmp_path, [manual(3, 4), heap_span])
    assert pages(eng) == (1, 0, 0, 4, 508)
    # a span_free of an id that holds no manual span (a heap span's) changes nothing
    _, eng = engine(tmp_path, [manual(3, 4), span_free(9)])
    assert pages(eng) == (1, 0, 4, 0, 508)


def test_second_manual_alloc_at_a_live_id_replaces_it(tmp_path):
    # the first one's 4 pages come back free, and first fit puts the new 2 at pages 0-1:
    # 2 free pages left, the chunk's other 508 still released
    _, eng = engine(tmp_path, [manual(3, 4), manual(3, 2)])
    assert pages(eng) == (1, 0, 2, 2, 508)
    assert int(eng.arrays.msp[3, 0]) == 0


def test_snapshot_manual_span_bypasses_the_page_cache(tmp_path):
    # with page caches on, a P's manual span (4 < 16 pages) comes from its cache: a 64-page
    # aligned block's free pages taken from the page allocator. A 20-page object (too big for
    # a cache) maps the chunk first at pages 0-19, so the cache gets pages 20-63 and the
    # manual span the first 4 of them, leaving 40 cached
    _, eng = engine(tmp_path, [large(0, 20), manual(0, 4)], no_pagecache=False)
    a = eng.arrays
    assert int(a.msp[0, 0]) == 20 and int(a.pp[0, S.PP_PC_BASE]) == 0
    assert bin(int(a.pcache[0])).count("1") == 40
    # one alive when recording began was placed before the trace, like the snapshot's heap
    # spans: first fit, no cache filled for it
    snap = manual(0, 4, flags=fmt.FLAG_SNAPSHOT)
    _, eng = engine(tmp_path, [large(0, 20), snap], no_pagecache=False)
    a = eng.arrays
    assert int(a.msp[0, 0]) == 20 and int(a.pp[0, S.PP_PC_BASE]) == -1


def test_manual_span_ids_beyond_the_dense_bound_are_skipped(tmp_path):
    # ids are dense; one far past the trace's length (a corrupt file) takes no table room
    _, eng = engine(tmp_path, [manual(1 << 40, 4), large(0, 1)])
    assert pages(eng)[2] == 0
    assert eng.arrays.msp.shape[0] < 1 << 22


def test_manual_span_past_the_models_heap_limit_is_a_clear_error(tmp_path):
    # a corrupt size (2^62 pages) asks for more heap than goalloc.limits allows: the replay
    # stops with the model's one-line limit error naming the trace, not a MemoryError or a hang
    with pytest.raises(TraceError, match=r"t\.msgpack: the modelled heap would exceed"):
        engine(tmp_path, [manual(0, 1 << 62), large(0, 1)])
    # a negative one takes nothing
    _, eng = engine(tmp_path, [manual(0, -5), large(0, 1)])
    assert pages(eng) == (1, 1, 0, 0, 511)
