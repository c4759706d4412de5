"""Replay engine, issue #4 second part: the sweepers (background, proportional, reclaim), the
scavenger, the mark cost model, periodic GC, the timeline, per-class figures and the acceptance
items on fragmenter traces. Expected numbers are worked out by hand from the runtime's rules
(comments show the sums); where that is impractical the test checks an invariant.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import write_trace

import goalloc.synth
from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.trace import Header
from goalloc.trace import format as fmt

NOSCAN = fmt.FLAG_NOSCAN
MiB = 1 << 20


def ev(kind, oid=0, size=0, ts=0, flags=0):
    return dict(kind=kind, ts=ts, p=0, id=oid, size=size, flags=flags)


def run(tmp_path, events, procs=1, name="t.msgpack", **cfg):
    path = write_trace(tmp_path / name, events, Header(gomaxprocs=procs))
    return replay(path, Config(**cfg))


# ---- sweepers -------------------------------------------------------------------------------

def _dead_span_trace(gap_ns):
    # 1.19: object 0 (8 B) is live at cycle 1's mark, so the span survives cycle 1; it dies
    # before cycle 2's mark start, so after cycle 2 its span is unswept with no marks. The next
    # event, gap_ns later, allocates a 64 B object (a fresh class, so a fresh span).
    return [ev(fmt.ALLOC, 0, 8, 0), ev(fmt.GC_START, 1, ts=1), ev(fmt.FREE, 0, ts=2),
            ev(fmt.GC_MARK_TERM, 1, ts=3), ev(fmt.GC_START, 2, ts=4),
            ev(fmt.GC_MARK_TERM, 2, ts=5), ev(fmt.ALLOC, 1, 64, 5 + gap_ns)]


def test_background_sweeper_frees_dead_span_in_trace_time(tmp_path):
    # 1 span per us: 10 us after mark termination the background sweeper has swept it.
    r = run(tmp_path, _dead_span_trace(10_000), gc_mode="recorded", go_version="1.19")
    assert r.spans_swept_background == 1
    assert r.spans_reclaimed == 0
    assert r.spans_in_use == 1  # the 64 B span
    assert r.end.objects == 64
    # the freed page 0 is the first free page when P 0's page cache refills for the 64 B span
    # (the first span took page 0 straight from the grown heap, with no cache): one page in use
    assert r.end.objects + r.end.unused == 8192
    assert r.end.free == 0 and r.end.released == 511 * 8192


def test_reclaim_frees_dead_span_before_span_allocation(tmp_path):
    # Without a background sweeper, allocating the 64 B class's span runs mheap.reclaim(1):
    # chunk 0's scan finds the in-use, unswept, unmarked span and frees it.
    r = run(tmp_path, _dead_span_trace(10_000), gc_mode="recorded", go_version="1.19",
            bg_sweep_rate=0)
    assert r.spans_swept_background == 0
    assert r.spans_reclaimed == 1
    assert r.spans_in_use == 1
    assert r.end.objects + r.end.unused == 8192


def _paced(tmp_path, tail):
    # A recorded Go trace (frees observed by the sweepers, the trace's own cycles). Objects of
    # 8, 16 and 24 B (three classes, three spans) are live through cycle 1; cycle 2 finds
    # object 0 dead: the recording reports its free after cycle 2's mark termination, when
    # the runtime's sweepers freed it, and 1 ms later a stop-the-world (any event that is not a
    # free) comes before `tail`.
    events = [ev(fmt.ALLOC, i, 8 * (i + 1), 0) for i in range(3)]
    events += [ev(fmt.GC_START, 1, ts=10), ev(fmt.GC_MARK_TERM, 1, ts=20),
               ev(fmt.GC_START, 2, ts=30), ev(fmt.GC_MARK_TERM, 2, ts=40),
               ev(fmt.FREE, 0, ts=50), ev(fmt.STW_BEGIN, ts=1_000_050),
               ev(fmt.STW_END, ts=1_000_060)] + tail
    path = write_trace(tmp_path / "t.msgpack", events, Header(gomaxprocs=1, frees="sweep"))
    return replay(path, Config(gc_mode="recorded", go_version="1.22"))


def test_background_sweeper_paced_by_the_recorded_frees(tmp_path):
    # Objects 1 and 2 died in cycle 2 too; the runtime reports object 1's free just before an
    # allocation of 16 B (its cacheSpan swept the 16 B span to refill), object 2's at the end.
    # The model's background sweeper keeps up with the frees in sweepone order, one event
    # behind: by the stop it has freed object 0 (the 8 B span, now empty, back to the heap)
    # and nothing else, so the allocation's own cacheSpan sweeps the 16 B span, keeps it
    # (preserved, empty) and allocates from it; object 2's free at the end makes it sweep the
    # 24 B span. Background sweeps: 2 (a sweeper ahead of the recording, or one event less
    # behind, sweeps the 16 B span too and the allocation grows the heap: 3).
    r = _paced(tmp_path, [ev(fmt.FREE, 1, ts=2_000_000), ev(fmt.ALLOC, 3, 16, ts=2_000_010),
                          ev(fmt.FREE, 2, ts=3_000_000)])
    assert r.spans_swept_background == 2
    assert r.spans_in_use == 1 and r.end.objects == 16
    assert r.frees == 3


def test_paced_sweeper_finishes_once_nothing_dead_is_left(tmp_path):
    # Objects 1 and 2 stay live. Once object 0 is freed no unswept span holds a dead object,
    # so the background sweeper sweeps the other two spans as well (bgsweep finishes) and
    # sweeping is done, which readies the scavenger.
    r = _paced(tmp_path, [])
    assert r.spans_swept_background == 3
    assert r.spans_in_use == 2 and r.end.objects == 16 + 24


def test_paced_sweeper_sweeps_the_dead_spans_the_recorded_frees_were_in(tmp_path):
    # Cycle 2 finds object 0 (32 B, alone in its span) and object 2 (a 64 KiB large object)
    # dead; object 1 (48 B) lives. The recording frees object 0 and its span (SpanFree: a
    # sweeper that frees spans swept it), then a non-free event and a runtime/metrics sample,
    # and object 2 only after it: the runtime had swept the 32 B span by the sample and not
    # the large one. sweepone's order (span class 0, the large spans, first) would meet the
    # count of one free with the large span; following the span object 0 was in, the sample
    # has objects 48 (object 1) + 65536 (object 2, unswept). Without the SpanFree (cacheSpan
    # swept the span and kept it) the count decides, and the large span goes first: 32 + 48
    # (object 0 dead, its span unswept). With a live object 3 beside object 0 the model's span
    # is not the empty one the runtime freed: the count decides too, 32 + 32 + 48.
    events = [ev(fmt.ALLOC, 0, 32, 0, NOSCAN), ev(fmt.ALLOC, 1, 48, 1, NOSCAN),
              ev(fmt.ALLOC, 2, 64 << 10, 2, NOSCAN)]
    events += [ev(fmt.GC_START, 1, ts=10), ev(fmt.GC_MARK_TERM, 1, ts=20),
               ev(fmt.GC_START, 2, ts=30), ev(fmt.GC_MARK_TERM, 2, ts=40),
               ev(fmt.FREE, 0, ts=50), ev(fmt.SPAN_FREE, 7, ts=51),
               ev(fmt.STW_BEGIN, ts=1_000_050), ev(fmt.STW_END, ts=1_000_060),
               dict(kind=fmt.METRIC, ts=1_000_070, p=0, id=0, aux=0, size=65584),
               ev(fmt.FREE, 2, ts=2_000_000)]
    cases = [(True, False, 48 + (64 << 10)), (False, False, 32 + 48), (True, True, 32 + 32 + 48)]
    for span_free, live3, objects in cases:
        evs = events if span_free else [e for e in events if e["kind"] != fmt.SPAN_FREE]
        if live3:
            evs = evs[:1] + [ev(fmt.ALLOC, 3, 32, 0, NOSCAN)] + evs[1:]
        path = write_trace(tmp_path / f"t{span_free}{live3}.msgpack", evs,
                           Header(gomaxprocs=1, frees="sweep"))
        r = replay(path, Config(gc_mode="recorded", go_version="1.22"))
        (m,) = [t for t in r.timeline if t.kind == "metric"]
        assert m.objects == objects
        assert r.end.objects == 48 + (32 if live3 else 0) and r.frees == 2


def test_paced_sweeper_stops_at_the_recorded_bytes_too(tmp_path):
    # Cycle 2 finds objects 0 and 1 (32 B, beside a live 32 B object 5) and two 64 KiB large
    # objects 3 and 4 dead. The recording (P 1) frees 0 and 1, then allocates a 48 B object:
    # a run of frees ending at an allocation is that refill's sweep, left to the model's own.
    # At the next event (a stop on P 0) the model's background sweeper owes the recording
    # two frees of 64 B in all. By the count alone sweepone's order (span class 0 first)
    # meets them with both large objects: the sample (objects 32 * 3 + 48; the new 48 B
    # object is in P 1's mcache, not counted yet) has 128 KiB less than the runtime, which
    # freed 64 B. It stops at whichever of the count and the bytes comes first: one large
    # object (65536 B >= 64 B), and the sample has the other, 144 + 65536.
    def e(kind, oid=0, size=0, ts=0, p=0):
        return dict(kind=kind, ts=ts, p=p, id=oid, size=size, flags=NOSCAN)

    events = [e(fmt.ALLOC, 0, 32), e(fmt.ALLOC, 1, 32), e(fmt.ALLOC, 5, 32),
              e(fmt.ALLOC, 2, 48), e(fmt.ALLOC, 3, 64 << 10), e(fmt.ALLOC, 4, 64 << 10)]
    events += [e(fmt.GC_START, 1, ts=10), e(fmt.GC_MARK_TERM, 1, ts=20),
               e(fmt.GC_START, 2, ts=30), e(fmt.GC_MARK_TERM, 2, ts=40),
               e(fmt.FREE, 0, ts=50, p=1), e(fmt.FREE, 1, ts=51, p=1),
               e(fmt.ALLOC, 6, 48, ts=52, p=1),
               e(fmt.STW_BEGIN, ts=1_000_050), e(fmt.STW_END, ts=1_000_060),
               dict(kind=fmt.METRIC, ts=1_000_070, p=0, id=0, aux=0, size=131_152),
               e(fmt.FREE, 3, ts=2_000_000), e(fmt.FREE, 4, ts=2_000_001)]
    path = write_trace(tmp_path / "t.msgpack", events, Header(gomaxprocs=2, frees="sweep"))
    r = replay(path, Config(gc_mode="recorded", go_version="1.22"))
    (m,) = [t for t in r.timeline if t.kind == "metric"]
    assert m.objects == 144 + (64 << 10)
    assert r.end.objects == 32 + 48 * 2 and r.frees == 4


def test_recorded_mark_termination_once_the_world_has_stopped(tmp_path):
    # A Go recording's gc_mark_term row is where the stop-the-world was asked for; another P
    # runs on until it stops, allocating black and sweeping nothing, and the runtime's mark
    # termination (sweepgen, the flushes) comes where the trace has its GCEnd. Object 0 (a
    # 64 KiB large object) dies in cycle 1 (its free is reported after it); P 1 allocates a
    # 64 KiB object between the request and the gc_end, then a sample is read. Taking the
    # row as the mark termination, that allocation's mheap.reclaim would sweep object 0's
    # unmarked span first (sample: objects 64 KiB + the new one's, less object 0's); at the
    # gc_end, nothing is swept before the sample: 3 x 64 KiB. A trace whose gc_mark_term is
    # not followed by its gc_end (a hand-made one) keeps the row as the mark termination.
    big = 64 << 10

    def e(kind, oid=0, size=0, ts=0, p=0):
        return dict(kind=kind, ts=ts, p=p, id=oid, size=size, flags=NOSCAN)

    events = [e(fmt.ALLOC, 0, big), e(fmt.ALLOC, 1, big), e(fmt.GC_START, 1, ts=10),
              e(fmt.GC_MARK_TERM, 1, ts=20), e(fmt.ALLOC, 2, big, ts=21, p=1),
              dict(kind=fmt.METRIC, ts=22, p=1, id=0, aux=0, size=3 * big),
              e(fmt.GC_END, 1, ts=30), e(fmt.FREE, 0, ts=40)]
    for end, objects, term_at in ((True, 3 * big, 6), (False, 2 * big, 3)):
        evs = events if end else [x for x in events if x["kind"] != fmt.GC_END]
        path = write_trace(tmp_path / f"t{end}.msgpack", evs, Header(gomaxprocs=2, frees="sweep"))
        r = replay(path, Config(gc_mode="recorded", go_version="1.22"))
        (m,) = [t for t in r.timeline if t.kind == "metric"]
        assert m.objects == objects, end
        assert [t.event for t in r.timeline if t.kind == "mark-term"] == [term_at]


def test_report_says_the_sweeper_is_paced(tmp_path):
    from goalloc.report.replay import header_rows

    rows = dict(header_rows(_paced(tmp_path, [])))
    assert rows["sweeper"] == "background sweep paced by the trace's sweep frees"
    r = run(tmp_path, _dead_span_trace(10_000), gc_mode="recorded")  # frees at death
    assert "sweeper" not in dict(header_rows(r))


def test_proportional_sweep_runs_without_background_sweeper(churn):
    r = replay(churn, Config(bg_sweep_rate=0))
    assert r.spans_swept_proportional > 0
    assert r.spans_swept_background == 0


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    out = []
    for i in range(60_000):  # 1024 B objects, the last 2000 live: 2 MiB live
        out.append(ev(fmt.ALLOC, i, 1024, 2 * i * 100))
        if i >= 2000:
            out.append(ev(fmt.FREE, i - 2000, 0, (2 * i + 1) * 100))
    return write_trace(tmp_path_factory.mktemp("gc") / "churn.msgpack", out,
                       Header(gomaxprocs=1))


# ---- scavenger ------------------------------------------------------------------------------

def _shrink_trace(extra_gc, tail_ns=30 * 10**9):
    # 512 noscan 128 KiB objects: 16 pages each, 8192 pages = 16 chunks, all in use (64 MiB).
    # Objects 0..31 (chunk 0, 4 MiB) stay live, the rest die after cycle 1.
    e = [ev(fmt.ALLOC, i, 128 << 10, i, NOSCAN) for i in range(512)]
    e += [ev(fmt.GC_START, 1, ts=1000), ev(fmt.GC_MARK_TERM, 1, ts=1001)]
    e += [ev(fmt.FREE, i, 0, 1002) for i in range(32, 512)]
    e += [ev(fmt.GC_START, 2, ts=2000), ev(fmt.GC_MARK_TERM, 2, ts=2001)]
    t = 2001
    if extra_gc:
        t += 10**9
        e += [ev(fmt.GC_START, 3, ts=t), ev(fmt.GC_MARK_TERM, 3, ts=t + 1)]
        t += 1
    # tail_ns later (30 s: long enough for the background scavenger to reach its goal)
    e += [ev(fmt.ALLOC, 10_000, 8, t + tail_ns), ev(fmt.ALLOC, 10_001, 8, t + tail_ns + 1)]
    return e


@pytest.mark.parametrize("version", ["1.19", "1.22"])
def test_scavenger_background_goal(tmp_path, version):
    # The dead spans are swept (freed) after cycle 2's mark termination, so the background
    # scavenger's search (raised only at each GC's end, scavengeIndex.nextGen) sees them after
    # cycle 3. Without cycle 3 nothing is released.
    r = run(tmp_path, _shrink_trace(False), gc_mode="recorded", go_version=version)
    assert r.released_background_bytes == 0
    # Cycle 3: lastHeapGoal = 8 MiB (cycle 2 marked 4 MiB), goal 8 MiB, lastHeapInUse 4 MiB:
    # retain 4 MiB * 8/8 + 10% = 4613734, rounded up to 4 KiB: 4616192. Retained is 64 MiB
    # (4 MiB in use + 60 MiB free): k >= (64 MiB - 4616192) / 64 KiB = 953.6 -> 954 quanta.
    # 1.22's dense-chunk skip does not apply: chunks 1..15 had 0 pages in use at cycle 3's end.
    r = run(tmp_path, _shrink_trace(True), gc_mode="recorded", go_version=version)
    assert r.released_background_bytes == 954 * 65536
    assert r.released_eager_bytes == 0


# The background scavenger's bursts and sleeps (mgcscavenge.go), worked out by hand on the
# shrink trace after cycle 3 (1 P), whose mark termination readies it. Every 64 KiB quantum is
# one run of 8 runtime pages = 16 physical pages in one madvise call.
# - Cost model 1700 ns per call + 310 ns per page (COST: the default before 2026-12-04):
#   1700 + 16 * 310 = 6660 ns per quantum. A burst runs until it has
#   worked minScavWorkTime (1 ms): ceil(1e6 / 6660) = 151 quanta, worked 1005660 ns; it then
#   sleeps worked / startingScavSleepRatio (0.001) = 1.00566 s. The controller then sees a
#   CPU fraction of 1/1001 against 1%: sleepRatio = 0.3375 * (0.01 - 1/1001) = 0.0030378,
#   errIntegral 0.3375 * 1.00666566e9 / 3.2e6 * 0.009001 = 0.9557, so the second burst (at
#   1.00666566 s, 151 quanta) sleeps 1005660 / 0.0030378 = 331.04 ms: the third burst runs
#   1.338712-1.339718 s. Then fraction 0.0030287, sleepRatio 0.3375 * 0.0069713 + 0.9557 =
#   0.95805 (errIntegral 0.9557 + 0.3375 * 332.05e6 / 3.2e6 * 0.0069713 = 1.1998): a 1.0497
#   ms sleep, the fourth burst runs 1.340768-1.341774 s; fraction 0.48929, sleepRatio
#   0.3375 * -0.47929 + 1.1998 = 1.038: a 0.9688 ms sleep, the fifth starts at 1.34274 s.
# - Both costs 0: the runtime's fallback, 10 us per physical page = 160 us per quantum:
#   ceil(1e6 / 160e3) = 7 quanta per burst, then a 1.12 s sleep.
COST = {"scavenge_page_ns": 310, "scavenge_call_ns": 1700}


@pytest.mark.parametrize("tail_ms,quanta,costs", [
    (500, 151, COST), (1200, 302, COST), (1338, 302, COST), (1340, 453, COST),
    (1342, 604, COST),
    (500, 7, {"scavenge_page_ns": 0, "scavenge_call_ns": 0}),
    (1200, 14, {"scavenge_page_ns": 0, "scavenge_call_ns": 0})])
def test_scavenger_bursts_and_sleeps(tmp_path, tail_ms, quanta, costs):
    r = run(tmp_path, _shrink_trace(True, tail_ms * 10**6), gc_mode="recorded",
            go_version="1.23", **costs)
    assert r.released_background_bytes == quanta * 65536


# Recorded GC mode (scavenger timing "recorded", its default there): the background
# scavenger works only in the recording's scavenger runs (the header's source.scavenger, as
# the Go importer writes it), at COST's 6660 ns per 64 KiB quantum, a quantum starting while
# the run's time is not spent (the one under way finishes). Cycle 3 ends at t3 = 1e9 + 2002
# ns; a run before it finds nothing the search can see (the freed spans are visible from
# cycle 3's end), a run of 0.5 ms then takes ceil(500000 / 6660) = 76 quanta, one of 2 ms
# ceil(2e6 / 6660) = 301; the controller's own timing (scavenger timing "model", or no runs)
# gave 151 quanta by 500 ms (the test above).
T3 = 10**9 + 2002


@pytest.mark.parametrize("runs,quanta", [
    ([], 151),
    ([(T3 - 10**6, 10**6)], 0),
    ([(T3 - 10**6, 10**6), (T3 + 10**8, 500_000)], 76),
    ([(T3 + 10**8, 500_000), (T3 + 3 * 10**8, 2 * 10**6)], 76 + 301),
    # runs are the recording's wall-clock time: one the model's last quantum of the run
    # before overran (to 506160 ns past its start) keeps only what is left of it
    ([(T3 + 10**8, 500_000), (T3 + 10**8 + 1000, 6660)], 76),
    ([(T3 + 10**8, 500_000), (T3 + 10**8 + 1000, 506_000)], 76 + 1)])
def test_scavenger_works_in_the_recorded_runs(tmp_path, runs, quanta):
    source = {"scavenger": {"goroutine": 4, "running_ns": sum(n for _, n in runs),
                            "runs": len(runs), "run_start": [s for s, _ in runs],
                            "run_ns": [n for _, n in runs]}}
    path = write_trace(tmp_path / "t.msgpack", _shrink_trace(True, 500 * 10**6),
                       Header(gomaxprocs=1, source=source))
    r = replay(path, Config(gc_mode="recorded", go_version="1.23", **COST))
    assert r.released_background_bytes == quanta * 65536
    assert r.scavenge["recorded_runs"] == len(runs)
    # "model": the controller's timing whatever the header says
    r = replay(path, Config(gc_mode="recorded", go_version="1.23", scavenger_timing="model",
                            **COST))
    assert r.released_background_bytes == 151 * 65536
    assert r.scavenge["recorded_runs"] == 0


# Where the recorded runs show the runtime done, they set the pace. A run that ends in the
# scavenger's sleep or park (run_blocked 1) ends a run() call; with its earlier runs since
# the last such end (the GC's stack scan preempts a call, which goes on in the next run), a
# call shorter than minScavWorkTime (1 ms) returned early: the runtime had met its goal (or
# found nothing left). Each run before that end releases its share of what the model has
# left to release (8 KiB pages; here 62492672 B, retained 64 MiB over the 4616192 B goal
# above: 7629 pages), in proportion to its running ns among those until the end, rounded
# up; the run that ends it releases all that is left, whatever its length, its quanta
# spread over the run. With no such end ahead, the cost model times the quanta in the run
# (0.5 ms: 76 quanta of 8 pages, 0.6 ms: 91). Runs from 10**9 on lie past the trace's end
# (500 ms after cycle 3): only their ns count.
L_PAGES = 7629


@pytest.mark.parametrize("runs,pages,paced", [
    ([(T3 + 10**8, 500_000, 1)], L_PAGES, 1),
    ([(T3 + 10**8, 500_000, 0)], 76 * 8, 0),
    # a 0.3 ms part of a call that returns 0.2 ms of running later: ceil(7629 * 3 / 5)
    ([(T3 + 10**8, 300_000, 0), (T3 + 10**9, 200_000, 1)], 4578, 2),
    ([(T3 + 10**8, 300_000, 0), (T3 + 10**8 + 400_000, 200_000, 1)], L_PAGES, 2),
    # a call of 1.1 ms worked its time: no end ahead, the cost model
    ([(T3 + 10**8, 600_000, 0), (T3 + 10**8 + 700_000, 500_000, 1)], (91 + 76) * 8, 0),
    # ... then a 0.1 ms call: ceil(7629 * 6 / 12) = 3815, ceil(3814 * 5 / 6) = 3179
    ([(T3 + 10**8, 600_000, 0), (T3 + 10**8 + 700_000, 500_000, 1),
      (T3 + 10**9, 100_000, 1)], 3815 + 3179, 3),
    # a call that returned before cycle 3's end found nothing the search could see (its
    # goal was met, or the pages not yet visible); the next call begins afresh
    ([(T3 - 10**6, 10_000, 1), (T3 + 10**8, 500_000, 0)], 76 * 8, 1),
    ([(T3 - 10**6, 10_000, 1), (T3 + 10**8, 500_000, 1)], L_PAGES, 2),
    # a list of flags the importer did not write is not followed: no call is known to end
    ([(T3 + 10**8, 500_000, 2)], 76 * 8, 0)])
def test_scavenger_paced_by_where_the_runtime_was_done(tmp_path, runs, pages, paced):
    source = {"scavenger": {"goroutine": 4, "running_ns": sum(r[1] for r in runs),
                            "runs": len(runs), "run_start": [r[0] for r in runs],
                            "run_ns": [r[1] for r in runs], "run_blocked": [r[2] for r in runs]}}
    path = write_trace(tmp_path / "t.msgpack", _shrink_trace(True, 500 * 10**6),
                       Header(gomaxprocs=1, source=source))
    r = replay(path, Config(gc_mode="recorded", go_version="1.23", **COST))
    assert r.released_background_bytes == pages * 8192
    assert r.scavenge["paced_runs"] == paced  # the runs with such an end ahead
    if runs == [(T3 + 10**8, 500_000, 1)]:
        # 954 quanta spread over the run: each its pages' part of 0.5 ms, rounded down
        assert 500_000 - 954 <= r.scavenge["background_ns"] <= 500_000


def test_scavenger_not_paced_across_a_goal_change(tmp_path):
    """A mark termination between a run and the end that shows the runtime done sets new
    goals (gcPaceScavenger): the runtime was done against those, so the run is timed by the
    cost model (0.3 ms: ceil(300000 / 6660) = 46 quanta of 8 pages), not paced (4578 pages
    without the cycle, above). The ending run lies past the trace's end."""
    events = _shrink_trace(True, 500 * 10**6)
    t4 = T3 + 2 * 10**8
    cycle4 = [ev(fmt.GC_START, 4, ts=t4), ev(fmt.GC_MARK_TERM, 4, ts=t4 + 1)]
    events = events[:-2] + cycle4 + events[-2:]
    runs = [(T3 + 10**8, 300_000, 0), (T3 + 10**9, 200_000, 1)]
    source = {"scavenger": {"goroutine": 4, "running_ns": 500_000, "runs": 2,
                            "run_start": [r[0] for r in runs], "run_ns": [r[1] for r in runs],
                            "run_blocked": [r[2] for r in runs]}}
    path = write_trace(tmp_path / "t.msgpack", events, Header(gomaxprocs=1, source=source))
    r = replay(path, Config(gc_mode="recorded", go_version="1.23", **COST))
    assert r.released_background_bytes == 46 * 65536


