"""Late mcache flushes (#12). Mark termination flushes every P's mcache through forEachP, each P
at its safe point; a P that does not reach one keeps its stale spans out of every mcentral list
until an M acquires it, and acquirepNoTrace's prepareForSweep sweeps them before the ProcStart
is traced. A Go recording shows those flushes (the importer lists them in the header's
`mcache_flushes`); in recorded GC mode the replay flushes such a P there, not at its mark
termination.

Expected values are worked out by hand. Size class 2048 B holds 4 slots in its one-page span
(Go's table). P1 allocates one object, so its mcache caches a span with 3 free slots; after the
mark termination P0 allocates three more. Flushed at the mark termination, P1's span goes to
the partial list and P0's refill takes it (one span); left in P1's mcache until later, P0's
refill finds no partial span and grows the heap (two spans). The hand-built Go traces check the
importer's half: frees by an M holding no P, then that M's ProcStart; and frees by the
goroutine that ended a mark termination, its first events after the stop (forEachP flushing
the idle Ps).
"""

from __future__ import annotations

import numpy as np
from conftest import write_trace
from test_import_gotrace import SPAN48, batch, enc, ev, hand, read

from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.trace import Header
from goalloc.trace import format as fmt
from goalloc.trace.importers.gotrace import import_gotrace

SIZE = 2048
NOSCAN = fmt.FLAG_NOSCAN


def alloc(oid, p):
    return dict(kind=fmt.ALLOC, id=oid, size=SIZE, flags=NOSCAN, p=p)


def cycle(n):
    return [dict(kind=fmt.GC_START, id=n, aux=fmt.GC_TRIGGER_HEAP),
            dict(kind=fmt.GC_MARK_TERM, id=n), dict(kind=fmt.GC_END, id=n)]


def spans_of_2048(tmp_path, events, flushes=None, gc_mode="recorded"):
    events = [dict(e, ts=i + 1) for i, e in enumerate(events)]
    extra = {} if flushes is None else {"mcache_flushes": flushes}
    header = Header(gomaxprocs=2, frees="sweep", extra=extra)
    path = write_trace(tmp_path / "t.msgpack", events, header)
    r = replay(path, Config(gc_mode=gc_mode, no_pagecache=True))
    return sum(c.spans for c in r.classes if c.slot_size == SIZE)


# event indices: 0 P1's alloc, 1-3 cycle 1, 4-6 P0's allocs
EVENTS = [alloc(0, 1), *cycle(1), alloc(1, 0), alloc(2, 0), alloc(3, 0)]


def test_flushed_at_mark_termination_p1s_span_is_reused(tmp_path):
    assert spans_of_2048(tmp_path, EVENTS) == 1


def test_late_flush_keeps_p1s_span_out_until_then(tmp_path):
    # P1 flushed before event 5 or 6: P0's refill at event 4 found no partial span and grew
    # the heap; its next objects go to its own cached span
    assert spans_of_2048(tmp_path, EVENTS, [[5, 1]]) == 2
    assert spans_of_2048(tmp_path, EVENTS, [[6, 1]]) == 2
    # flushed before event 4, ahead of P0's refill: as at the mark termination
    assert spans_of_2048(tmp_path, EVENTS, [[4, 1]]) == 1


def plan_of(tmp_path, events, flushes):
    from goalloc.engine import lookahead

    events = [dict(e, ts=i + 1) for i, e in enumerate(events)]
    header = Header(gomaxprocs=2, frees="sweep", extra={"mcache_flushes": flushes})
    path = write_trace(tmp_path / "p.msgpack", events, header)
    return lookahead.plan(path, header)


def test_a_flush_after_the_p_allocated_again_is_not_late(tmp_path):
    # a P is flushed before it allocates, so a listed flush after P1's next allocation is
    # not the one its mark termination left: the mark termination flushed P1 as usual
    p = plan_of(tmp_path, EVENTS, [[5, 1]])
    assert (p.late_term_at.tolist(), p.late_term_mask.tolist()) == ([2], [0b10])
    p = plan_of(tmp_path, EVENTS[:4] + [alloc(4, 1)] + EVENTS[4:], [[6, 1]])
    assert p.late_term_at.tolist() == []
    # nor one outside a sweep phase: before any mark termination, or after the next gc_start
    assert plan_of(tmp_path, EVENTS, [[1, 1]]).late_term_at.tolist() == []
    p = plan_of(tmp_path, [alloc(0, 1), *cycle(1), *cycle(2), alloc(1, 0)], [[5, 1]])
    assert p.late_term_at.tolist() == []


