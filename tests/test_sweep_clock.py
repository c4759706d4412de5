"""The mutators' sweeping on the model's clock (engine/sweep.py mutator_stall, pacer mode) and
a mark's GC CPU by its scan work (engine/mark.py RecordedMarkCpu.cpu_of_work): every expected
value below is worked by hand from the figures the test sets."""

from __future__ import annotations

import pytest
from conftest import write_trace

from goalloc.engine import state as S
from goalloc.engine import sweep
from goalloc.engine.config import Config
from goalloc.engine.mark import RecordedMarkCpu
from goalloc.engine.replay import replay
from goalloc.trace import Header
from goalloc.trace import format as fmt

# a recording whose mutators swept 10,000 pages (81,920,000 B) in 10 ms of a 100 ms trace,
# with its mutators keeping 3 of its 4 Ps busy
SWEEP = {"ranges": 500, "ns": 10_000_000, "swept_bytes": 81_920_000, "reclaimed_bytes": 0,
         "unopened": 0, "span_ns": 100_000_000}


def test_mutator_cost_from_the_recordings_figures():
    """1000 ns per page (10 ms over 10,000 pages), 10% of one CPU's trace span, 3 busy Ps."""
    source = {"sweep": SWEEP, "scheduling": {"busy_share": 0.75}}
    rec = sweep.recorded(source, 4)
    assert sweep.mutator_cost(rec, source, 4) == (1_000_000, 100_000, 3_000_000)
    # no busy share said: every P; a single-P recording's goroutine holds up itself
    assert sweep.mutator_cost(rec, {"sweep": SWEEP}, 4)[2] == 4_000_000
    assert sweep.mutator_cost(rec, {"sweep": SWEEP, "scheduling": {"busy_share": 0.1}},
                              4)[2] == 1_000_000
    # nothing timed: no cost, the clock as before; a page no sweeper takes a millisecond over
    assert sweep.mutator_cost(None, {}, 4) is None
    assert sweep.mutator_cost({**SWEEP, "swept_bytes": 0}, {}, 4) is None
    assert sweep.mutator_cost({**SWEEP, "swept_bytes": 8}, {}, 4) is None


def _engine(tmp_path):
    """An engine after a small pacer replay, its stall bookkeeping zeroed by hand."""
    events = [{"kind": fmt.ALLOC, "ts": 1000 + i * 1000, "id": i, "size": 64}
              for i in range(100)]
    path = write_trace(tmp_path / "t.msgpack", events, Header(gomaxprocs=2))
    out = []
    replay(path, Config(gc_mode="pacer"), engine_out=out)
    a = out[0].arrays
    a.sc[S.S_TS0] = 1_000_000
    a.sc[S.S_STALL] = 0
    a.sc[S.S_SWEEP_STALL] = 0
    a.sc[S.S_SWEEP_TRACE_T] = 0
    a.sc[S.S_MUTATOR_SWEPT_PAGES] = 0
    a.prm[S.P_SWEEP_PS_PER_PAGE] = 1_000_000  # 1000 ns per page
    a.prm[S.P_REC_SWEEP_PPM] = 100_000  # the recording's mutators swept 10% of the time
    a.prm[S.P_BUSY_PS_PPM] = 2_000_000  # over 2 busy Ps
    return a