def test_scavenger_paced_share_of_what_its_search_can_reach(tmp_path):
    """What the model has left to release is at most what the background search can reach:
    chunks 0-13 lose one 16-page span each (496 of 512 pages in use: dense, skipped on
    1.22+), chunks 14 and 15 two (480: 32 free pages each), so 64 pages, though GOMEMLIMIT
    32 MiB asks for far more (mappedReady ~64 MiB). A 0.3 ms run of a call that returns 0.2
    ms of running later releases ceil(64 * 3 / 5) = 39 pages (8 KiB), not the 64 its search
    can find. The frees are swept after cycle 2 and seen from cycle 3's end (T3), as in the
    shrink trace above; the call's last run lies past the trace's end."""
    e = [ev(fmt.ALLOC, i, 128 << 10, i, NOSCAN) for i in range(512)]
    e += [ev(fmt.GC_START, 1, ts=1000), ev(fmt.GC_MARK_TERM, 1, ts=1001)]
    dead = [32 * c for c in range(16)] + [32 * c + 1 for c in (14, 15)]
    e += [ev(fmt.FREE, i, 0, 1002) for i in dead]
    e += [ev(fmt.GC_START, 2, ts=2000), ev(fmt.GC_MARK_TERM, 2, ts=2001)]
    e += [ev(fmt.GC_START, 3, ts=T3 - 1), ev(fmt.GC_MARK_TERM, 3, ts=T3)]
    e += [ev(fmt.ALLOC, 10_000, 8, T3 + 5 * 10**8)]
    runs = [(T3 + 10**8, 300_000, 0), (T3 + 10**9, 200_000, 1)]
    source = {"scavenger": {"goroutine": 4, "running_ns": 500_000, "runs": 2,
                            "run_start": [r[0] for r in runs], "run_ns": [r[1] for r in runs],
                            "run_blocked": [r[2] for r in runs]}}
    path = write_trace(tmp_path / "t.msgpack", e, Header(gomaxprocs=1, source=source))
    r = replay(path, Config(gc_mode="recorded", go_version="1.23", memlimit=32 * MiB, **COST))
    assert r.released_background_bytes == 39 * 8192