def test_the_next_gc_start_flushes_a_pending_p(tmp_path):
    # P1's flush listed after cycle 2 began: gcStart finds every mcache flushed, so the model
    # flushes P1 there; P0's allocations after cycle 2's start then refill from P1's span
    events = [alloc(0, 1), *cycle(1), dict(kind=fmt.GC_START, id=2, aux=fmt.GC_TRIGGER_HEAP),
              alloc(1, 0), alloc(2, 0), alloc(3, 0)]
    assert spans_of_2048(tmp_path, events, [[8, 1]]) == 1


def test_pacer_mode_ignores_the_recording_s_flushes(tmp_path):
    assert (spans_of_2048(tmp_path, EVENTS, [[5, 1]], gc_mode="pacer")
            == spans_of_2048(tmp_path, EVENTS, gc_mode="pacer"))


def test_importer_lists_an_acquire_flush(tmp_path):
    # M1 holds P0 (ProcStatus running): a 48 B span, an object at slot 0 (t=1002), another
    # at t=1030. M2 holds no P: it frees slot 0 (t=1010: swept, no P), then starts P1 (t=1011):
    # P1's mcache flush, before the next event (M1's second object)
    m1 = ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1) + ev(132, 28, 6, 1)
    m2 = ev(133, 10, 0) + ev(10, 1, 1, 1)
    out = tmp_path / "t.msgpack"
    notes = import_gotrace(hand(tmp_path / "t.trace", m1, m2), out)
    header, c = read(out)
    kinds = c["kind"].tolist()
    after_free = kinds.index(fmt.FREE) + 1
    assert c["kind"][after_free] == fmt.ALLOC  # nothing written for the ProcStart itself
    assert header.extra["mcache_flushes"] == [[after_free, 1]]
    assert notes["late_mcache_flushes"] == 1


def test_importer_needs_the_free_run_right_before_the_procstart(tmp_path):
    # M2's free, then a span of its own (another event), then ProcStart: not a flush
    m1 = ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1) + ev(132, 28, 6, 1)
    m2 = ev(133, 10, 0) + ev(129, 1, 16, 1, (5 << 1) << 1) + ev(10, 1, 1, 1)
    out = tmp_path / "t.msgpack"
    notes = import_gotrace(hand(tmp_path / "t.trace", m1, m2), out)
    header, _ = read(out)
    assert "mcache_flushes" not in header.extra
    assert notes["late_mcache_flushes"] == 0
    assert np.sum(read(out)[1]["kind"] == fmt.FREE) == 1


MARK_TERM = b"GC mark termination"
STRINGS = batch(1, (1 << 64) - 1, 0, bytes([4, 5]) + enc(1, len(MARK_TERM)) + MARK_TERM)
STW_MARK_TERM = ev(26, 5, 1, 0) + ev(27, 3)  # STWBegin (reason: string 1), STWEnd


def test_importer_lists_the_idle_ps_a_mark_terminator_flushes(tmp_path):
    # M1 holds P0: a 48 B span, an object at slot 0 (t=1002), the mark termination's stop
    # (t=1007-1010), then it frees slot 0 (t=1020: forEachP sweeping an idle P's span).
    # M2 reports P1 idle and P2 running (ProcStatus at t=1000): P1 is the only P no M holds.
    m1 = ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1) + STW_MARK_TERM + ev(133, 10, 0)
    m2 = ev(13, 0, 1, 2) + ev(13, 0, 2, 1)
    out = tmp_path / "t.msgpack"
    notes = import_gotrace(hand(tmp_path / "t.trace", m1, m2, extra=STRINGS), out)
    header, c = read(out)
    kinds = c["kind"].tolist()
    assert header.extra["mcache_flushes"] == [[kinds.index(fmt.FREE), 1]]
    assert notes["idle_p_flushes"] == 1 and notes["late_mcache_flushes"] == 1


