"""Mark assists, the GC CPU limiter and the memory limit's non-heap memory (#15), on hand-made
traces. Expectations come from the runtime's rules (mgcmark.go gcAssistAlloc, mgcpacer.go
revise, mgclimit.go, mgcpacer.go memoryLimitHeapGoal), worked out in the comments, or are
invariants those rules imply.
"""

from __future__ import annotations

import pytest
from conftest import write_trace

from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.trace import Header
from goalloc.trace import format as fmt

MiB = 1 << 20


def ev(kind, oid=0, size=0, ts=0, flags=0):
    return dict(kind=kind, ts=ts, p=0, id=oid, size=size, flags=flags)


@pytest.fixture(scope="module")
def steady(tmp_path_factory):
    """2 s of 4 KiB pointerful objects every 2 us (2 GB/s), the last 4,096 live (16 MiB)."""
    out = []
    live = 4096
    for i in range(1_000_000):
        out.append(ev(fmt.ALLOC, i, 4096, i * 2000))
        if i >= live:
            out.append(ev(fmt.FREE, i - live, 0, i * 2000 + 1))
    return write_trace(tmp_path_factory.mktemp("lim") / "steady.msgpack", out,
                       Header(gomaxprocs=2))


def test_parked_assists_leave_the_work_to_the_workers(steady):
    """A slow marker (workers alone would take 16 MiB / (0.5 CPU x 50 MB/s), far longer than
    the heap takes to reach its goal): the assists' debt outruns the workers' credit, they find
    no work and park (gcParkAssist), so they scan nothing; the trace waits while every P marks
    (the workers' 25% of GOMAXPROCS all along, idle mark workers on the other 75% while the
    mutators are parked), so a mark's scan work is the workers' CPU plus 1.5 CPUs x its parked
    time, at the scan rate. The replay spans the trace's own time plus the parked time, and the
    heap grows only as the workers' credit lets it."""
    rate = 50e6  # B/s per CPU
    r = replay(steady, Config(scan_rate=rate))
    g = r.gc_cpu
    assert g["mark_assist_ns"] == 0
    assert g["mutator_parked_ns"] > 0
    last_ts = (1_000_000 - 1) * 2000 + 1  # the trace's last event (a free)
    assert g["span_ns"][1] - g["span_ns"][0] == last_ts + g["mutator_parked_ns"]
    done = [c for c in r.cycles if c.end_event is not None]
    assert any(c.mark_ended_by_goal for c in done), "a slow marker must leave the mutators parked"
    for c, nxt in zip(done, r.cycles[1:], strict=False):
        assert c.assist_cpu_ns == 0
        parked = nxt.stall_at_start_ns - c.stall_at_start_ns  # parks happen only while marking
        work = (c.mark_cpu_ns + 0.75 * 2 * parked) * rate / 1e9
        assert work == pytest.approx(c.scan_work, rel=1e-6, abs=64)
        # revise's stretched goal is at most 2 x the goal at GOGC=100, x 1.1 past it: the
        # parked mutators cannot allocate beyond that
        assert c.heap_at_end <= 2.2 * c.goal
    # a fast marker finishes before the heap reaches the goal: no assist, nothing parked
    fast = replay(steady, Config(scan_rate=1e13))
    assert fast.gc_cpu["mark_assist_ns"] == 0 and fast.gc_cpu["mutator_parked_ns"] == 0


def test_limit_below_live_heap_is_held_near_half_the_cpu(steady):
    """GOMEMLIMIT 8 MiB under a 16 MiB live heap: the goal is the live heap and each mark
    starts at once. Its assists park, so the Ps wait idle while the workers mark: GC time is
    then all of the limiter's non-idle time (updateLocked leaves idle time out), the bucket
    (GOMAXPROCS CPU-seconds, filled by GC time, drained by mutator time) fills and the
    limiter turns assists off; GC CPU over GOMAXPROCS x the run, idle time included, is the
    workers' 25% of a run that is marking all the time, not the death spiral's."""
    rate = 200e6
    r = replay(steady, Config(scan_rate=rate, memlimit=8 * MiB))
    g = r.gc_cpu
    assert g["limiter"]["cycles_limited"] > 0
    assert g["limiter"]["last_enabled_cycle"] > 0
    # GC time over the trace: mutator time is (total - gc); the bucket ends at most full, so
    # gc - mutator <= capacity (2 CPU-s) + the overflow the limiter dropped
    total, gc = g["total_cpu_ns"], g["gc_total_ns"] - g["pause_ns"]
    assert gc - (total - gc) <= 2e9 + g["limiter"]["overflow_ns"] + 1e7
    assert g["fraction"] == pytest.approx(0.25, abs=0.02)
    # without a limit the same trace spends less on GC
    free = replay(steady, Config(scan_rate=rate))
    assert free.gc_cpu["fraction"] < g["fraction"]