@pytest.mark.parametrize("scav", [
    {"run_start": [T3 + 10**8], "run_ns": [500_000, 1]},  # unequal lists
    {"run_start": [2**63 - 1], "run_ns": [500_000]},  # past any trace clock
    {"run_start": [T3 + 10**8], "run_ns": [-1]},
    {"run_start": [T3 + 10**8], "run_ns": [0.5]},
    "runs"])
def test_scavenger_runs_the_importer_did_not_write_are_not_followed(tmp_path, scav):
    # the controller's timing instead, as without runs (151 quanta by 500 ms), no error
    path = write_trace(tmp_path / "t.msgpack", _shrink_trace(True, 500 * 10**6),
                       Header(gomaxprocs=1, source={"scavenger": scav}))
    r = replay(path, Config(gc_mode="recorded", go_version="1.23", **COST))
    assert r.released_background_bytes == 151 * 65536
    assert r.scavenge["recorded_runs"] == 0


@pytest.mark.parametrize("version,released", [("1.19", 2 * MiB), ("1.22", 0)])
def test_scavenger_dense_chunk_skip(tmp_path, version, released):
    # 16 chunks of 32 spans of 16 pages; one span per chunk dies before cycle 1: each chunk
    # keeps 496 of 512 pages allocated (dense: >= 496). GOMEMLIMIT 64 MiB: the background goal
    # is 0.95 * 64 MiB against mappedReady 64 MiB. 1.19 releases all 16*16 free pages (2 MiB);
    # 1.22+ skips dense chunks in the background.
    e = [ev(fmt.ALLOC, i, 128 << 10, i, NOSCAN) for i in range(512)]
    e += [ev(fmt.FREE, i, 0, 600) for i in range(0, 512, 32)]
    e += [ev(fmt.GC_START, 1, ts=1000), ev(fmt.GC_MARK_TERM, 1, ts=1001)]
    e += [ev(fmt.GC_START, 2, ts=10**9), ev(fmt.GC_MARK_TERM, 2, ts=10**9 + 1)]
    e += [ev(fmt.ALLOC, 10_000, 8, 31 * 10**9)]
    r = run(tmp_path, e, gc_mode="recorded", go_version=version, memlimit=64 * MiB)
    assert r.released_background_bytes == released