def test_a_p_started_after_the_stop_was_flushed_then(tmp_path):
    # the same, but M3 starts P1 at t=1015 (after the stop: its acquirep flushed it) and stops
    # it at t=1017: idle again at the free, yet nothing is left for forEachP to flush
    m1 = ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1) + STW_MARK_TERM + ev(133, 10, 0)
    m2 = ev(13, 0, 2, 1)
    m3 = ev(13, 0, 1, 2) + ev(10, 15, 1, 1) + ev(11, 2)  # M3: P1 idle, started, stopped
    out = tmp_path / "t.msgpack"
    notes = import_gotrace(hand(tmp_path / "t.trace", m1, m2,
                                extra=STRINGS + batch(1, 3, 1000, m3)), out)
    header, _ = read(out)
    assert "mcache_flushes" not in header.extra
    assert notes["idle_p_flushes"] == 0


def test_an_acquire_flush_of_the_p_later_overrules_the_idle_guess(tmp_path):
    # M1 allocates slots 0 and 1, stops for the mark termination (t=1008-1011) and frees slot
    # 0 (t=1021): P1, held by no M, is guessed flushed there. But M3, holding no P, frees slot
    # 1 (t=1025) and starts P1 (t=1026): P1's stale spans were swept at that acquire, so P1 had
    # been handed to M3 by the restart, not left idle; the header lists only that flush, before
    # the next event (M1's slot 2, t=1041)
    m1 = (ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1) + ev(132, 1, 6, 1) + STW_MARK_TERM
          + ev(133, 10, 0) + ev(132, 20, 12, 1))
    m2 = ev(13, 0, 2, 1)
    m3 = ev(133, 25, 6) + ev(10, 1, 1, 1)
    out = tmp_path / "t.msgpack"
    notes = import_gotrace(hand(tmp_path / "t.trace", m1, m2,
                                extra=STRINGS + batch(1, 3, 1000, m3)), out)
    header, c = read(out)
    kinds = c["kind"].tolist()
    assert kinds[-1] == fmt.ALLOC and kinds[-2] == fmt.FREE
    assert header.extra["mcache_flushes"] == [[len(kinds) - 1, 1]]
    assert notes["idle_p_flushes"] == 0 and notes["late_mcache_flushes"] == 1


def test_importer_needs_the_frees_to_come_first_after_the_stop(tmp_path):
    # the same, but M1 allocates (slot 1) between the stop and the free: its frees are then
    # a sweep of its own, not forEachP's
    m1 = (ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1) + STW_MARK_TERM + ev(132, 2, 6, 1)
          + ev(133, 10, 0))
    m2 = ev(13, 0, 1, 2) + ev(13, 0, 2, 1)
    out = tmp_path / "t.msgpack"
    notes = import_gotrace(hand(tmp_path / "t.trace", m1, m2, extra=STRINGS), out)
    header, _ = read(out)
    assert "mcache_flushes" not in header.extra
    assert notes["idle_p_flushes"] == 0


def test_a_malformed_list_is_a_one_line_error(tmp_path):
    import pytest

    from goalloc.errors import TraceError

    for bad in ([[1]], [[1, -1]], [["a", 1]], 7):
        with pytest.raises(TraceError, match="mcache_flushes"):
            spans_of_2048(tmp_path, EVENTS, bad)


def test_other_procs_ignore_the_recording_s_flushes(tmp_path):
    # --procs 1: every trace P is model P 0, so P1's flush names no P of the model
    events = [dict(e, ts=i + 1) for i, e in enumerate(EVENTS)]
    header = Header(gomaxprocs=2, frees="sweep", extra={"mcache_flushes": [[5, 1]]})
    path = write_trace(tmp_path / "t.msgpack", events, header)
    cfg = Config(gc_mode="recorded", no_pagecache=True, procs=1)
    with_flush = replay(path, cfg)
    header.extra = {}
    path = write_trace(tmp_path / "u.msgpack", events, header)
    assert ([c.spans for c in with_flush.classes]
            == [c.spans for c in replay(path, cfg).classes])


def test_the_import_summary_counts_them_as_read_not_as_unmapped(tmp_path, cli):
    m1 = ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1) + STW_MARK_TERM + ev(133, 10, 0)
    m2 = ev(13, 0, 1, 2) + ev(13, 0, 2, 1)
    code, out, _ = cli("import", "gotrace", hand(tmp_path / "t.trace", m1, m2, extra=STRINGS),
                       "-o", tmp_path / "t.msgpack")
    assert code == 0
    read_as = next(ln for ln in out.splitlines() if ln.startswith("read as the runtime ran"))
    assert "late mcache flushes 1" in read_as and "idle p flushes 1" in read_as
    assert "flushes" not in "".join(ln for ln in out.splitlines()
                                    if ln.startswith("not mapped"))
