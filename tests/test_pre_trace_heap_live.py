"""The runtime's heapLive before the first GC, as the trace reads it (engine/pacer.py
recorded_heap_live). A Go trace carries every change of heapLive (HeapAlloc); before the first
mark termination it holds what tracing began after and the trace never shows (the free slots of
spans Ps had cached before), so the model's own heapLive is short by it, and the first GC starts
late. Measured on the project's recordings (Go 1.23, 1.26, 1.27): 130-360 KiB short at every
reading before the first GC, by the same amount at each. Hand-made traces of 64 KiB objects
(each adds 65,536 B to heapLive), a runtime 200,000 B ahead, worked out by hand."""

from __future__ import annotations

import pytest

from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.trace import Header, Writer
from goalloc.trace import format as fmt

MS = 1_000_000
OBJ = 64 << 10
AHEAD = 200_000
TRIGGER = 3_997_696  # the first cycle's: 61/64 of the 4 MiB heap minimum (heapMarked 0)


def _trace(path, reading_first: bool, readings: bool = True) -> list[int]:
    """100 objects of 64 KiB, each with a reading of the runtime's heapLive after it, (k + 1)
    x 65,536 + AHEAD: after the allocation's event as a large object's is traced, or before it
    as a refill's (`reading_first`); a recorded gc_start at 50 ms. Returns the allocations'
    event indices."""
    cols = {c: [] for c in ("kind", "ts", "id", "size", "aux", "flags", "p")}
    allocs = []

    def ev(kind, ts, i=0, size=0, aux=0):
        for c, v in zip(cols, (kind, ts, i, size, aux, 0, 0), strict=True):
            cols[c].append(v)
        return len(cols["kind"]) - 1
    for k in range(100):
        live = (k + 1) * OBJ + AHEAD
        if reading_first and readings:
            ev(fmt.HEAP_LIVE, 10 * k + 1, size=live)
        allocs.append(ev(fmt.ALLOC, 10 * k + 2, k, OBJ))
        if not reading_first and readings:
            ev(fmt.HEAP_LIVE, 10 * k + 3, size=live)
    ev(fmt.GC_START, 50 * MS, 1, aux=fmt.GC_TRIGGER_NAMES.index("heap"))
    ev(fmt.GC_MARK_TERM, 51 * MS, 1)
    with Writer(path, Header(frees="sweep", sizes="requested", gomaxprocs=1), force=True) as w:
        w.write(**cols)
    return allocs


@pytest.mark.parametrize("reading_first", [False, True])
def test_recorded_mode_takes_the_runtimes_heap_live(tmp_path, reading_first):
    """At the recording's gc_start every allocation is in: the last reading less the model's
    own heapLive (100 x 65,536) is the runtime's 200,000 B more, exactly, in either order."""
    _trace(tmp_path / "t.msgpack", reading_first)
    r = replay(tmp_path / "t.msgpack", Config(gc_mode="recorded"))
    assert r.pre_trace_heap_live == AHEAD
    assert r.cycles[0].heap_at_trigger == 100 * OBJ + AHEAD


@pytest.mark.parametrize("reading_first, first_gc_alloc", [
    # each reading after its object: exact, heapLive (k + 1) x 65,536 + 200,000 reaches the
    # trigger at k + 1 = ceil(3,797,696 / 65,536) = 58
    (False, 57),
    # each before its object: 65,536 more until the recording's gc_start (the least reading
    # less the model's own is 265,536), so one object sooner: k + 1 = ceil(3,732,160 / 65,536)
    (True, 56),
])
def test_pacer_mode_starts_its_first_cycle_at_the_runtimes_trigger(tmp_path, reading_first,
                                                                     first_gc_alloc):
    allocs = _trace(tmp_path / "t.msgpack", reading_first)
    r = replay(tmp_path / "t.msgpack", Config(gc_mode="pacer"))
    assert r.cycles[0].start_event == allocs[first_gc_alloc]
    assert r.cycles[0].heap_at_trigger >= TRIGGER
    # without readings the model's own heapLive: k + 1 = ceil(3,997,696 / 65,536) = 61
    allocs = _trace(tmp_path / "n.msgpack", reading_first, readings=False)
    r = replay(tmp_path / "n.msgpack", Config(gc_mode="pacer"))
    assert r.pre_trace_heap_live == 0
    assert r.cycles[0].start_event == allocs[60]


def test_the_tracers_buffers_a_replay_leaves_out_leave_the_readings_too(tmp_path):
    """Two 1 MiB tracer buffers (flag tracer) first: the runtime's readings hold them, a pacer
    replay leaves them out by default (the untraced program has none), so they come off the
    readings before the comparison: the runtime is still 200,000 B ahead of the model, not
    2 MiB more, and the first cycle starts where it does without the buffers (object 57)."""
    cols = {c: [] for c in ("kind", "ts", "id", "size", "aux", "flags", "p")}
    allocs = []

    def ev(kind, ts, i=0, size=0, flags=0):
        for c, v in zip(cols, (kind, ts, i, size, 0, flags, 0), strict=True):
            cols[c].append(v)
        return len(cols["kind"]) - 1
    buffers = 2 << 20
    for k in range(2):
        ev(fmt.ALLOC, 1 + k, 1000 + k, 1 << 20, fmt.FLAG_TRACER)
        ev(fmt.HEAP_LIVE, 2 + k, size=(k + 1) * (1 << 20) + AHEAD)
    for k in range(100):
        allocs.append(ev(fmt.ALLOC, 10 * k + 10, k, OBJ))
        ev(fmt.HEAP_LIVE, 10 * k + 11, size=(k + 1) * OBJ + buffers + AHEAD)
    ev(fmt.GC_START, 50 * MS, 1, flags=0)
    ev(fmt.GC_MARK_TERM, 51 * MS, 1)
    with Writer(tmp_path / "b.msgpack", Header(frees="sweep", sizes="requested", gomaxprocs=1,
                                                source={"tracer_buffer_bytes": buffers}),
                force=True) as w:
        w.write(**cols)
    r = replay(tmp_path / "b.msgpack", Config(gc_mode="pacer"))
    assert r.tracer_buffers_dropped
    assert r.pre_trace_heap_live == AHEAD
    assert r.cycles[0].start_event == allocs[57]
    # kept, the model holds them itself: the same difference, the trigger 32 objects sooner
    # (ceil((3,997,696 - 2 MiB - 200,000) / 65,536) = 26)
    r = replay(tmp_path / "b.msgpack", Config(gc_mode="pacer", tracer_buffers="keep"))
    assert r.pre_trace_heap_live == AHEAD
    assert r.cycles[0].start_event == allocs[25]