def test_memory_limit_releases_synchronously(tmp_path):
    # GOGC off, GOMEMLIMIT 8 MiB: 16 MiB of 128 KiB noscan objects allocated and freed, then
    # allocated again after a GC. Reusing released pages beyond the limit makes allocSpan
    # release free pages at once (forced), so mappedReady stays near the limit.
    e = [ev(fmt.ALLOC, i, 128 << 10, i, NOSCAN) for i in range(128)]
    e += [ev(fmt.FREE, i, 0, 200) for i in range(128)]
    e += [ev(fmt.GC_START, 1, ts=300), ev(fmt.GC_MARK_TERM, 1, ts=301)]
    e += [ev(fmt.ALLOC, 1000 + i, 128 << 10, 400 + i, NOSCAN) for i in range(128)]
    r = run(tmp_path, e, gc_mode="recorded", gogc=None, memlimit=8 * MiB, bg_sweep_rate=0)
    assert r.released_eager_bytes > 0
    assert r.end.objects + r.end.unused + r.end.free <= 16 * MiB + 128 * 1024


# ---- mark cost model, consMark, periodic GC -------------------------------------------------

def test_mark_takes_trace_time_and_allocates_black(churn):
    # 100 ns between events; ~2 MiB pointerful live at 1 GB/s per CPU at 25% of 1 P takes
    # ~8 ms = 40 000 events: the heap overshoots the trigger and objects are allocated black.
    r = replay(churn, Config(scan_rate=1e9))
    done = [c for c in r.cycles if c.end_event is not None]
    assert done
    for c in done:
        assert c.heap_at_end > c.heap_at_trigger
        assert c.marked > c.scan_work - 1  # marked includes the scanned bytes (+ black)
    # a very fast marker ends each mark almost at once: less overshoot
    fast = replay(churn, Config(scan_rate=1e15))
    f = [c for c in fast.cycles if c.end_event is not None]
    assert max(c.heap_at_end - c.heap_at_trigger for c in f) < \
        max(c.heap_at_end - c.heap_at_trigger for c in done)
    assert not any(c.mark_ended_by_goal for c in f)


def test_cons_mark_is_measured(churn):
    r = replay(churn, Config())
    assert r.cycles[0].trigger == (4 << 20) // 64 * 61  # consMark 0 before any cycle
    assert r.cons_mark > 0
    fixed = replay(churn, Config(fixed_cons_mark=True, cons_mark=0.05))
    assert fixed.cons_mark == 0.0  # not measured


