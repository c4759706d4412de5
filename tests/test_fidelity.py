"""`goalloc replay --validate` (#5): the recorded side computed by hand on a small trace, the
comparison, the targets on the shipped Go traces, recorder files replayed directly, and an
end-to-end recording with the real Go 1.23 toolchain."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_import_gotrace import GO_SKIP, TINY, go_binary
from test_record import BENCH_TEST, GO_MOD

from goalloc.engine import state as S
from goalloc.engine.config import Config
from goalloc.engine.report import ClassStats, Cycle, MemoryClasses, Report
from goalloc.report import fidelity as F
from goalloc.report import metrics as M
from goalloc.trace import Header, Writer
from goalloc.trace import format as fmt
from goalloc.trace import open as goalloc_trace_open

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ["go-json-decoder", "go-http-clientserver", "go-parser", "go126-parser",
           "go127-http-clientserver"]
P = 8192


def goalloc(*args, cwd=None, env=None, timeout=600):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "goalloc", *map(str, args)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def write(path, events, **header):
    """events: (kind, ts, id, size, aux[, flags[, p]]) tuples."""
    cols = {c: [] for c in ("kind", "ts", "id", "size", "aux", "flags", "p")}
    for ev in events:
        k, ts, i, size, aux, flags, p = (*ev, 0, 0)[:7]
        for c, v in zip(cols, (k, ts, i, size, aux, flags, p), strict=True):
            cols[c].append(v)
    w = Writer(path, Header(**{"frees": "sweep", "sizes": "requested", **header}), force=True)
    w.write(**cols)
    w.close()


A, SA, SF = fmt.ALLOC, fmt.SPAN_ALLOC, fmt.SPAN_FREE
HAND = [
    (SA, 0, 0, 1, 10, fmt.FLAG_SNAPSHOT),  # span 0: 1 page, class 5 pointerful
    (SA, 0, 1, 4, -1, fmt.FLAG_SNAPSHOT),  # a stack span: not heap
    (SA, 0, 2, 2, 7),  # span 2: 2 pages, class 3 noscan
    (fmt.HEAP_GOAL, 0, 0, 4 << 20, 0),
    (fmt.HEAP_LIVE, 0, 0, 100_000, 0),
    (fmt.GC_START, 10, 1, 0, 0),  # in use: (1 + 2) pages
    (fmt.GC_MARK_TERM, 20, 1, 0, 0),
    (fmt.GC_END, 21, 2, 0, 0),
    (fmt.HEAP_LIVE, 22, 0, 60_000, 0),  # marked
    (fmt.HEAP_GOAL, 22, 0, 5_000_000, 0),
    (SF, 30, 2, 0, 0),
    (SA, 31, 0, 3, 14),  # span 0 again while live: its free was lost (1 page out, 3 in)
    (SA, 32, 3, 1, 10),
    (fmt.HEAP_LIVE, 39, 0, 4_000_000, 0),  # above 60k + 45/64 * (5M - 60k): heap-triggered
    (fmt.GC_START, 40, 2, 0, 0),  # in use: 3 + 1 pages
    (fmt.GC_MARK_TERM, 50, 2, 0, 0),
    (fmt.GC_END, 51, 3, 0, 0),
    (fmt.HEAP_LIVE, 52, 0, 70_000, 0),
    (fmt.HEAP_LIVE, 60, 0, 70_100, 0),  # below marked + 45/64 * (goal - marked): not heap
    (fmt.GC_START, 60, 3, 0, 0),  # in use: 3 + 1 pages
    (SA, 70, 4, 2, 10),
    (SF, 71, 9, 0, 0),  # unknown span
]


def test_recorded_side_by_hand(tmp_path):
    path = tmp_path / "hand.msgpack"
    write(path, HAND)
    rec = F.recorded_side(path)
    assert rec.cycles == 3 and rec.cycles_ended == 2
    assert rec.mark_start_inuse == [3 * P, 4 * P, 4 * P]
    assert rec.mark_start_ts == [10, 40, 60]
    assert rec.goal == [4 << 20, 5_000_000, 5_000_000]
    assert rec.heap_live == [100_000, 4_000_000, 70_100]
    assert rec.end_spans == {10: 2, 14: 1}  # spans 3 and 4 of class 5, span 0 of class 7
    assert rec.end_inuse == 6 * P
    assert rec.lost_span_frees == 1 and rec.unknown_span_frees == 1
    assert rec.forced == [3] and rec.forced_source == "samples"  # no trigger kinds: heuristic
    assert rec.has_facts
    # with trigger kinds (gc_start aux) the trace says which cycles were forced
    hand = [(k, t, i, s, fmt.GC_TRIGGER_FORCED if (k == fmt.GC_START and i == 2) else
             (fmt.GC_TRIGGER_HEAP if k == fmt.GC_START else aux), *rest)
            for k, t, i, s, aux, *rest in HAND]
    write(path, hand)
    rec = F.recorded_side(path)
    assert rec.forced == [2] and rec.forced_source == "trace"
    assert rec.triggers == [1, 3, 1]


def _forced_trace(path):
    """Two forced cycles (gc_start aux 3) and one heap-triggered gc_start, far below any
    trigger."""
    ev = [(A, i, i, 1024, 0, fmt.FLAG_NOSCAN) for i in range(50)]
    ev += [(fmt.GC_START, 100, 1, 0, fmt.GC_TRIGGER_FORCED), (fmt.GC_MARK_TERM, 101, 1, 0, 0)]
    ev += [(A, 200 + i, 50 + i, 1024, 0, fmt.FLAG_NOSCAN) for i in range(50)]
    ev += [(fmt.GC_START, 300, 2, 0, fmt.GC_TRIGGER_HEAP), (fmt.GC_MARK_TERM, 301, 2, 0, 0)]
    ev += [(fmt.GC_START, 400, 3, 0, fmt.GC_TRIGGER_FORCED), (fmt.GC_MARK_TERM, 401, 3, 0, 0)]
    write(path, ev)


def test_pacer_mode_replays_forced_cycles(tmp_path):
    """--gc pacer: a gc_start the trace marks as forced (runtime.GC) is a cycle there; the
    pacer decides the rest (no heap trigger is reached here); Config.replay_forced_gcs=False
    and recorded mode ignore the marks."""
    import goalloc

    path = tmp_path / "f.msgpack"
    _forced_trace(path)
    r = goalloc.replay(path, Config(gc_mode="pacer"))
    assert [(c.kind, c.start_ts, c.end_ts) for c in r.cycles] == [("forced", 100, 100),
                                                                   ("forced", 400, 400)]
    assert M.metric_values(r)["/gc/cycles/forced:gc-cycles"] == 2
    assert goalloc.replay(path, Config(gc_mode="pacer", replay_forced_gcs=False)).cycles == []
    r = goalloc.replay(path, Config(gc_mode="recorded"))
    assert [c.kind for c in r.cycles] == ["recorded"] * 3


def _report(inuse, goals, classes, gc_mode="recorded"):
    r = Report(trace="t", go_version="1.22", table="go", gogc=100, memlimit=None, procs=1,
               gc_mode=gc_mode, free_semantics="sweep", sizes="requested", events=0)
    r.cycles = [Cycle(n=i + 1, start_event=0, start_ts=10 * (i + 1), heap_at_trigger=0,
                      trigger=None, goal=g, marked=0, heap_at_end=0, end_event=0, end_ts=0,
                      limit_bound=False) for i, g in enumerate(goals)]
    r.mark_start_inuse = list(inuse)
    r.classes = [ClassStats(size_class=spc >> 1, noscan=bool(spc & 1), slot_size=0, spans=n,
                            pages=0, allocated_slots=0, live_slots=0, live_requested=0,
                            mallocs=0, tail=0, free_slots=0) for spc, n in classes.items()]
    r.end = MemoryClasses(objects=5 * P, unused=P, free=0, released=0)
    return r


def test_comparison_by_hand(tmp_path):
    path = tmp_path / "hand.msgpack"
    write(path, HAND)
    rec = F.recorded_side(path)
    # model: +1/24 at cycle 1, -1/32 at cycle 2, exact at cycle 3
    r = _report([3 * P + P // 8, 4 * P - P // 8, 4 * P], [4 << 20, 4_000_000, 5_500_000],
                {10: 3, 14: 1, 7: 1})
    f = F.compare(r, rec)
    assert [c.inuse_error for c in f.cycles] == [pytest.approx(1 / 24), -1 / 32, 0.0]
    assert f.inuse_max_error == pytest.approx(1 / 24)
    assert f.inuse_mean_error == pytest.approx((1 / 24 + 1 / 32) / 3)
    assert [c.goal_error for c in f.cycles] == [0.0, -0.2, 0.1]
    assert f.goal_max_error == pytest.approx(0.2)
    # classes: |3 - 2| + |1 - 1| + |1 - 0| = 2 of 3 recorded spans
    assert f.classes_abs_diff == 2 and f.recorded_spans == 3
    assert f.classes_error == pytest.approx(2 / 3)
    assert f.model_cycles == f.recorded_cycles == 3 and f.cycles_error == 0.0
    assert f.model_end_inuse == 6 * P and f.recorded_end_inuse == 6 * P
    t = f.targets
    assert t["inuse_max_error"]["ok"] is True  # 4.2% <= 5%
    assert t["inuse_mean_error"]["ok"] is False  # 2.4% > 1.5%
    assert t["classes_error"]["ok"] is False and t["cycles"]["ok"] is True
    assert not f.ok
    lines = F.target_lines(f)
    assert any("mean" in x and "MISSED by 0.93 points" in x for x in lines)
    # pacer mode: only the number of cycles (within 10%)
    f = F.compare(_report([P] * 2, [1, 1], {10: 2}, gc_mode="pacer"), rec)
    assert f.cycles_error == pytest.approx(-1 / 3)
    assert list(f.targets) == ["cycles_error"] and not f.ok
    json.dumps(f.to_dict())


def test_replay_fills_mark_start_inuse(tmp_path):
    """The engine samples in-use span bytes at each mark start (recorded GC markers here)."""
    path = tmp_path / "t.msgpack"
    ev = [(A, i, i, 1024, 0, fmt.FLAG_NOSCAN) for i in range(50)]
    ev += [(fmt.GC_START, 100, 1, 0, 0), (fmt.GC_MARK_TERM, 101, 1, 0, 0)]
    ev += [(fmt.FREE, 102 + i, i, 0, 0) for i in range(25)]
    ev += [(fmt.GC_START, 200, 2, 0, 0), (fmt.GC_MARK_TERM, 201, 2, 0, 0)]
    write(path, ev)
    import goalloc

    r = goalloc.replay(path, Config(gc_mode="recorded"))
    assert len(r.cycles) == 2 and len(r.mark_start_inuse) == 2
    assert r.mark_start_inuse[0] == 7 * P  # 1 KiB slots, 8 in a 1-page span: 7 spans
    # the frees after mark termination 1 are deaths before mark start 1 (look-ahead): ids
    # 0..24 were unmarked in cycle 1, so its sweep frees the first 3 spans
    assert r.recorded_replay["frees_moved_before_mark_start"] == 25
    assert r.mark_start_inuse[1] == 4 * P


def test_scan_rate_measured_from_recorded_cycles(tmp_path):
    """Pacer mode on a recorded trace takes the mark cost model's scan rate from the recorded
    marks: 1000 pointerful 64 B objects (64,000 B of scan work at the mark start), a mark of
    1 ms on 2 Ps at 25% utilisation: 64,000 B / (1e-3 s * 0.25 * 2) = 1.28e8 B/s."""
    import goalloc
    from goalloc.engine.replay import measured_scan_rate

    path = tmp_path / "t.msgpack"
    ev = [(A, i, i, 64, 0) for i in range(1000)]
    ev += [(fmt.GC_START, 10_000, 1, 0, 0), (fmt.GC_MARK_TERM, 1_010_000, 1, 0, 0)]
    write(path, ev, gomaxprocs=2)
    assert measured_scan_rate(path, Config()) == 1.28e8
    assert measured_scan_rate(path, Config(procs=8)) == 1.28e8  # the recorded Ps marked
    r = goalloc.replay(path, Config())
    # one recorded mark: its own speed is the pooled rate's
    assert r.scan_rate == {"bytes_per_s": 1.28e8, "source": "trace", "mark_end_wait_ns": 0,
                           "mark_end_wait_source": "none", "mark_speeds": [1.0]}
    r = goalloc.replay(path, Config(scan_rate=5e8))
    assert r.scan_rate == {"bytes_per_s": 5e8, "source": "config", "mark_end_wait_ns": 0,
                           "mark_end_wait_source": "none"}
    r = goalloc.replay(path, Config(gc_mode="recorded"))
    assert r.scan_rate["source"] == "default"
    # the recording says its busy Ps wait 0.4 ms on average for their next scheduler pass
    # (no idle time): with 2 Ps and no dedicated worker the first of them comes after
    # 0.4 / 2 = 0.2 ms, which a mark past maxScanWork waits; nothing died before this one,
    # so its work reached all there was to scan (maxScanWork), its end waited, and the
    # workers' time is the rest: 64,000 B / (0.8e-3 s * 0.25 * 2) = 1.6e8 B/s (tests/
    # test_engine_mark_end.py checks a mark that did not wait beside one that did)
    sched = {"runs": 10, "running_ns": 10**7, "residual_ns": 400_000, "busy_share": 1.0}
    write(path, ev, gomaxprocs=2, source={"scheduling": sched})
    r = goalloc.replay(path, Config())
    assert r.scan_rate == {"bytes_per_s": 1.6e8, "source": "trace", "mark_end_wait_ns": 200_000,
                           "mark_end_wait_source": "trace", "mark_speeds": [1.0]}
    assert goalloc.replay(path, Config(procs=4)).scan_rate["mark_end_wait_ns"] == 0
    write(path, ev, gomaxprocs=2, frees="death")  # not a recorded runtime's trace
    assert measured_scan_rate(path, Config()) is None
    assert goalloc.replay(path, Config()).scan_rate["source"] == "default"


def test_scan_rate_pass_leaves_the_knobs_out_and_follows_a_rewritten_file(tmp_path):
    """The scan-rate pass replays the recording as it ran, so GOGC and GOMEMLIMIT do not enter
    it (a grid over them measures once per process); a trace rewritten at the same path is
    measured again: the same 64,000 B of work in a mark of 2 ms on 2 Ps at 25% is
    64,000 / (2e-3 * 0.25 * 2) = 6.4e7 B/s."""
    from goalloc.engine.replay import measured_scan_rate

    path = tmp_path / "t.msgpack"
    ev = [(A, i, i, 64, 0) for i in range(1000)]
    write(path, ev + [(fmt.GC_START, 10_000, 1, 0, 0), (fmt.GC_MARK_TERM, 1_010_000, 1, 0, 0)],
          gomaxprocs=2)
    for knobs in ({}, {"gogc": 50}, {"gogc": None, "memlimit": 1 << 20}, {"gogc": 400}):
        assert measured_scan_rate(path, Config(**knobs)) == 1.28e8, knobs
    write(path, ev + [(fmt.GC_START, 10_000, 1, 0, 0), (fmt.GC_MARK_TERM, 2_010_000, 1, 0, 0)],
          gomaxprocs=2)
    assert measured_scan_rate(path, Config()) == 6.4e7


def _two_p_snapshot_trace(path, allocs_before_fresh):
    """Two Ps; the snapshot has one 1-page span of class 4 (32 B, 256 slots) holding 10
    objects; then P 1 allocates `allocs_before_fresh` 32 B objects, the runtime allocates a
    fresh class-4 span for P 1, P 1 allocates 20 more, and a GC starts."""
    spc = 4 << 1
    ev = [(SA, 0, 0, 1, spc, fmt.FLAG_SNAPSHOT, 0)]
    ev += [(A, 1, i, 32, (1 << fmt.PLACEMENT_SHIFT) | i, fmt.FLAG_SNAPSHOT, 0) for i in range(10)]
    n = allocs_before_fresh
    ev += [(A, 2, 10 + i, 32, 32, 0, 1) for i in range(n)]
    ev += [(SA, 3, 1, 1, spc, 0, 1)]
    ev += [(A, 4, 10 + n + i, 32, 32, 0, 1) for i in range(20)]
    ev += [(fmt.GC_START, 100, 1, 0, 0), (fmt.GC_MARK_TERM, 110, 1, 0, 0)]
    write(path, ev, gomaxprocs=2, extra={"snapshot": fmt.SNAPSHOT_PLACED})


def test_snapshot_spans_cached_by_other_ps(tmp_path):
    """A P that got a fresh span while the class's snapshot span had room shows that span was
    in another P's mcache (cacheSpan takes partial swept spans first): the model caches it
    there, so P 1's objects open a second span as the runtime's did. When P 1 could have
    filled the snapshot span first (246 free slots used up), nothing is inferred."""
    import goalloc

    path = tmp_path / "t.msgpack"
    _two_p_snapshot_trace(path, 0)
    r = goalloc.replay(path, Config(gc_mode="recorded"))
    assert r.recorded_replay["snapshot_spans_cached"] == 1
    assert r.mark_start_inuse[0] == 2 * P  # the snapshot span and P 1's fresh one
    _two_p_snapshot_trace(path, 246)
    r = goalloc.replay(path, Config(gc_mode="recorded"))
    assert r.recorded_replay["snapshot_spans_cached"] == 0
    assert r.mark_start_inuse[0] == 2 * P  # P 1 filled the snapshot span, then a fresh one
    _two_p_snapshot_trace(path, 100)  # room left: cached elsewhere, P 1's 120 objects in one
    r = goalloc.replay(path, Config(gc_mode="recorded"))
    assert r.recorded_replay["snapshot_spans_cached"] == 1
    assert r.mark_start_inuse[0] == 2 * P


def test_snapshot_span_the_recording_shows_in_an_mcache(tmp_path):
    """The header's snapshot_mcaches names the snapshot span a P's first allocation of a class
    went into before the first flush (its mcache held it): the model caches it there. Two
    1-page class-4 (32 B) snapshot spans: span 0 with 10 objects that died before tracing
    began (their frees come after the first mark termination), span 5 with 200 live ones.
    P 0 allocates one 32 B object before the cycle. Without the header its refill takes the
    first partial swept span, span 0, which keeps that object: both spans stay (2 pages).
    With [[0, 5]] the object goes into span 5 and the sweep returns span 0, emptied, to the
    heap: 1 page. A pair naming a P the replay does not have, or a span that is not in the
    snapshot, is passed over."""
    import goalloc

    spc = 4 << 1
    ev = [(SA, 0, 0, 1, spc, fmt.FLAG_SNAPSHOT, 0), (SA, 0, 5, 1, spc, fmt.FLAG_SNAPSHOT, 0)]
    ev += [(A, 1, i, 32, (1 << fmt.PLACEMENT_SHIFT) | i, fmt.FLAG_SNAPSHOT, 0)
           for i in range(10)]
    ev += [(A, 1, 10 + i, 32, (6 << fmt.PLACEMENT_SHIFT) | i, fmt.FLAG_SNAPSHOT, 0)
           for i in range(200)]
    ev += [(A, 2, 300, 32, 32, 0, 0)]
    ev += [(fmt.GC_START, 100, 1, 0, 0), (fmt.GC_MARK_TERM, 110, 1, 0, 0)]
    ev += [(fmt.FREE, 120 + i, i, 0, 0) for i in range(10)]
    path = tmp_path / "t.msgpack"
    cases = [(None, 2, None), ([[0, 5]], 1, 1), ([[0, 5], [7, 0], [1, 9]], 1, 1)]
    for mcaches, pages, cached in cases:
        extra = {"snapshot": fmt.SNAPSHOT_PLACED}
        if mcaches is not None:
            extra["snapshot_mcaches"] = mcaches
        write(path, ev, gomaxprocs=2, extra=extra)
        r = goalloc.replay(path, Config(gc_mode="recorded"))
        assert r.recorded_replay.get("snapshot_spans_cached_as_recorded") == cached
        assert r.end.objects + r.end.unused == pages * P, mcaches


def test_validate_shows_the_recorded_scavenger_time_beside_the_model_s(tmp_path):
    """The header's source.scavenger (the runtime's background scavenger: its goroutine's
    running time) is reported beside the model's background scavenging work; a header
    without it, or with a malformed one, gives no figure."""
    import goalloc
    from goalloc.report import fidelity

    ev = [(SA, 0, 0, 1, 8, 0, 0), (A, 1, 0, 32, 0), (fmt.GC_START, 100, 1, 0, 0),
          (fmt.GC_MARK_TERM, 110, 1, 0, 0)]
    path = tmp_path / "t.msgpack"
    for source, want in ((None, None), ({"scavenger": {"goroutine": 4, "running_ns": 43_813,
                                                       "runs": 5}}, (43_813, 5)),
                         ({"scavenger": {"running_ns": "x"}}, None)):
        write(path, ev, **({"source": source} if source else {}))
        r = goalloc.replay(path, Config(gc_mode="recorded"))
        f = fidelity.validate(path, r)
        if want is None:
            assert f.scavenger is None
        else:
            assert (f.scavenger["recorded_ns"], f.scavenger["runs"]) == want
            assert f.scavenger["model_ns"] == r.scavenge["background_ns"] >= 0


def test_snapshot_mcaches_header_is_checked(tmp_path):
    import goalloc
    from goalloc.errors import TraceError

    path = tmp_path / "t.msgpack"
    write(path, [(A, 1, 0, 32, 0)], extra={"snapshot_mcaches": [[0, -1]]})
    with pytest.raises(TraceError, match="snapshot_mcaches must be a list of"):
        goalloc.replay(path, Config(gc_mode="recorded"))


# frees observed by the sweep of cycle k: the object died in (max(alloc, gc_start k-1),
# gc_start k]; (kind, ts, id, size, aux) with event indexes in the comments
TIMED = [
    (A, 0, 0, 64, 0),  # 0
    (A, 10, 1, 64, 0),  # 1
    (A, 5, 3, 64, 0),  # 2: ts below the clock (10): the clock stays 10
    (fmt.GC_START, 100, 1, 0, 0),  # 3
    (fmt.GC_MARK_TERM, 110, 1, 0, 0),  # 4
    (fmt.FREE, 120, 0, 0, 0),  # 5: id 0 died in (0, 100]: midpoint 50 -> before event 3
    (A, 200, 2, 64, 0),  # 6
    (A, 250, 4, 64, 0),  # 7
    (fmt.GC_START, 300, 2, 0, 0),  # 8
    (fmt.GC_MARK_TERM, 310, 2, 0, 0),  # 9
    (fmt.FREE, 320, 1, 0, 0),  # 10: in (100, 300]: midpoint 200 -> before event 6
    (fmt.FREE, 321, 3, 0, 0),  # 11: the same interval
    (fmt.FREE, 322, 2, 0, 0),  # 12: allocated at 200: (200, 300], midpoint 250 -> event 7,
    (fmt.FREE, 323, 4, 0, 0),  # 13: allocated at event 7 (ts 250): (250, 300], 275 -> 8
]


def test_death_placement_midpoint_by_hand(tmp_path):
    """The look-ahead deaths' intervals and midpoints (plan), and the events they come before
    when resolved chunk by chunk against the trace clock (pacer mode); without timed deaths
    every one stays just before its gc_start."""
    from goalloc.engine import lookahead
    from goalloc.trace.reader import Chunk

    path = tmp_path / "t.msgpack"
    write(path, TIMED)
    with goalloc_trace_open(path) as r:
        header = r.header
        chunks = list(r)
    cols = {c: np.concatenate([getattr(ch, c) for ch in chunks]) for c in fmt.COLUMNS}
    plan = lookahead.plan(path, header)
    assert plan.lookahead
    got = {int(i): (int(at), int(mid), int(lo)) for i, at, mid, lo in
           zip(plan.death_id, plan.death_at, plan.death_mid, plan.death_lo, strict=True)}
    assert got == {0: (3, 50, 1), 1: (8, 200, 4), 3: (8, 200, 4), 2: (8, 250, 7),
                   4: (8, 275, 8)}
    # resolved in two chunks (the split falls between a midpoint's time and its event)
    plan.timed_deaths = True
    out = []
    for lo, hi in ((0, 6), (6, len(TIMED))):
        ch = Chunk(n=hi - lo, start=lo, offset=0, **{c: v[lo:hi] for c, v in cols.items()})
        at, ids = plan._timed_cuts(ch)
        out += list(zip(at.tolist(), ids.tolist(), strict=True))
    assert out == [(3, 0), (6, 1), (6, 3), (7, 2), (8, 4)]


def _pacer_midpoint_trace(path):
    """Object 0 (1 MiB) survives forced cycle 1 and dies in (10, 1000]: the sweep of recorded
    cycle 2 frees it. Three more 1 MiB objects at ts 600-800 make heapLive reach the trigger
    (goal 4 MiB: the heap minimum; consMark 0, so the trigger is the upper bound marked +
    61/64 (goal - marked)) at ts 800, before the recorded gc_start 2."""
    mib = 1 << 20
    ev = [(A, 0, 0, mib, 0, fmt.FLAG_NOSCAN),
          (fmt.GC_START, 10, 1, 0, fmt.GC_TRIGGER_FORCED), (fmt.GC_MARK_TERM, 11, 1, 0, 0)]
    ev += [(A, 600 + 100 * i, 1 + i, mib, 0, fmt.FLAG_NOSCAN) for i in range(3)]
    ev += [(fmt.GC_START, 1000, 2, 0, fmt.GC_TRIGGER_HEAP), (fmt.GC_MARK_TERM, 1001, 2, 0, 0),
           (fmt.FREE, 1002, 0, 0, 0)]
    write(path, ev)


def test_pacer_mode_deaths_at_the_midpoint(tmp_path):
    """Pacer mode: the heap-triggered model cycle at ts 800 comes after object 0's death
    midpoint (505), so it marks the three live MiB, not four; recorded mode marks 4 MiB - 1
    at the recorded gc_start (the death is before it either way)."""
    import goalloc

    path = tmp_path / "m.msgpack"
    _pacer_midpoint_trace(path)
    mib = 1 << 20
    r = goalloc.replay(path, Config(gc_mode="pacer"))
    assert [(c.kind, c.start_ts) for c in r.cycles] == [("forced", 10), ("heap", 800)]
    assert r.cycles[0].marked == mib
    assert r.cycles[1].marked == 3 * mib
    r = goalloc.replay(path, Config(gc_mode="recorded"))
    assert [c.marked for c in r.cycles] == [mib, 3 * mib]


@pytest.fixture(scope="module")
def shipped():
    import goalloc

    out = {}
    for name in SHIPPED:
        path = REPO / "traces" / f"{name}.msgpack"
        rec = F.recorded_side(path)
        # the recording's heap had the tracer's buffers: keep them, as --validate does
        out[name] = {mode: F.compare(goalloc.replay(path, Config(gc_mode=mode,
                                                                 tracer_buffers="keep")), rec)
                     for mode in ("recorded", "pacer")}
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_traces_recorded_mode(shipped, name):
    f = shipped[name]["recorded"]
    assert f.model_cycles == f.recorded_cycles
    assert f.inuse_max_error <= F.TARGET_CYCLE_MAX
    assert f.inuse_mean_error <= F.TARGET_CYCLE_MEAN
    assert f.cycles[0].inuse_error is not None and abs(f.cycles[0].inuse_error) <= 0.05


# Known misses (docs/model.md, Fidelity): trace name -> bound of its spans-per-class error.
CLASS_MISSES: dict[str, float] = {}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_traces_classes_at_the_end(shipped, name):
    f = shipped[name]["recorded"]
    if name in CLASS_MISSES:
        assert F.TARGET_CLASSES < f.classes_error <= CLASS_MISSES[name]
        pytest.xfail(f"known miss: {100 * f.classes_error:.2f}% (docs/model.md, Fidelity)")
    assert f.classes_error <= F.TARGET_CLASSES


# the testing package's runtime.GC before each benchmark run: recorded cycles (1-based) whose
# GCBegin stack has runtime.GC (the importer's gc_start aux)
FORCED = {"go-json-decoder": [1, 2, 8], "go-http-clientserver": [1, 2, 3, 4, 5],
          "go-parser": [1, 2, 3], "go126-parser": [1, 2, 3],
          "go127-http-clientserver": [1, 2, 3, 4, 5]}
# name -> |error| bound of a known miss (docs/model.md, Fidelity). None since 2026-12-07:
# go126-parser ran 7 cycles for the runtime's 8 (lastHeapScan leaves out black allocations as
# the runtime's does, docs/model.md, consMark utilisation) until the deaths of objects in
# their first cycle were placed by the first cycle's lifetimes (docs/model.md 2c): 8
PACER_MISSES: dict[str, float] = {}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_traces_pacer_mode(shipped, name):
    f = shipped[name]["pacer"]
    assert f.recorded_forced == FORCED[name] and f.recorded_forced_source == "trace"
    # every forced cycle is replayed at its recorded start
    for n in FORCED[name]:
        assert any(c.model_start_ts == f.cycles[n - 1].recorded_start_ts for c in f.cycles)
    if name in PACER_MISSES:
        assert F.TARGET_PACER_CYCLES < abs(f.cycles_error) <= PACER_MISSES[name]
        pytest.xfail(f"known miss: {100 * f.cycles_error:+.0f}% cycles (docs/model.md)")
    assert abs(f.cycles_error) <= F.TARGET_PACER_CYCLES


def test_cli_validate_json_on_a_go_trace_file(tmp_path):
    """A Go execution trace replays directly (imported to a temporary trace); the JSON names
    the original file and its digest and carries the fidelity section."""
    out = tmp_path / "r.json"
    r = goalloc("replay", TINY, "--gc", "recorded", "--validate", "--json", "-o", out)
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert doc == json.loads(out.read_text())
    assert doc["trace"]["path"] == str(TINY) and doc["trace"]["format"] == "gotrace"
    assert doc["trace"]["sha256"] == hashlib.sha256(TINY.read_bytes()).hexdigest()
    assert doc["trace"]["imported_sha256"] != doc["trace"]["sha256"]
    fid = doc["fidelity"]
    assert fid["recorded_cycles"] == fid["model_cycles"] == 3
    assert len(fid["cycles"]) == 3 and fid["targets"]["cycles"]["ok"]
    assert r.returncode == (0 if fid["ok"] else 1)
    assert doc["recorded_replay"]["snapshot_objects_placed"] > 0


def test_cli_validate_text_and_errors(tmp_path):
    r = goalloc("replay", REPO / "traces" / "go-json-decoder.msgpack", "--gc", "recorded",
                "--go-version", "1.22", "--validate")
    assert r.returncode == 0, r.stderr
    assert "Fidelity" in r.stdout and "max |error|" in r.stdout and "MISSED" not in r.stdout
    r = goalloc("replay", REPO / "traces" / "c-python-json.msgpack", "--validate")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("goalloc: error: ") and "recorded runtime facts" in r.stderr


def test_end_to_end_record_and_validate(tmp_path):
    """Record a small benchmark with the real toolchain, replay it with --validate and check
    the recorded-mode targets."""
    go = go_binary()
    if go is None:
        pytest.skip(GO_SKIP)
    import tempfile

    mod = tmp_path / "mod"
    mod.mkdir()
    (mod / "go.mod").write_text(GO_MOD)
    (mod / "rec_test.go").write_text(BENCH_TEST)
    env = {"PATH": str(Path(go).parent) + os.pathsep + os.environ.get("PATH", ""),
           "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod",
           "GOCACHE": os.environ.get("GOCACHE") or os.path.join(tempfile.gettempdir(),
                                                                "goalloc-test-gocache")}
    out = tmp_path / "x.msgpack"
    r = goalloc("record", "-o", out, "--", "go", "test", "-run=^$", "-bench=.",
                "-benchtime=200x", ".", cwd=mod, env=env)
    assert r.returncode == 0, r.stderr
    r = goalloc("replay", out, "--gc", "recorded", "--go-version", "1.22", "--validate",
                "--json")
    doc = json.loads(r.stdout)
    fid = doc["fidelity"]
    assert fid["recorded_cycles"] >= 2
    t = fid["targets"]
    assert t["cycles"]["ok"] and t["inuse_max_error"]["ok"] and t["inuse_mean_error"]["ok"], t
    ce = t["classes_error"]
    if not ce["ok"] and ce["value"] <= 2 * ce["limit"]:
        # 16 recordings of this benchmark: at most 3.1%; then one at 7.6% (2026-12-03: 23 of
        # 301 spans, +-1 to +-5 in twelve 256-416 B classes, the model 10 spans over; in use at
        # every mark start within 1.4%). Not strict: up to twice the target is that spread
        pytest.xfail(f"spans per class at the end off by {ce['value']:.1%} "
                     "(a small benchmark's 300 spans: one recording of 17 reached 7.6%)")
    assert ce["ok"], t


def test_snapshot_spans_at_the_pages_the_recording_had_them(tmp_path):
    """The Go importer's source.span_pages says where the runtime had the snapshot's pages
    (span ids are page offsets from the heap's first chunk): two 1-page class-4 spans at
    pages 0 and 600, a 4-page stack at 100, and P 0's first small span after the snapshot at
    page 5 (its page cache held block 0). The model maps the heap to page 601 (2 chunks),
    places the three there, gives P 0 block 0's free pages (1-63); P 0's first 48 B object
    opens a span at page 1 of its cache and P 1's 256 KiB object (32 pages, no page cache)
    the lowest free run outside the caches: page 64. Without span_pages, or with one whose
    page counts do not match the trace's rows, the snapshot is packed first fit (pages 0, 1;
    the stack at 2-5 at its event) in one chunk, P 0's span at page 6 and P 1's at 64 (the
    rest of block 0 is P 0's cache). Without page caches nothing is seeded."""
    import goalloc

    spc = 4 << 1
    ev = [(SA, 0, 0, 1, spc, fmt.FLAG_SNAPSHOT, 0), (SA, 0, 1, 1, spc, fmt.FLAG_SNAPSHOT, 0),
          (SA, 0, 2, 4, -1, fmt.FLAG_SNAPSHOT, 0)]
    ev += [(A, 1, 0, 32, (1 << fmt.PLACEMENT_SHIFT) | 0, fmt.FLAG_SNAPSHOT, 0),
           (A, 1, 1, 32, (2 << fmt.PLACEMENT_SHIFT) | 0, fmt.FLAG_SNAPSHOT, 0)]
    ev += [(SA, 2, 3, 1, 5 << 1, 0, 0), (A, 3, 2, 48, 48, 0, 0),
           (SA, 4, 4, 32, 0, 0, 1), (A, 5, 3, 256 << 10, 256 << 10, fmt.FLAG_NOSCAN, 1)]
    good = {"snapshot": [[0, 1], [600, 1], [100, 4]], "first_allocs": [[5, 1], [700, 32]]}
    bad = {"snapshot": [[0, 1], [600, 2], [100, 4]], "first_allocs": [[5, 1]]}
    path = tmp_path / "t.msgpack"
    for pages, want in ((good, ([0, 600], (100, 4), 2, [1, 64], 0)),
                        (None, ([0, 1], (2, 4), 1, [6, 64], None)),
                        (bad, ([0, 1], (2, 4), 1, [6, 64], None))):
        source = {"span_pages": pages} if pages is not None else {}
        write(path, ev, gomaxprocs=2, source=source, extra={"snapshot": fmt.SNAPSHOT_PLACED})
        out = []
        r = goalloc.replay(path, Config(gc_mode="recorded"), engine_out=out)
        a = out[0].arrays
        live = [sid for sid in range(int(a.sc[S.S_SPAN_HW])) if a.sp[sid, S.SP_INUSE]]
        bases = sorted(int(a.sp[sid, S.SP_BASE]) for sid in live)
        snap_bases, manual, chunks, fresh, pc0 = want
        assert bases == sorted(snap_bases + fresh), pages
        assert tuple(a.msp[2]) == manual
        assert a.sc[S.S_MAPPED_CHUNKS] == chunks
        assert r.recorded_replay.get("page_caches_as_recorded") == (1 if pc0 == 0 else None)
        assert a.pp[0, S.PP_PC_BASE] == 0  # block 0 either way: first fit found it too
        if pages is good:
            assert r.recorded_replay["snapshot_spans_as_recorded"] == 3
    # without page caches (--no-pagecache) none is given one: both spans first fit, at 1, 2
    write(path, ev, gomaxprocs=2, source={"span_pages": good},
          extra={"snapshot": fmt.SNAPSHOT_PLACED})
    out = []
    r = goalloc.replay(path, Config(gc_mode="recorded", no_pagecache=True), engine_out=out)
    a = out[0].arrays
    assert sorted(int(a.sp[sid, S.SP_BASE]) for sid in range(int(a.sc[S.S_SPAN_HW]))
                  if a.sp[sid, S.SP_INUSE]) == [0, 1, 2, 600]
    assert r.recorded_replay["page_caches_as_recorded"] == 0