def test_the_stall_is_the_sweep_beyond_the_recordings(tmp_path):
    """100 pages swept by the model's mutators are 100,000 ns of sweeping; 200,000 ns into
    the trace the recording's mutators had swept 20,000 ns of it; the 80,000 ns beyond, over
    2 busy Ps, put the clock 40,000 ns later. Asked again at the same point: nothing more.
    20 pages more: 120,000 - 20,000 over 2 = 50,000, 10,000 more. Later in the trace, with no
    more pages, the recording's share catches up (1,200,000 ns in: 120,000 ns): the clock does
    not run back. Once the model's mutators sweep past that again, only what goes beyond the
    stall already taken is added."""
    a = _engine(tmp_path)
    sc = a.sc
    sc[S.S_MUTATOR_SWEPT_PAGES] = 100
    assert sweep.mutator_stall(a.state, 1_200_000) == 40_000
    assert sc[S.S_STALL] == 40_000 and sc[S.S_SWEEP_STALL] == 40_000
    assert sweep.mutator_stall(a.state, 1_200_000) == 0
    sc[S.S_MUTATOR_SWEPT_PAGES] = 120
    assert sweep.mutator_stall(a.state, 1_200_000) == 10_000
    assert sweep.mutator_stall(a.state, 2_200_000) == 0  # (120,000 - 120,000) / 2 = 0
    assert sc[S.S_STALL] == 50_000
    sc[S.S_MUTATOR_SWEPT_PAGES] = 250  # 250,000 - 120,000 = 130,000 / 2 = 65,000: 15,000 more
    assert sweep.mutator_stall(a.state, 2_000_000) == 15_000  # an earlier ts changes nothing
    assert sc[S.S_STALL] == 65_000
    # a long trace: 10^9 pages at 1 ms and a day of trace time stay in range (float64)
    sc[S.S_MUTATOR_SWEPT_PAGES] = 10**9
    a.prm[S.P_SWEEP_PS_PER_PAGE] = 10**9
    a.prm[S.P_REC_SWEEP_PPM] = 1_000_000  # a P sweeping all the time (ns x ppm: 8.6e19)
    day = 86_400 * 10**9 - 1_000_000  # trace time since TS0
    assert sweep.mutator_stall(a.state, 86_400 * 10**9) == (10**15 - day) // 2 - 65_000


def test_no_cost_no_stall(tmp_path):
    """Without the recording's figures (P_SWEEP_PS_PER_PAGE 0) sweeping takes no time."""
    a = _engine(tmp_path)
    a.prm[S.P_SWEEP_PS_PER_PAGE] = 0
    a.sc[S.S_MUTATOR_SWEPT_PAGES] = 1000
    assert sweep.mutator_stall(a.state, 5_000_000) == 0
    assert a.sc[S.S_STALL] == 0


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    """Rounds of 2,000 objects of 8 KiB (one per page, 16 MiB a round), each round freed
    once the next is allocated, 1 ms between objects: the trace's frees are sweeps, so the
    pacer replay places the deaths itself; a memory limit below the live rounds keeps its
    cycles back to back, and each begins by sweeping the last round's pages (gcStart), on
    the mutators' time. A recording said to have swept 1% of its time at 2,000 ns a page."""
    events, t = [], 0
    for r in range(8):
        for i in range(2000):
            t += 1000
            events.append({"kind": fmt.ALLOC, "ts": t, "id": r * 2000 + i, "size": 8192})
        if r:
            t += 1000
            events.append({"kind": fmt.GC_START, "ts": t, "id": r})
            t += 1000
            events.append({"kind": fmt.GC_END, "ts": t, "id": r})
            for i in range(2000):
                t += 10
                events.append({"kind": fmt.FREE, "ts": t, "id": (r - 1) * 2000 + i})
    span = t - 1000
    pages = span // 100 // 2000  # about 1% of the span at 2,000 ns a page
    source = {"sweep": {"ranges": 100, "ns": pages * 2000, "swept_bytes": pages * 8192,
                        "reclaimed_bytes": 0, "unopened": 0, "span_ns": span},
              "scheduling": {"busy_share": 0.5}}
    return write_trace(tmp_path_factory.mktemp("churn") / "churn.msgpack", events,
                       Header(gomaxprocs=2, frees="sweep", source=source))