def test_stacks_in_the_trace_lower_the_limit_goal(tmp_path):
    """memoryLimitHeapGoal subtracts non-heap memory, and goroutine stacks are part of it:
    8 MiB of stacks (trace stack_alloc events) lower the goal of a limit-bound cycle by about
    8 MiB less the fixed stack amount assumed without stack events: between 0.95 and 1 times
    the difference (the 3% headroom moves with the goal, and the first limit-bound cycle comes
    earlier with the stacks, when fewer spans have taken span-set blocks and gcBits)."""
    def trace(stacks):
        e = [ev(fmt.STACK_ALLOC, k, 1 << 20, k) for k in range(stacks)]
        e += [ev(fmt.ALLOC, i, 8192, 100 + i * 1000) for i in range(6000)]
        return write_trace(tmp_path / f"s{stacks}.msgpack", e, Header(gomaxprocs=1))

    limit = 40 * MiB
    base = replay(trace(0), Config(memlimit=limit, gogc=None))
    stk = replay(trace(8), Config(memlimit=limit, gogc=None))
    gb = [c.goal for c in base.cycles if c.limit_bound]
    gs = [c.goal for c in stk.cycles if c.limit_bound]
    assert gb and gs
    diff = 8 * MiB - 280_000  # mstats.FIXED_STACKS, docs/model.md 2b
    assert 0.95 * diff <= gb[0] - gs[0] <= diff + 4096


