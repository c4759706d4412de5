"""The what-if peak in-use heap stops where the trace stops reporting deaths (#15, docs/model.md
2d). A Go trace reports a death when the sweep after the mark that found it frees the object;
that sweep ends before the next gc_start, so every death before the last gc_start but one is
reported, and every death before the last when that cycle was a runtime.GC() (which sweeps the
heap whole before it returns). Past that point the model keeps the unreported dead live and its
heap only climbs. Checked on hand-made traces of 64 KiB objects (8 pages each: in-use bytes
are 65,536 per live or unswept object), worked out by hand."""

from __future__ import annotations

import pytest

from goalloc.engine import whatif
from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.report.whatif import range_lines
from goalloc.trace import Header, Writer
from goalloc.trace import format as fmt

MS = 1_000_000
OBJ = 64 << 10


def _trace(path, last_forced: bool):
    """100 objects (ids 0-99), gc_start 1 at 10 ms (its sweep frees ids 0-49 at 12 ms), 100
    more (ids 100-199) at 15 ms, gc_start 2 at 20 ms (a runtime.GC() when `last_forced`),
    then a tail of 200 more (ids 200-399) and no free: the trace ends in cycle 2's sweep
    phase before it freed anything. Returns the two gc_starts' event indices."""
    cols = {c: [] for c in ("kind", "ts", "id", "size", "aux", "flags", "p")}

    def ev(kind, ts, i=0, size=0, aux=0):
        for c, v in zip(cols, (kind, ts, i, size, aux, 0, 0), strict=True):
            cols[c].append(v)
        return len(cols["kind"]) - 1
    for i in range(100):
        ev(fmt.ALLOC, 1 + i, i, OBJ)
    g1 = ev(fmt.GC_START, 10 * MS, 1, aux=fmt.GC_TRIGGER_NAMES.index("heap"))
    ev(fmt.GC_MARK_TERM, 11 * MS, 1)
    for i in range(50):
        ev(fmt.FREE, 12 * MS + i, i)
    for i in range(100, 200):
        ev(fmt.ALLOC, 15 * MS + i, i, OBJ)
    g2 = ev(fmt.GC_START, 20 * MS, 2, aux=fmt.GC_TRIGGER_FORCED if last_forced else
            fmt.GC_TRIGGER_NAMES.index("heap"))
    ev(fmt.GC_MARK_TERM, 21 * MS, 2)
    for i in range(200, 400):
        ev(fmt.ALLOC, 22 * MS + i, i, OBJ)
    with Writer(path, Header(frees="sweep", sizes="requested", gomaxprocs=2), force=True) as w:
        w.write(**cols)
    return g1, g2


@pytest.mark.parametrize("forced", [False, True])
def test_peak_in_use_stops_where_deaths_stop_being_reported(tmp_path, forced):
    g1, g2 = _trace(tmp_path / "t.msgpack", forced)
    r = replay(tmp_path / "t.msgpack", Config(gc_mode="recorded"))
    whole = max(s.objects + s.unused for s in r.timeline)
    # the end: ids 50-399 live or never reported dead
    assert whole == 350 * OBJ
    if forced:
        # to gc_start 2: ids 0-49 swept after cycle 1, ids 50-199 in use
        assert r.deaths_known_until_event == g2
        assert whatif.peak_inuse(r) == 150 * OBJ
    else:
        # to gc_start 1: ids 0-99, the dead half not yet swept
        assert r.deaths_known_until_event == g1
        assert whatif.peak_inuse(r) == 100 * OBJ
    assert whatif.figures(r)["peak_inuse"] == whatif.peak_inuse(r)
    # a pacer replay reads the same trace the same way
    p = replay(tmp_path / "t.msgpack", Config(gc_mode="pacer"), death_range=True)
    assert p.deaths_known_until_event == r.deaths_known_until_event
    # and the report says where its peak stops
    lines = [x for x in range_lines(p) if "peak in-use heap" in x]
    assert lines and "(to the last whole sweep)" in lines[0]


def test_horizon_from_the_last_two_gc_starts():
    assert whatif.deaths_known_until(40, 90, False) == 40
    assert whatif.deaths_known_until(40, 90, True) == 90
    assert whatif.deaths_known_until(-1, 90, False) is None  # one cycle, its sweep cut off
    assert whatif.deaths_known_until(-1, 90, True) == 90
    assert whatif.deaths_known_until(-1, -1, False) is None


def test_explicit_frees_know_every_death(tmp_path):
    """A trace whose frees are the deaths themselves (C traces) has no horizon: the peak is
    the whole timeline's."""
    cols = {c: [] for c in ("kind", "ts", "id", "size", "aux", "flags", "p")}
    for i in range(50):
        for c, v in zip(cols, (fmt.ALLOC, 1 + i, i, OBJ, 0, 0, 0), strict=True):
            cols[c].append(v)
    with Writer(tmp_path / "c.msgpack", Header(frees="death", sizes="requested"),
                force=True) as w:
        w.write(**cols)
    r = replay(tmp_path / "c.msgpack", Config())
    assert r.deaths_known_until_event is None
    assert whatif.peak_inuse(r) == 50 * OBJ


def test_cycles_past_the_last_reported_death():
    """tail_cycles: the cycles that start past the horizon and their rate per event against
    the rate before it (worked by hand)."""
    # 100 events, horizon at event 89: 2 cycles over events 0-89, 4 over events 90-99
    after, ratio = whatif.tail_cycles([10, 50, 90, 95, 97, 99], 89, 100)
    assert after == 4 and ratio == pytest.approx((4 / 10) / (2 / 90))
    assert whatif.tail_cycles([10, 50], 89, 100) == (0, 0.0)
    assert whatif.tail_cycles([10, 95], None, 100) == (0, 0.0)  # every death reported
    assert whatif.tail_cycles([95, 96], 89, 100) == (2, float("inf"))


def test_a_limit_whose_cycles_the_tail_runs_is_warned_of(tmp_path):
    """Past the horizon (gc_start 1) the trace allocates 300 more 64 KiB objects (18.75 MiB)
    and reports none dead: under an 8 MiB limit the model cycles back to back there and
    says so, naming the cycles that start past the horizon; without a limit its cycles there
    come no faster than before and it says nothing. (When written: 19 of 20 cycles at 5.4x
    the rate before; 2 of 3, at 0.6x.)"""
    _trace(tmp_path / "t.msgpack", False)
    limited = replay(tmp_path / "t.msgpack", Config(gc_mode="pacer", memlimit=8 << 20))
    until = limited.deaths_known_until_event
    past = [c for c in limited.cycles if c.start_event > until]
    lines = [w for w in limited.warnings if "after which the trace reports no deaths" in w]
    assert len(past) >= whatif.TAIL_CYCLES_MIN
    assert lines and lines[0].startswith(f"{len(past)} of the model's {len(limited.cycles)} ")
    free = replay(tmp_path / "t.msgpack", Config(gc_mode="pacer"))
    assert not [w for w in free.warnings if "after which the trace reports no deaths" in w]