def test_cons_mark_counts_the_recordings_assist_and_idle_time(tmp_path):
    """endCycle: currentConsMark = (heapLive - triggered) x (u + idle) / (scanWork x (1 - u)),
    u = 25% + assist time, idle = idle mark time, each over the mark's CPU time. The model's
    marks run the workers at 25%; a recording's mark_cpu gives the assist and idle shares
    (engine/mark.py RecordedMarkCpu). The first cycle starts at the same point either way
    (consMark 0 before it), so its cons/mark grows by the formula's factor exactly."""
    out = []
    for i in range(60_000):  # the churn fixture's events on 2 Ps
        out.append(ev(fmt.ALLOC, i, 1024, 2 * i * 100))
        if i >= 2000:
            out.append(ev(fmt.FREE, i - 2000, 0, (2 * i + 1) * 100))
    # 10 ms of marking on 2 Ps: 2 ms of assists (10%) and 6 ms of idle workers (30%)
    mc = {"cycles": 3, "wall_ns": 10_000_000, "background_ns": 3_000_000,
          "idle_ns": 6_000_000, "assist_ns": 2_000_000}
    # the trace's clock as it is: the shares' other use (mark.mutator_clock, tested below)
    # would move where the first mark ends
    cfg = Config(scan_rate=1e11, mutator_clock=False)
    plain = replay(write_trace(tmp_path / "a.msgpack", out, Header(gomaxprocs=2)), cfg)
    shared = replay(write_trace(tmp_path / "b.msgpack", out,
                                Header(gomaxprocs=2, source={"mark_cpu": mc})), cfg)
    assert plain.mark_cpu is None  # the report says what the pacer took
    assert shared.mark_cpu == {"assist_share": 0.1, "idle_share": 0.3, "background_share": 0.15}
    a, b = plain.cycles[0], shared.cycles[0]
    assert (a.start_event, a.scan_work, a.end_event) == (b.start_event, b.scan_work, b.end_event)
    x = (a.heap_at_end - a.heap_at_trigger) / a.scan_work
    assert x > 0 and a.cons_mark > 0
    # without mark_cpu: u = 25%, idle = what parked assists left idle (small with this rate)
    parked = a.cons_mark * 0.75 / x - 0.25
    assert -1e-4 <= parked < 0.05  # (cons_mark is kept to 1e-6)
    want = x * (0.25 + 0.10 + 0.30 + parked) / (1 - 0.35)
    assert b.cons_mark == pytest.approx(want, rel=1e-4)
    # a later trigger sits further from the goal: consMark grew the runway
    assert b.trigger is not None and a.trigger is not None
    assert shared.cycles[1].trigger < plain.cycles[1].trigger
    # figures no marking on 2 Ps can have (more CPU than the Ps): not used
    bad = dict(mc, idle_ns=30_000_000)
    c = replay(write_trace(tmp_path / "c.msgpack", out,
                           Header(gomaxprocs=2, source={"mark_cpu": bad})), cfg)
    assert c.cycles[0].cons_mark == a.cons_mark


def test_cons_mark_takes_the_recorded_mark_in_effect(tmp_path):
    """The runtime's marks differ one by one (a server's first took 76% of the CPU, the
    next 25%: docs/model.md), and through the last four's maximum one mark's cons/mark sets
    the runway of the next four: with the recording's per-mark rows (mark_cpu.marks), each
    model mark's cons/mark takes the shares of the recorded mark whose gc_start the replay
    passed last. Here the recording's marks 1 and 3 both begin before the model's first
    mark ends; the first model cycle starts at the same point and grows the same either way
    (consMark 0 before it), so its cons/mark differs by the formula's factor."""
    out = [ev(fmt.GC_START, 1, 0, 0), ev(fmt.GC_START, 3, 0, 1)]
    for i in range(60_000):  # the churn fixture's events on 2 Ps
        out.append(ev(fmt.ALLOC, i, 1024, 2 * i * 100 + 2))
        if i >= 2000:
            out.append(ev(fmt.FREE, i - 2000, 0, (2 * i + 1) * 100 + 2))
    # pooled: 10 ms of marking on 2 Ps, assists 10%, idle workers 30%
    mc = {"cycles": 2, "wall_ns": 10_000_000, "background_ns": 3_000_000,
          "idle_ns": 6_000_000, "assist_ns": 2_000_000}
    # mark 1: assists 20%, no idle worker; mark 3: assists 40%
    marks = [[1, 5_000_000, 1_000_000, 0, 2_000_000], [3, 5_000_000, 1_000_000, 0, 4_000_000]]
    cfg = Config(scan_rate=1e11, mutator_clock=False)

    def first(source, **kw):
        path = write_trace(tmp_path / f"t{len(kw)}{len(source['mark_cpu'])}.msgpack", out,
                           Header(gomaxprocs=2, source=source))
        return replay(path, dataclasses.replace(cfg, **kw)).cycles[0]

    pooled = first({"mark_cpu": mc})
    x = (pooled.heap_at_end - pooled.heap_at_trigger) / pooled.scan_work
    parked = pooled.cons_mark * (1 - 0.35) / x - 0.25 - 0.10 - 0.30  # what parked assists idled
    assert x > 0 and -1e-4 <= parked < 0.05
    per_mark = first({"mark_cpu": dict(mc, marks=marks)})
    assert (per_mark.start_event, per_mark.heap_at_end) == (pooled.start_event,
                                                            pooled.heap_at_end)
    assert per_mark.cons_mark == pytest.approx(x * (0.25 + 0.40 + parked) / (1 - 0.65),
                                               rel=1e-4)
    # mark 3 without a row: mark 1's shares stay in effect
    assert first({"mark_cpu": dict(mc, marks=marks[:1])}).cons_mark == pytest.approx(
        x * (0.25 + 0.20 + parked) / (1 - 0.45), rel=1e-4)
    # Config.per_mark_shares off, or rows no marking on 2 Ps can have: the pooled shares
    assert first({"mark_cpu": dict(mc, marks=marks)},
                 per_mark_shares=False).cons_mark == pooled.cons_mark
    bad = [marks[0], [3, 5_000_000, 1_000_000, 0, 40_000_000]]
    assert first({"mark_cpu": dict(mc, marks=bad)}).cons_mark == pooled.cons_mark


def test_periodic_gc_after_two_minutes(tmp_path):
    # one cycle (recorded would not do periodic GC; pacer mode with a forced first cycle):
    # allocate past the 4 MiB trigger, then nothing for 5 minutes: a periodic cycle starts
    # when the clock passes lastGC + 2 min; another 2 min later.
    e = [ev(fmt.ALLOC, i, 1024, i * 10) for i in range(4200)]
    t = 4200 * 10
    e += [ev(fmt.ALLOC, 10_000 + k, 8, t + k * 60 * 10**9) for k in range(1, 6)]
    r = run(tmp_path, e)
    kinds = [c.kind for c in r.cycles]
    assert kinds[0] == "heap"
    assert kinds.count("periodic") == r.periodic_cycles >= 1
    off = run(tmp_path, e, gogc=None, memlimit=1 << 40)
    assert off.periodic_cycles == 0  # GOGC < 0: no periodic GC


# ---- timeline, determinism ------------------------------------------------------------------

def test_timeline_samples_and_determinism(tmp_path):
    path = tmp_path / "s.msgpack"
    goalloc.synth.generate("steady", 60_000, path, procs=2, seed=3, force=True, live=3000)
    a = replay(path, Config())
    b = replay(path, Config())
    ja = json.dumps(a.to_dict(), sort_keys=True)
    assert ja == json.dumps(b.to_dict(), sort_keys=True)
    kinds = [t.kind for t in a.timeline]
    assert kinds.count("sample") == 200  # every 300 events: 60 000 / 200
    assert kinds.count("mark-start") == len(a.cycles)
    assert kinds[-1] == "end"
    assert [t.event for t in a.timeline] == sorted(t.event for t in a.timeline)
    # the same events in chunks of 1000 events: byte-identical report (except the path)
    small = tmp_path / "c.msgpack"
    from goalloc.trace import Writer
    from goalloc.trace import open as open_trace

    with open_trace(path) as rd, Writer(small, rd.header, force=True, chunk_events=1000) as w:
        for c in rd:
            w.write(kind=c.kind, ts=c.ts, p=c.p, id=c.id, size=c.size, flags=c.flags, aux=c.aux)
    d = replay(small, Config()).to_dict()
    d["trace"] = a.trace
    assert json.dumps(d, sort_keys=True) == ja


def test_jw_ratios_and_class_figures(tmp_path):
    # 1024 pointerful 8 B objects under 1.19 fill one class-1 span exactly: L = 8192,
    # H = 8192 in use + 0 free: all J&W ratios 1.0 (L at peak H is the largest L while H is
    # at its maximum); utilisation 1.0, top bucket. The peak snapshot is taken when H first
    # reaches its maximum: after the first object, 1 of 1024 slots live (bucket 0).
    r = run(tmp_path, [ev(fmt.ALLOC, i, 8, i) for i in range(1024)], go_version="1.19")
    assert r.jw_h_over_l_at_peak_live == r.jw_h_over_l_at_peak_held == \
        r.jw_max_h_over_max_l == 1.0
    (c,) = r.classes
    assert c.util_mean == 1.0 and c.util_hist == [0] * 9 + [1]
    assert c.util_mean_at_peak == 1 / 1024 and c.util_hist_at_peak == [1] + [0] * 9
    assert c.frag_bytes == 0 and c.frag_rank == 1
    from goalloc.report.metrics import metric_values

    m = metric_values(r)
    assert m["/goalloc/frag/jw/max-h-over-max-l:ratio"] == 1.0