def test_goal_at_end_is_heap_goal_at_end_cycle(tmp_path):
    """Cycle.goal_at_end is heapGoal() at endCycle, what gctrace prints (lastHeapGoal). Under
    a binding GOMEMLIMIT (GOGC=off) a 64-page stack span allocated during the mark is 512 KiB
    more non-heap memory when the mark ends: memoryLimitHeapGoal's goal before headroom,
    limit - nonHeap, drops by 512 KiB and the 3% headroom is taken from the lower figure.
    Without a limit the goal at the end is the cycle's GOGC goal, whatever the heap."""
    def trace(extra):
        # a stack span from the start: the trace has manual spans, so they are its stack
        # memory throughout (not the stand-in for a trace without)
        e = [dict(kind=fmt.SPAN_ALLOC, id=6, size=4, aux=-1)]
        e += [dict(kind=fmt.ALLOC, id=i, size=8192, flags=fmt.FLAG_NOSCAN) for i in range(1000)]
        e += [dict(kind=fmt.GC_START, id=1), *extra, dict(kind=fmt.GC_MARK_TERM, id=1),
              dict(kind=fmt.GC_END, id=1)]
        e = [dict(x, ts=100 + k) for k, x in enumerate(e)]
        return write_trace(tmp_path / f"g{len(extra)}.msgpack", e, Header(gomaxprocs=1))

    stack_span = dict(kind=fmt.SPAN_ALLOC, id=7, size=64, aux=-1)
    limit = 40 * MiB
    cfg = Config(gc_mode="recorded", memlimit=limit, gogc=None, no_pagecache=True)
    c, = replay(trace([stack_span]), cfg).cycles
    assert c.limit_bound

    def after_headroom(x):  # memoryLimitHeapGoal's headroom (Go 1.22+: 3%, at least 1 MiB)
        return x - max(x // 100 * 3, MiB)

    # the goal before headroom at mark start, from the goal the replay used then
    before = next(x for x in range(limit - 8 * MiB, limit) if after_headroom(x) == c.goal)
    assert c.goal_at_end == after_headroom(before - 64 * 8192)
    c, = replay(trace([]), cfg).cycles  # nothing moves during the mark
    assert c.goal_at_end == c.goal
    # GOGC=100, no limit: the first cycle's gcPercentHeapGoal is heapMinimum (4 MiB), what
    # gctrace prints though the heap is past it (the cycle's `goal` is raised to heapLive +
    # 64 KiB at mark start)
    c, = replay(trace([stack_span]), Config(gc_mode="recorded", no_pagecache=True)).cycles
    assert not c.limit_bound and c.goal_at_end == 4 * MiB < c.goal


def test_no_goal_is_no_mean_goal(tmp_path):
    """GOGC=off without a limit: heapGoal() is maxUint64 (no goal), so a forced cycle has no
    goal at its end and the what-if mean goal is None, not 0 (it was printed as 0 B)."""
    from goalloc.engine import whatif

    e = [dict(kind=fmt.ALLOC, id=i, size=8192, flags=fmt.FLAG_NOSCAN) for i in range(100)]
    e += [dict(kind=fmt.GC_START, id=1, aux=fmt.GC_TRIGGER_FORCED),
          dict(kind=fmt.GC_MARK_TERM, id=1), dict(kind=fmt.GC_END, id=1)]
    e = [dict(x, ts=100 + 1000 * k) for k, x in enumerate(e)]
    r = replay(write_trace(tmp_path / "f.msgpack", e, Header(gomaxprocs=1)), Config(gogc=None))
    c, = r.cycles
    assert c.kind == "forced" and c.goal_at_end is None
    assert whatif.figures(r)["mean_goal"] is None


def test_limit_goal_leaves_out_what_the_mcaches_have_not_counted(tmp_path):
    """memoryLimitHeapGoal's heapAlloc is totalAlloc - totalFree, and a small object enters
    totalAlloc when its span leaves the mcache (refill, releaseAll): 100 objects of 32 B in
    the P's current span are 3,200 B of non-heap memory to the goal until a ReadMemStats stop
    flushes the mcache. The flush hands the span to mcentral's partial set, whose first push
    allocates the set's spine (256 pointers, 2,048 B) and a block (4,120 B), off-heap
    metadata (mspanset.go): the goal before headroom moves by exactly the difference."""
    def trace(flush):
        e = [dict(kind=fmt.ALLOC, id=i, size=32, flags=fmt.FLAG_NOSCAN) for i in range(100)]
        if flush:
            e += [dict(kind=fmt.STW_BEGIN, aux=fmt.STW_REASONS.index("read mem stats")),
                  dict(kind=fmt.STW_END)]
        e += [dict(kind=fmt.GC_START, id=1)]
        e = [dict(x, ts=100 + k, p=0) for k, x in enumerate(e)]
        return write_trace(tmp_path / f"f{flush}.msgpack", e, Header(gomaxprocs=1))

    limit = 40 * MiB
    cfg = Config(gc_mode="recorded", memlimit=limit, gogc=None, no_pagecache=True)
    cached, = replay(trace(False), cfg).cycles
    flushed, = replay(trace(True), cfg).cycles
    assert cached.limit_bound and flushed.limit_bound

    def before_headroom(goal):  # memoryLimitHeapGoal's 3% headroom (at least 1 MiB) undone
        return next(x for x in range(limit - 8 * MiB, limit) if x - max(x // 100 * 3, MiB) == goal)

    assert before_headroom(flushed.goal) - before_headroom(cached.goal) == 100 * 32 - 2048 - 4120


def test_death_range_in_text_and_json(cli):
    """Pacer mode on a Go trace: the text report quotes each figure's range as the JSON's
    death_range holds it, the central value being the replay's own answer; --no-death-range
    leaves it out of both; recorded mode has none (the recording decides what is marked)."""
    import json
    from pathlib import Path

    trace = Path(__file__).resolve().parents[1] / "traces" / "go126-parser.msgpack"
    code, out, err = cli("replay", trace, "--json")
    assert code == 0, err
    doc = json.loads(out)
    dr = doc["death_range"]
    done = sum(1 for c in doc["cycles"] if c["end_event"] is not None)
    assert dr["cycles"]["central"] == done
    assert dr["cycles"]["low"] <= done <= dr["cycles"]["high"]
    code, text, err = cli("replay", trace)
    assert code == 0, err
    c = dr["cycles"]
    assert f"GC cycles: {c['central']} ({c['low']} - {c['high']})" in text
    code, out, _ = cli("replay", trace, "--json", "--no-death-range")
    assert json.loads(out)["death_range"] is None
    code, out, _ = cli("replay", trace, "--json", "--gc", "recorded")
    assert json.loads(out)["death_range"] is None


@pytest.fixture(scope="module")
def growing(tmp_path_factory):
    """A heap that only grows: 1 s of 4 KiB pointerful objects every 2 us, none freed."""
    out = [ev(fmt.ALLOC, i, 4096, i * 2000) for i in range(500_000)]
    return write_trace(tmp_path_factory.mktemp("grow") / "grow.msgpack", out,
                       Header(gomaxprocs=2))


def test_a_growing_heap_stretches_the_goal(growing):
    """revise paces for the last cycle's scan work; once more is done it extrapolates the
    goal: T + (G - T) x maxScanWork / lastScanWork, at most 2 x G at GOGC=100. With nothing
    freed, each mark, finished by assists (a slow marker), ends at least near that stretched
    goal: far past G x 1.1, where pacing for this cycle's own work would have ended it. It may
    end further on: maxScanWork leaves out what the last mark allocated black, so near a
    mark's end the work done passes it, the ratio drops to its floor, and an assist's
    gcOverAssistWork buys bytes at that ratio (test_over_assist_* below)."""
    r = replay(growing, Config(scan_rate=1e9))
    done = [c for c in r.cycles if c.end_event is not None]
    assert len(done) >= 4
    stretched = 0
    for prev, c in zip(done, done[1:], strict=False):
        t, g = c.heap_at_trigger, c.goal
        bound = min(t + (g - t) * c.scan_work / prev.scan_work, 2 * g)
        if c.mark_ended_by_goal and c.heap_at_end > 1.1 * g:
            stretched += 1
            assert c.heap_at_end >= 0.9 * bound
    assert stretched >= 2


def _marking(growing, ratio, bg_credit):
    """An engine after the growing trace, put in the middle of a mark by hand: ratio (work
    per byte), the workers' credit, no assist credit, 8 KiB of heapLive growth not yet
    charged, the workers' clock at now (no background work to add)."""
    from goalloc.engine import state as S

    out = []
    replay(growing, Config(scan_rate=1e9, gogc=None), engine_out=out)
    a = out[0].arrays
    sc, fs = a.sc, a.fs
    sc[S.S_PHASE] = 1
    sc[S.S_SCAN_WORK] = 1 << 40  # far from done
    fs[S.F_MARK_DONE] = 0.0
    sc[S.S_MARK_T] = sc[S.S_NOW]
    sc[S.S_LIM_LAST] = sc[S.S_NOW]
    sc[S.S_CYCLE_GOAL] = sc[S.S_HEAP_LIVE] + (1 << 30)
    sc[S.S_ASSIST_LIVE] = sc[S.S_HEAP_LIVE] - 8192
    fs[S.F_ASSIST_RATIO] = ratio
    fs[S.F_ASSIST_CREDIT] = bg_credit
    fs[S.F_ASSIST_BYTES] = 0.0
    return a


def test_over_assist_buys_bytes_at_the_ratio_of_its_moment(growing):
    """gcAssistAlloc: 8 KiB of debt at 0.001 work/byte is 8 units of work, under
    gcOverAssistWork, so the assist does 64 KiB of work (stolen from the workers' credit) and
    is credited 64 KiB / 0.001 bytes: 65.5 MB of allocation before the next assist."""
    from goalloc.engine import mark
    from goalloc.engine import state as S

    a = _marking(growing, 0.001, 1e6)
    mark.assist(a.state)
    assert a.fs[S.F_ASSIST_CREDIT] == pytest.approx(1e6 - 65536)
    assert a.fs[S.F_ASSIST_BYTES] == pytest.approx(65536 / 0.001 - 8192)
    assert a.sc[S.S_STALL] == 0  # nothing waited for


def test_over_assist_without_credit_waits_for_its_debt_only(growing):
    """The same debt at 2 work/byte with no workers' credit: the assist parks for its debt's
    work (8 KiB x 2 = 16 KiB), not the over-assist's 64 KiB (gcParkAssist waits for
    gcAssistBytes to reach 0): 16384 / (the model's scan rate x 2 Ps), rounded up to whole ns."""
    from goalloc.engine import mark
    from goalloc.engine import state as S

    a = _marking(growing, 2.0, 0.0)
    stall = int(a.sc[S.S_STALL])
    mark.assist(a.state)
    # the model's scan rate: 2^20 B per P_MARK_NS_PER_MB ns (rounded from 1e9 B/s)
    per_ns = (1 << 20) / a.prm[S.P_MARK_NS_PER_MB]
    assert int(a.sc[S.S_STALL]) - stall == -(-16384 // (per_ns * 2))
    assert a.fs[S.F_ASSIST_BYTES] == 0.0
    assert a.fs[S.F_ASSIST_CREDIT] == pytest.approx(0.0, abs=per_ns * 2)


def test_parked_ps_mark_at_the_recordings_work_per_cpu(growing):
    """The measured rate is the recorded marks' work over the workers' 25% of the Ps alone,
    so it holds what the recording's assists and idle workers scanned. While an assist parks,
    the workers go on at it and the other Ps mark beside them, each at the recording's work
    per CPU of all its marking (25% over the recording's total mark share,
    RecordedMarkCpu.park_rate_ppm), every P at most. With that at one half (a recording that
    marked with half its Ps), the workers' 25% at the measured rate is that half of the 2 Ps
    at the per-CPU rate, 0.5 per_ns, and the other half marks beside them, 0.5 per_ns: the
    16 KiB debt of the test above is paid at 1.0 per_ns, not 2 per_ns (every P at the
    measured rate) nor 1.25 (every other P beside the workers' share, which already holds
    the assists' CPU)."""
    from goalloc.engine import mark
    from goalloc.engine import state as S

    a = _marking(growing, 2.0, 0.0)
    a.prm[S.P_PARK_RATE_PPM] = 500_000
    stall = int(a.sc[S.S_STALL])
    mark.assist(a.state)
    per_ns = (1 << 20) / a.prm[S.P_MARK_NS_PER_MB]
    wait = -(-16384 // (per_ns * 1.0))
    assert int(a.sc[S.S_STALL]) - stall == wait
    assert a.fs[S.F_MARK_DONE] == pytest.approx(wait * (0.25 * 2 + 0.5) * per_ns)
    assert a.fs[S.F_ASSIST_BYTES] == 0.0


def test_park_rate_from_the_recordings_mark_cpu():
    """25% over the recording's workers' + assists' + idle workers' share of the Ps while
    marking (a Go 1.23 builder: 6.7 + 30.5 + 1.0 = 38.2% -> 0.654450), at most 4x (a
    recording whose marks took almost no CPU), none without marking CPU."""
    from goalloc.engine.mark import RecordedMarkCpu

    assert RecordedMarkCpu(0.305, 0.010, 0.067).park_rate_ppm() == 654_450
    assert RecordedMarkCpu(0.0, 0.0, 0.25).park_rate_ppm() == 1_000_000
    assert RecordedMarkCpu(0.0, 0.01, 0.01).park_rate_ppm() == 4_000_000
    assert RecordedMarkCpu(0.0, 0.0, 0.0).park_rate_ppm() == 0


def test_park_rate_set_from_the_header(tmp_path):
    """A recording whose 10 marks of 1 ms on 2 Ps took 1.2 ms of workers', 6 ms of assists'
    and 0.8 ms of idle workers' CPU (6 / 30 / 4% of the Ps: 40%): its parked Ps mark at
    0.25 / 0.40 of the measured rate."""
    from goalloc.engine import state as S

    mc = {"cycles": 10, "wall_ns": 10_000_000, "background_ns": 1_200_000,
          "assist_ns": 6_000_000, "idle_ns": 800_000}
    path = write_trace(tmp_path / "t.msgpack", [ev(fmt.ALLOC, i, 64, i) for i in range(100)],
                       Header(gomaxprocs=2, source={"mark_cpu": mc}))
    out = []
    replay(path, Config(gc_mode="pacer"), engine_out=out)
    assert out[0].arrays.prm[S.P_PARK_RATE_PPM] == 625_000