def test_the_clock_holds_the_parks_and_the_sweep(churn):
    """Without the recording's mark CPU shares the model's clock is the trace's plus S_STALL:
    the replay's span is the trace's, plus the time parked in assists, plus the sweep stall;
    with sweep_clock off the stall is 0 and the span shorter by about as much."""
    on = replay(churn, Config(gc_mode="pacer", memlimit=8 << 20))
    off = replay(churn, Config(gc_mode="pacer", memlimit=8 << 20, sweep_clock=False))
    g = on.gc_cpu
    sweep_ = g["mutator_sweep"]
    assert sweep_["ns_per_page"] == 2000
    assert sweep_["stall_ns"] > 0 and sweep_["pages"] > 0
    trace_span = 8 * 2000 * 1000 + 7 * (2000 + 2000 * 10) - 1000
    assert g["span_ns"][1] - g["span_ns"][0] == trace_span + g["mutator_parked_ns"] \
        + sweep_["stall_ns"]
    assert off.gc_cpu["mutator_sweep"]["stall_ns"] == 0
    off_span = off.gc_cpu["span_ns"][1] - off.gc_cpu["span_ns"][0]
    assert off_span == trace_span + off.gc_cpu["mutator_parked_ns"]
    assert off_span < g["span_ns"][1] - g["span_ns"][0]
    assert off.gc_cpu["mutator_sweep"]["ns_per_page"] is None
    # what the mutators swept beyond the recording's ~1% of the time, over its 1 busy P (at
    # most all of it; at least all of it less the recording's whole sweep time)
    most = sweep_["pages"] * 2000
    assert most - (trace_span // 100 // 2000) * 2000 <= sweep_["stall_ns"] <= most


def test_recorded_mode_has_no_sweep_stall(churn):
    """The recording's GC timing and sweep are its own: its clock already holds them."""
    r = replay(churn, Config(gc_mode="recorded"))
    assert r.gc_cpu["mutator_sweep"]["stall_ns"] == 0


def test_a_marks_cpu_by_its_work():
    """Workers 10%, assists 20%, idle 10% of 2 Ps while the recording marked; the measured
    rate's one CPU takes 1,000,000 ns per MiB at the workers' 25%, so all its marking cost
    (10 + 20 + 10) / 25 x that, and the workers' and assists' part (10 + 20) / 25: 1.2 ms per
    MiB. A model mark of 1 MiB over 2 ms: 1,200,000 ns, of which the workers take 10% of 2 Ps
    over 2 ms (400,000 ns) and the assists the rest (800,000 ns). A mark of 64 KiB over the
    same 2 ms costs less than the workers' share: the workers' 400,000 ns, no assists."""
    m = RecordedMarkCpu(assist_share=0.2, idle_share=0.1, background_share=0.1)
    assert m.cpu_of_work(1 << 20, 2_000_000, 2, 1_000_000) == (400_000, 800_000)
    assert m.cpu_of_work(1 << 16, 2_000_000, 2, 1_000_000) == (400_000, 0)


def test_the_reported_mark_cpu_is_each_marks_work(churn, tmp_path):
    """The churn trace with a recording's mark CPU figures (workers 10%, assists 20%, idle
    10% of its 2 Ps while marking): in pacer mode each cycle's reported CPU is its scan
    work at (10 + 20) / 25 x the measured rate's cost, the workers' 10% of the mark's length
    at least, and gc_cpu's totals are the cycles' sums; recorded mode keeps the shares of
    each mark's length. Worked from the report's own cycles and scan rate, not its CPU."""
    from goalloc.trace import reader

    with reader.open(churn) as r:
        header = r.header
        chunks = list(r)
    source = {**header.source, "mark_cpu": {"cycles": 7, "wall_ns": 1_000_000,
                                            "background_ns": 200_000, "idle_ns": 200_000,
                                            "assist_ns": 400_000}}
    events = [{k: int(getattr(c, k)[i]) for k in ("kind", "ts", "p", "id", "size", "flags",
                                                   "aux")}
              for c in chunks for i in range(c.n)]
    path = write_trace(tmp_path / "marks.msgpack", events,
                       Header(gomaxprocs=2, frees="sweep", source=source))
    rep = replay(path, Config(gc_mode="pacer", memlimit=8 << 20))
    assert rep.gc_cpu["mark_cpu_by"] == "work"
    ns_per_mib = round((1 << 20) * 1e9 / rep.scan_rate["bytes_per_s"])
    done = [c for c in rep.cycles if c.end_ts is not None]
    assert done
    for c in done:
        workers = 0.1 * 2 * (c.end_ts - c.start_ts)
        counted = max(c.scan_work * ns_per_mib / (1 << 20) * 0.3 / 0.25, workers)
        assert c.mark_cpu_ns == pytest.approx(workers, abs=1)
        assert c.mark_cpu_ns + c.assist_cpu_ns == pytest.approx(counted, abs=2)
    assert any(c.assist_cpu_ns > 0 for c in done)  # marks whose work outweighs the workers'
    assert rep.gc_cpu["mark_dedicated_ns"] == sum(c.mark_cpu_ns for c in rep.cycles)
    assert rep.gc_cpu["mark_assist_ns"] == sum(c.assist_cpu_ns for c in rep.cycles)
    assert replay(path, Config(gc_mode="recorded")).gc_cpu["mark_cpu_by"] == "length"
    off = replay(path, Config(gc_mode="pacer", memlimit=8 << 20, mark_cpu_by_work=False))
    assert off.gc_cpu["mark_cpu_by"] == "length"