def test_peak_class_snapshot(tmp_path):
    # 100 8 B objects (1.19: one class-1 span, 100/1024 -> bucket 0), then 1 large object of
    # 3 pages: the held peak is after it. Then all 100 die and 8 more GCs... at the peak the
    # class-1 span held 100 live slots.
    e = [ev(fmt.ALLOC, i, 8, i) for i in range(100)] + [ev(fmt.ALLOC, 100, 20000, 100)]
    e += [ev(fmt.FREE, i, 0, 101) for i in range(100)]
    r = run(tmp_path, e, go_version="1.19")
    c1 = next(c for c in r.classes if c.size_class == 1)
    assert c1.util_mean_at_peak == 100 / 1024
    assert c1.util_hist_at_peak == [1] + [0] * 9
    assert c1.util_mean == 0.0  # all dead now (unswept: still one span)


# ---- acceptance: fragmenter -----------------------------------------------------------------

@pytest.fixture(scope="module")
def fragmenter(tmp_path_factory):
    path = tmp_path_factory.mktemp("frag") / "f.msgpack"
    goalloc.synth.generate("fragmenter", 200_000, path, procs=1, seed=1, force=True,
                           keep_every=16)
    return path


def _replay_collected(path, **cfg):
    """Replay, then forced cycles at the end (runtime.GC): the first finishes a cycle still
    marking at the trace's end, the second marks only live objects, the third's sweep
    termination sweeps what the second found dead. What is left is what live objects pin."""
    from goalloc.engine.readout import build_report
    from goalloc.trace import open as open_trace

    out = []
    r = replay(path, Config(**cfg), engine_out=out)
    eng = out[0]
    for _ in range(3):
        eng.force_gc(r.events, 0)
    with open_trace(path) as rd:
        return build_report(eng, str(path), rd.header, r.events)


def test_fragmenter_strands_sparse_spans(fragmenter):
    r = _replay_collected(fragmenter)
    # every 16th object survives: live is low, but the spans it pins cannot be freed, so the
    # unused bytes of in-use spans are several times the live bytes
    assert r.end_frag.dead_unswept == 0
    assert r.end.unused > 4 * r.live_requested
    small = [c for c in r.classes if c.size_class > 0 and c.spans >= 4]
    assert small and all(c.util_mean < 0.25 for c in small)


def test_coarser_table_more_rounding(fragmenter):
    go = _replay_collected(fragmenter, table="go")
    p2 = _replay_collected(fragmenter, table="pow2")
    assert p2.end_frag.rounding > go.end_frag.rounding
    assert p2.live_requested == go.live_requested


# ---- stop-the-world work --------------------------------------------------------------------

@pytest.mark.parametrize("gc_mode", ["recorded", "pacer"])
@pytest.mark.parametrize("reason,spans", [("read mem stats", 1), ("write heap dump", 1),
                                          ("all goroutines stack trace", 2), (None, 2)])
def test_read_mem_stats_flushes_every_mcache(tmp_path, gc_mode, reason, spans):
    # P 0 allocates a 48 B object: its mcache caches a fresh class-5 span with 169 free slots.
    # ReadMemStats (readmemstats_m -> flushallmcaches) hands that span back to mcentral's
    # partial swept set, so P 1's first 48 B allocation refills from it: one span. Without the
    # flush (another stop-the-world reason, or none) P 0 still holds it and P 1 grows the heap.
    events = [dict(kind=fmt.ALLOC, ts=0, p=0, id=0, size=48)]
    if reason is not None:
        events += [dict(kind=fmt.STW_BEGIN, ts=1, p=0, aux=fmt.STW_REASONS.index(reason)),
                   dict(kind=fmt.STW_END, ts=2, p=0)]
    events += [dict(kind=fmt.ALLOC, ts=3, p=1, id=1, size=48)]
    path = write_trace(tmp_path / "t.msgpack", events, Header(gomaxprocs=2))
    r = replay(path, Config(gc_mode=gc_mode, go_version="1.22"))
    assert r.spans_in_use == spans
    assert r.end.objects == 2 * 48


# ---- the recording's stacks + globals in the GOGC goal ----------------------------------------

def _commits_trace(tmp_path, first_goal, goal2, name="c.msgpack"):
    # A recorded Go trace: three 1 MiB objects (128-page large spans: 3 MiB marked exactly) live
    # through cycle 1, whose mark termination traces heapMarked (3 MiB) and then the new goal
    # `goal2`; the goal traced before any cycle is `first_goal`. A second cycle follows.
    events = [ev(fmt.HEAP_GOAL, size=first_goal, ts=0)]
    events += [ev(fmt.ALLOC, i, MiB, ts=1 + i, flags=NOSCAN) for i in range(3)]
    events += [ev(fmt.GC_START, 1, ts=10), ev(fmt.GC_MARK_TERM, 1, ts=20),
               ev(fmt.HEAP_LIVE, size=3 * MiB, ts=21), ev(fmt.HEAP_GOAL, size=goal2, ts=22),
               ev(fmt.ALLOC, 3, MiB, ts=30, flags=NOSCAN),
               ev(fmt.GC_START, 2, ts=40), ev(fmt.GC_MARK_TERM, 2, ts=50)]
    return write_trace(tmp_path / name, events, Header(gomaxprocs=1, frees="sweep"))


@pytest.mark.parametrize("gogc,nonheap", [(100, 512 << 10), (50, 768 << 10), (200, 64 << 10)])
def test_goal_adds_the_recordings_stacks_and_globals(tmp_path, gogc, nonheap):
    """mgcpacer.go: goal = heapMarked + (heapMarked + lastStackScan + globalsScan) * GOGC/100.
    The trace's commit (heapMarked 3 MiB, then the goal) shows stacks + globals; the recording's
    GOGC comes from its first goal, the heap minimum 4 MiB * GOGC/100. Replayed under that
    GOGC, the model's cycle-2 goal is the recorded one; under GOGC=100 it is 3 MiB + (3 MiB +
    stacks + globals); stand-ins in the Config win over the recording."""
    marked = 3 * MiB
    goal2 = marked + (marked + nonheap) * gogc // 100
    path = _commits_trace(tmp_path, (4 * MiB) * gogc // 100, goal2)
    r = replay(path, Config(gc_mode="recorded", go_version="1.22", gogc=gogc))
    assert [c.marked for c in r.cycles[:1]] == [marked]
    assert r.cycles[1].goal == goal2
    r = replay(path, Config(gc_mode="recorded", go_version="1.22", gogc=100))
    assert r.cycles[1].goal == 2 * marked + nonheap
    r = replay(path, Config(gc_mode="recorded", go_version="1.22", gogc=100,
                            globals_bytes=100 << 10))
    assert r.cycles[1].goal == 2 * marked + (100 << 10)


def test_a_gc_starts_own_size_is_not_read_as_stacks_and_globals(tmp_path):
    """The format leaves a gc_start's size unused; a trace that fills it (here with 5 MiB)
    does not give the goal stacks + globals: without the recording's commits the goal is
    heapMarked * 2 at GOGC=100."""
    events = [ev(fmt.ALLOC, i, MiB, ts=1 + i, flags=NOSCAN) for i in range(3)]
    events += [ev(fmt.GC_START, 1, 5 * MiB, ts=10), ev(fmt.GC_MARK_TERM, 1, ts=20),
               ev(fmt.ALLOC, 3, MiB, ts=30, flags=NOSCAN),
               ev(fmt.GC_START, 2, 5 * MiB, ts=40), ev(fmt.GC_MARK_TERM, 2, ts=50)]
    for frees in ("death", "sweep"):
        path = write_trace(tmp_path / f"{frees}.msgpack", events,
                           Header(gomaxprocs=1, frees=frees))
        r = replay(path, Config(gc_mode="recorded", go_version="1.22"))
        assert r.cycles[1].goal == 2 * 3 * MiB, frees


def test_goal_floors_do_not_show_stacks_and_globals():
    """A goal at the heap minimum, at the sweep-distance floor (heapMarked + 1 MiB) or below the
    GOGC formula (a memory limit's) says nothing about stacks + globals."""
    from goalloc.engine.pacer import nonheap_scan, recorded_gogc

    marked = np.array([1 * MiB, 3 * MiB, 3 * MiB])
    goal = np.array([4 * MiB, 5 * MiB, 7 * MiB])
    assert nonheap_scan(marked, goal, 100).tolist() == [-1, -1, MiB]
    # GOGC=50: the formula gives 1.5 + (1.5 + x) / 2 MiB < 2.5 MiB for small x, so the sweep
    # distance (heapMarked + 1 MiB) is the goal; a larger x shows
    marked = np.array([3 * MiB // 2, 3 * MiB // 2])
    goal = np.array([5 * MiB // 2, 3 * MiB])
    assert nonheap_scan(marked, goal, 50).tolist() == [-1, 3 * MiB // 2]
    assert recorded_gogc(2 * MiB, {}) == (50, "from its first heap goal (the heap minimum)")
    assert recorded_gogc(5 * MiB + 1, {})[0] == 100  # not a heap minimum: the default
    assert recorded_gogc(4 * MiB, {"gogc": 300})[0] == 300


def _two_spans(tmp_path, name, dead, tail):
    # Go 1.22, one P, a recorded trace with sweep frees. Eight pointer-free 2048 B objects fill
    # two one-page spans of four slots: A0-A3 (ids 0-3) span X, then B0-B3 (ids 4-7) span Y.
    # After cycle 1 both wait in the full sets, Y ahead of X (the mark termination's mcache
    # flush put Y back first): sweepone takes Y first. The objects in `dead` die before cycle
    # 2; `tail` follows its mark termination, then a runtime/metrics sample and the frees of
    # the rest of `dead`.
    events = [ev(fmt.ALLOC, i, 2048, i, NOSCAN) for i in range(8)]
    events += [ev(fmt.GC_START, 1, ts=10), ev(fmt.GC_MARK_TERM, 1, ts=20),
               ev(fmt.GC_START, 2, ts=30), ev(fmt.GC_MARK_TERM, 2, ts=40)]
    events += [dict(e, ts=1_000 + k) for k, e in enumerate(tail)]
    events += [dict(kind=fmt.METRIC, ts=2_000, p=0, id=0, aux=0, size=0)]
    freed = {e["id"] for e in tail if e["kind"] == fmt.FREE}
    events += [ev(fmt.FREE, o, ts=3_000 + o) for o in dead if o not in freed]
    path = write_trace(tmp_path / name, events, Header(gomaxprocs=1, frees="sweep"))
    r = replay(path, Config(gc_mode="recorded", go_version="1.22"))
    (m,) = [t for t in r.timeline if t.kind == "metric"]
    return m.objects


def test_paced_sweeper_sweeps_the_span_a_run_of_frees_emptied_of_its_dead(tmp_path):
    # A0, B0 and B1 die. The recording frees A0 alone (its sweeper swept X: one free, X's
    # only dead object), then a stop-the-world, then allocates C (2048 B) and takes a
    # sample. X swept then: C goes into X's freed slot from partialSwept; the sample counts
    # A1-A3 (X before the mcache took it; C, in the cached span, is not counted yet) + B0-B3
    # (Y unswept): 7 x 2048. Sweeping by the count in sweepone's order would sweep Y (two
    # frees for one) and put C there: A0-A3 + B2, B3 = 6 x 2048.
    def tail(frees):
        return [ev(fmt.FREE, o) for o in frees] + [ev(fmt.STW_BEGIN), ev(fmt.STW_END),
                                                   ev(fmt.ALLOC, 8, 2048, flags=NOSCAN)]
    assert _two_spans(tmp_path, "a.msgpack", [0, 4, 5], tail([0])) == 7 * 2048
    # A0 and A1 die in X and B0 in Y, but the recording's run frees A0 alone: not all of X's
    # dead objects, so not the span the runtime swept (the layouts differ there): the count
    # decides (Y: one free), C goes into Y: A0-A3 + B1-B3 = 7 x 2048; following X would
    # give A2, A3 + B0-B3 = 6 x 2048.
    assert _two_spans(tmp_path, "b.msgpack", [0, 1, 4], tail([0])) == 7 * 2048


def test_refill_takes_the_span_the_recording_swept_for_it(tmp_path):
    # B0 dies in Y, A0 and A1 in X. The recording frees B0 and stops the world (a sweeper
    # swept Y: it waits in partialSwept), then frees A0 and A1, traces the heapLive update of
    # a refill and allocates C and D (2048 B): the runtime's cacheSpan swept X for that
    # refill and cached it. The model's refill takes X too (mcentral.recorded_choice), not Y
    # from partialSwept: C and D fill X's two free slots; the sample counts B1-B3 (Y) + A2,
    # A3 (X before it was cached) = 5 x 2048. Taking Y first (or letting the heapLive event
    # hand X to the background sweeper) puts C in Y and D, after a refill that counts Y's C,
    # in X: B1-B3 + C + A2, A3 = 6 x 2048.
    t = [ev(fmt.FREE, 4), ev(fmt.STW_BEGIN), ev(fmt.STW_END), ev(fmt.FREE, 0),
         ev(fmt.FREE, 1), dict(kind=fmt.HEAP_LIVE, ts=0, p=0, id=0, size=0),
         ev(fmt.ALLOC, 8, 2048, flags=NOSCAN), ev(fmt.ALLOC, 9, 2048, flags=NOSCAN)]
    assert _two_spans(tmp_path, "c.msgpack", [0, 1, 4], t) == 5 * 2048


def test_mark_cpu_at_the_recordings_shares(tmp_path):
    """A Go recording's marks cost what its gctrace says per unit of mark time (workers 15% and
    assists 10% of GOMAXPROCS here), not the model's workers' 25%: the same recorded marks
    (recorded GC mode), read out with and without the recording's mark_cpu, split the marks'
    length x GOMAXPROCS (the workers' time / 25%) at those shares, per cycle and in gc_cpu;
    idle mark time is not GC CPU (runtime/metrics' gc/total less idle, as gctrace counts)."""
    e = []
    for c in range(3):  # three recorded cycles, each a 1 ms mark on 2 Ps
        base = c * 10_000_000
        e += [ev(fmt.ALLOC, c * 1000 + i, 1024, base + i * 1000) for i in range(500)]
        e += [ev(fmt.GC_START, c + 1, ts=base + 600_000),
              ev(fmt.GC_MARK_TERM, c + 1, ts=base + 1_600_000)]
    mc = {"cycles": 3, "wall_ns": 10_000_000, "background_ns": 3_000_000,
          "idle_ns": 6_000_000, "assist_ns": 2_000_000}
    cfg = Config(gc_mode="recorded")
    plain = replay(write_trace(tmp_path / "a.msgpack", e, Header(gomaxprocs=2)), cfg)
    shared = replay(write_trace(tmp_path / "b.msgpack", e,
                                Header(gomaxprocs=2, source={"mark_cpu": mc})), cfg)
    assert [c.end_event for c in plain.cycles] == [c.end_event for c in shared.cycles]
    for a, b in zip(plain.cycles, shared.cycles, strict=True):
        assert a.assist_cpu_ns == 0 and a.mark_cpu_ns == 500_000  # 25% of 2 Ps over 1 ms
        assert (b.mark_cpu_ns, b.assist_cpu_ns) == (300_000, 200_000)  # 2 ms x 15%, x 10%
    g, h = plain.gc_cpu, shared.gc_cpu
    assert (g["mark_dedicated_ns"], g["mark_assist_ns"]) == (1_500_000, 0)
    assert (h["mark_dedicated_ns"], h["mark_assist_ns"]) == (900_000, 600_000)
    assert h["gc_total_ns"] - h["pause_ns"] == 1_500_000
    assert plain.mark_cpu is None and shared.mark_cpu["background_share"] == 0.15  # reported


def test_mutator_clock_arithmetic():
    """mark.mutator_clock, worked by hand: the recording's marks took r = 25% of the Ps from
    its mutators, the model's workers take b = 20% (stretch b / (1 - b) = 25%)."""
    from goalloc.engine import mark
    from goalloc.engine import state as S

    sc = np.zeros(S.N_SC, np.int64)
    takes, stretch = mark.RecordedMarkCpu(0.05, 0.1, 0.2).mutator_clock_ppm()
    assert (takes, stretch) == (250_000, 250_000)

    def at(ts):
        return mark.mutator_clock(sc, takes, stretch, ts)

    assert at(1000) == 1000  # nobody marks: the trace's clock
    sc[S.S_REC_MARKING] = 1  # the recording's gc_start at 1000
    assert at(3000) == 2500  # 2000 ns of its mark are 1500 of mutator time
    sc[S.S_PHASE] = 1  # the model's mark starts at 3000
    sc[S.S_MARK_END_TS] = 10**12  # (its end not reached in what follows)
    # 2000 ns more of the recorded mark: 1500 of mutator time, 1875 on the model's clock
    assert at(5000) == 4375
    sc[S.S_REC_MARKING] = 0  # the recording's mark ends at 5000
    assert at(6000) == 5625  # 1000 ns of mutator time, 1250 on the model's clock
    assert at(5500) == 5125  # an event behind the trace's clock moves no total
    sc[S.S_STALL] = 100  # a parked assist: later by that, and not stretched
    assert at(6000) == 5725
    sc[S.S_PHASE] = 0
    assert at(7000) == 6725  # the model's mark over: the clock runs at the trace's pace
    # stretch of 2500 ns of mutator time, less 1000 taken
    assert mark.clock_skew(sc, takes, stretch) == 625 - 1000
    # a mark from 7000 (6725 on the model's clock) whose workers end it at 7225, and nothing
    # in the trace until 8000: 500 ns of marking are 400 of mutator time, the 600 after the
    # end run at the trace's pace (stretched to the next event: 7975)
    sc[S.S_PHASE] = 1
    sc[S.S_MARK_END_TS] = 7225
    assert at(8000) == 7225 + 600
    assert mark.clock_skew(sc, takes, stretch) == 725 - 1000


def _steady_allocs(n, every_ns=1000):
    """1 KiB pointerful objects, one every `every_ns` of trace time, none freed."""
    return [ev(fmt.ALLOC, i, 1024, i * every_ns) for i in range(n)]


def test_mutators_slower_while_the_model_marks(tmp_path):
    """Pacer mode with a recording's mark CPU (workers 20% of the Ps): the mutators allocate
    at 80% of the trace's rate while the model marks, so heapLive grows 0.8x as fast per ns
    of the model's mark (here 1 KiB per us of trace time, no recorded marks); each cycle's
    start less its stall and skew is its start event's trace time."""
    e = _steady_allocs(24_000)
    mc = {"cycles": 1, "wall_ns": 1_000_000, "background_ns": 400_000, "idle_ns": 0,
          "assist_ns": 0}
    path = write_trace(tmp_path / "t.msgpack", e,
                       Header(gomaxprocs=2, source={"mark_cpu": mc}))
    grew = {}
    for on in (False, True):
        # GOGC=400: a 16 MiB first goal, whose runway the ~3 ms mark does not use up
        r = replay(path, Config(gc_mode="pacer", gogc=400, scan_rate=1e10, mutator_clock=on))
        c = r.cycles[0]
        assert c.end_event is not None and not c.mark_ended_by_goal
        grew[on] = (c.heap_at_end - c.heap_at_trigger) / (c.end_ts - c.start_ts)
        for c in r.cycles:
            assert c.start_ts - c.stall_at_start_ns - c.skew_at_start_ns == \
                e[c.start_event]["ts"]
        if not on:
            assert all(c.skew_at_start_ns == 0 for c in r.cycles)
    # the trace's rate: a 1 KiB pointerful object takes a 1152 B slot (malloc header), 7 to
    # an 8 KiB span, and heapLive grows by whole spans as the mcache takes them
    assert abs(grew[False] / (8192 / 7 / 1000) - 1) < 0.01
    assert abs(grew[True] / grew[False] - 0.8) < 0.01


def test_a_mark_the_trace_is_idle_through_ends_when_its_work_is_done(tmp_path):
    """Pacer mode: a mark's workers finish its work at the time its rate gives, whether or not
    the trace has an event then (gcMarkDone runs on the worker that drained the work). Here
    the trace goes idle for 50 ms just after the first cycle begins: that mark ends where it
    ends without the gap (within the 1 us between events there), its workers' CPU is the
    same, and the model's clock after the gap is the trace's plus what the mark itself
    stretched (not a third of the idle time: the workers' share is 25% of the Ps here)."""
    mc = {"cycles": 1, "wall_ns": 1_000_000, "background_ns": 500_000, "idle_ns": 0,
          "assist_ns": 0}
    e = _steady_allocs(24_000)
    cfg = Config(gc_mode="pacer", scan_rate=1e10)
    plain = replay(write_trace(tmp_path / "a.msgpack", e,
                               Header(gomaxprocs=2, source={"mark_cpu": mc})), cfg)
    start = plain.cycles[0].start_event
    gap = 50_000_000
    idle = [dict(x, ts=x["ts"] + gap) if k > start + 1 else x for k, x in enumerate(e)]
    gapped = replay(write_trace(tmp_path / "b.msgpack", idle,
                                Header(gomaxprocs=2, source={"mark_cpu": mc})), cfg)
    a, b = plain.cycles[0], gapped.cycles[0]
    assert b.start_event == start and b.start_ts == a.start_ts
    assert a.end_ts - a.start_ts > 100_000  # a mark of a few hundred us ...
    assert abs(b.end_ts - a.end_ts) <= 1_000  # ... that ends where it did
    assert b.end_event == start + 2  # (the event after the gap brings the news)
    assert abs(b.mark_cpu_ns - a.mark_cpu_ns) <= 0.01 * a.mark_cpu_ns
    # the next cycle starts 50 ms later, on the trace's clock plus the first mark's stretch
    c = gapped.cycles[1]
    assert c.start_ts - c.stall_at_start_ns - c.skew_at_start_ns == idle[c.start_event]["ts"]
    assert 0 < c.skew_at_start_ns <= (a.end_ts - a.start_ts) // 3 + 1_000


def test_recorded_marks_count_less_mutator_time(tmp_path):
    """The time inside a recorded mark counts (1 - r) as mutator time, r the share of the Ps
    its marks took (workers 30% + assists 20% here): a model cycle after the recorded 2 ms
    mark starts 1 ms earlier on the model's clock than in the trace; recorded GC mode keeps
    the trace's clock."""
    e = _steady_allocs(12_000)
    e += [ev(fmt.GC_START, 1, ts=500_000), ev(fmt.GC_MARK_TERM, 1, ts=2_500_000)]
    e.sort(key=lambda x: x["ts"])
    mc = {"cycles": 1, "wall_ns": 1_000_000, "background_ns": 600_000, "idle_ns": 0,
          "assist_ns": 400_000}
    path = write_trace(tmp_path / "t.msgpack", e, Header(gomaxprocs=2, source={"mark_cpu": mc}))
    r = replay(path, Config(gc_mode="pacer", scan_rate=2e9))
    first = r.cycles[0]
    assert e[first.start_event]["ts"] > 2_500_000  # after the recorded mark
    assert first.skew_at_start_ns == -1_000_000
    assert first.start_ts == e[first.start_event]["ts"] - 1_000_000
    rec = replay(path, Config(gc_mode="recorded"))
    assert [c.skew_at_start_ns for c in rec.cycles] == [0]


def test_recorded_sweep_from_the_header_or_none():
    """The replay takes a Go recording's mutators' sweep from its header as it is, with its
    share of GOMAXPROCS x the trace (20 ms of 2 x 100 ms: 10%), and nothing from a header
    whose figures no trace can have (a missing key, a bool, a negative count, more sweeping
    than the Ps had time for, no span)."""
    from goalloc.engine import sweep

    good = {"ranges": 5, "ns": 20_000_000, "swept_bytes": 1 << 20, "reclaimed_bytes": 8192,
            "unopened": 0, "span_ns": 100_000_000}
    got = sweep.recorded({"sweep": good}, 2)
    assert got == {**good, "share": 0.1}
    for bad in ({k: v for k, v in good.items() if k != "ns"}, {**good, "ranges": True},
                {**good, "unopened": -1}, {**good, "ns": 200_000_001}, {**good, "span_ns": 0}):
        assert sweep.recorded({"sweep": bad}, 2) is None
    assert sweep.recorded({}, 2) is None and sweep.recorded(None, 2) is None
    assert sweep.recorded({"sweep": good}, 0) is None
