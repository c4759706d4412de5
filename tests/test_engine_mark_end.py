"""Where a pacer-mode mark ends without a dedicated mark worker (engine/mark.py): the Go
runtime's startCycle gives GOMAXPROCS 1-3 only fractional workers, which run when their P goes
through the scheduler. Once a mark's work passes maxScanWork (Green Tea's packed span scan) the
assists stop, so a mark whose work the workers finish ends at a P's next scheduler pass: the
recording's mean wait for one (header source.scheduling, trace/importers/gomark.py).
Expectations from the runtime's rule worked by hand, and invariants of replays of shipped 2-P
recordings given that figure; tests/test_whatif.py checks the marks that wait."""

import dataclasses
import json

import pytest

from goalloc.engine import mark
from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.errors import GoallocError
from goalloc.trace import Header, Writer
from goalloc.trace import format as fmt
from goalloc.trace import open as open_trace

WAIT_NS = 3_000_000  # the wait for the first of 2 busy Ps whose runs leave 6 ms each
SCHED = {"runs": 1000, "running_ns": 10**9, "residual_ns": 2 * WAIT_NS, "busy_share": 1.0}


@pytest.mark.parametrize("procs,dedicated", [(1, 0), (2, 0), (3, 0), (4, 1), (5, 1), (6, 1),
                                             (7, 2), (8, 2), (12, 3), (16, 4)])
def test_dedicated_workers_as_start_cycle_counts(procs, dedicated):
    # 25% of procs rounded (+0.5); more than 30% off and rounded up: one fewer. 6: 1.5 -> 2,
    # 2 / 1.5 - 1 = 0.33 -> 1; 7: 1.75 -> 2, 0.14 off: kept; 3: 0.75 -> 1, 0.33 -> 0.
    assert mark.dedicated_workers(procs) == dedicated


def test_the_wait_only_without_a_dedicated_worker_and_only_when_known():
    # the first of n Ps to pass through the scheduler: busy ones after the residual (here 6
    # ms) each, memoryless: 6 / n; an idle one at once: with each P busy with probability b,
    # all n are busy with b^n, so b^n x 6 / n; or, where the recording has marks, the share of
    # them during which no idle worker ran
    src = {"scheduling": {"runs": 10, "running_ns": 10**7, "residual_ns": 6_000_000}}
    assert mark.sched_wait_ns(src, 1) == 6_000_000
    assert mark.sched_wait_ns(src, 2) == 3_000_000
    assert mark.sched_wait_ns(src, 3) == 2_000_000
    # a dedicated worker sees the end itself
    assert mark.mark_end_wait_ns(Config(), src, 4) == 0
    assert mark.mark_end_wait_ns(Config(), src, 3) == 2_000_000
    src["scheduling"]["busy_share"] = 0.5
    assert mark.sched_wait_ns(src, 2) == 750_000  # 0.25 x 3 ms
    # the recorded marks say it better: an idle worker ran in 4 of 10, so in 6 every P was
    # busy: 0.6 x 3 ms
    src["scheduling"].update(marks=10, marks_with_idle=4)
    assert mark.sched_wait_ns(src, 2) == 1_800_000
    for bad in ((0, 0), (10, 11), (10, -1), (True, 1), (10, "4")):  # then the busy share
        src["scheduling"].update(marks=bad[0], marks_with_idle=bad[1])
        assert mark.sched_wait_ns(src, 2) == 750_000
    del src["scheduling"]["marks"], src["scheduling"]["marks_with_idle"]
    assert mark.sched_wait_ns(None, 2) == mark.sched_wait_ns({}, 2) == 0
    for bad in ("3", True, -5, 0, 2**50, None):
        assert mark.sched_wait_ns({"scheduling": {"residual_ns": bad}}, 2) == 0
    for bad in ("1", True, -0.1, 1.5):  # an unusable share: taken as all busy
        src["scheduling"]["busy_share"] = bad
        assert mark.sched_wait_ns(src, 2) == 3_000_000


def _with_sched(src_path, dst):
    with open_trace(src_path) as rd:
        src = {**(rd.header.source or {}), "scheduling": SCHED}
        with Writer(dst, dataclasses.replace(rd.header, source=src), force=True) as w:
            for c in rd:
                w.write(**c.columns())
    return dst


@pytest.fixture(scope="module")
def waited(tmp_path_factory):
    """The shipped 2-P parser recordings (Go 1.23; Go 1.26, Green Tea) with the header saying
    their goroutines' runs leave 6 ms each: 3 ms for the first of the two Ps."""
    d = tmp_path_factory.mktemp("markend")
    return {name: _with_sched(f"traces/{name}.msgpack", d / f"{name}.msgpack")
            for name in ("go-parser", "go126-parser")}


def test_no_wait_where_the_assists_go_on_or_a_dedicated_worker_runs(waited):
    """Go 1.23 (no packed span scan: heapScan counts every pointerful byte allocated since the
    last mark, the dead ones too, so the work, the live ones, stays under it where any died),
    Go 1.26 with the packed scan whose marks' work stays under maxScanWork (this
    parser's: 0.6-1.1 MiB), 4 Ps (a dedicated worker) or recorded mode: replays as without
    the figure. (tests/test_whatif.py checks marks that do pass it, on the builder.)"""
    packed = Config(gc_mode="pacer", packed_span_scan=True)
    for name, cfgs in (("go-parser", (Config(gc_mode="pacer"),)),
                       ("go126-parser", (packed, Config(gc_mode="pacer", procs=4),
                                         Config(gc_mode="recorded")))):
        for cfg in cfgs:
            # the calibrated rate leaves the 2-P wait out of the recorded marks that passed
            # maxScanWork (test_the_rate_calibrated_without_the_wait...): give both one rate
            rate = replay(waited[name], cfg).scan_rate["bytes_per_s"]
            a = replay(f"traces/{name}.msgpack", dataclasses.replace(cfg, scan_rate=rate))
            b = replay(waited[name], dataclasses.replace(cfg, scan_rate=rate))
            assert [dataclasses.asdict(c) for c in a.cycles] == \
                [dataclasses.asdict(c) for c in b.cycles], (name, cfg)
            assert all(c.mark_end_wait_ns == 0 for c in b.cycles)


def _hand_trace(path, source):
    """Two recorded 10 ms marks on 2 Ps over 1000 pointerful 64 B objects (64,000 B of scan
    work at each mark start, no stacks or globals). Nothing died before the first, so its work
    reaches all there is to scan (maxScanWork: heapScan, 64,000 B) and its assists would have
    stopped. Between the two, 2000 more such objects are allocated and die (the second mark's
    sweep frees them): heapScan, which counts what was allocated since the last mark and not
    what died, is 192,000 B at the second mark, past its 64,000 B of work, and its assists go
    on to the end (one that runs out of work sees it)."""
    ms = 1_000_000
    cols = {c: [] for c in ("kind", "ts", "id", "size", "aux", "flags", "p")}

    def ev(kind, ts, i, size=0):
        for c, v in zip(cols, (kind, ts, i, size, 0, 0, 0), strict=True):
            cols[c].append(v)
    for i in range(1000):
        ev(fmt.ALLOC, i, i, 64)
    ev(fmt.GC_START, 1 * ms, 1)
    ev(fmt.GC_MARK_TERM, 11 * ms, 1)
    for i in range(2000):
        ev(fmt.ALLOC, 12 * ms + i, 1000 + i, 64)
    ev(fmt.GC_START, 20 * ms, 2)
    ev(fmt.GC_MARK_TERM, 30 * ms, 2)
    for i in range(2000):
        ev(fmt.FREE, 31 * ms + i, 1000 + i)
    with Writer(path, Header(frees="sweep", sizes="requested", gomaxprocs=2, source=source),
                force=True) as w:
        w.write(**cols)
    return path


def test_the_rate_calibrated_without_the_wait_where_the_mark_waited(tmp_path):
    """A recorded mark whose work had passed maxScanWork by its end (assists stopped) waited
    for a scheduler pass, which the pacer replay adds to such marks itself: the calibrated rate
    counts that mark's duration less the wait, the other's whole (engine/replay.py
    _scan_rate_of). By hand (_hand_trace, a 3 ms wait): 128,000 B of work over (10 - 3 + 10)
    ms x 25% x 2 Ps = 1.50588e7 B/s; without the recording's scheduling figure 128,000 / (20
    ms x 0.5) = 1.28e7."""
    path = _hand_trace(tmp_path / "w.msgpack", {"scheduling": SCHED})
    rec = replay(path, Config(gc_mode="recorded"))
    assert [c.past_max_scan_work for c in rec.cycles] == [True, False]
    assert [c.scan_work for c in rec.cycles] == [64_000, 64_000]
    r = replay(path, Config(gc_mode="pacer"))
    assert r.scan_rate["mark_end_wait_ns"] == WAIT_NS
    assert r.scan_rate["bytes_per_s"] == 1.50588e7
    # each mark's own speed over the pooled rate (as rounded): 64,000 B over 5 ms (the whole
    # mark x 0.5) and over 3.5 ms (less the wait)
    assert r.scan_rate["mark_speeds"] == [float(f"{64_000 / t / 1.50588e7:.6g}")
                                          for t in (5e-3, 3.5e-3)]
    plain = _hand_trace(tmp_path / "p.msgpack", {})
    assert replay(plain, Config(gc_mode="pacer")).scan_rate["bytes_per_s"] == 1.28e7
    # a longer wait than half a mark counts half of it: 128,000 / ((5 + 10) ms x 0.5)
    r = replay(path, Config(gc_mode="pacer", mark_end_wait_ns=8_000_000))
    assert r.scan_rate["bytes_per_s"] == float(f"{128_000 / 7.5e-3:.6g}")


def test_the_wait_set_by_hand(waited, cli):
    """Config.mark_end_wait_ns (--mark-end-wait-ns) replaces the recording's figure: 0 and the
    marks end as their work does (the replay of the recording without the figure, given the
    same rate); a dedicated worker still waits for nothing; the JSON says where it came from."""
    cfg = Config(gc_mode="pacer", packed_span_scan=True)
    plain = replay("traces/go126-parser.msgpack", cfg)
    zero = replay(waited["go126-parser"], dataclasses.replace(cfg, mark_end_wait_ns=0))
    assert zero.scan_rate == {**plain.scan_rate, "mark_end_wait_source": "config"}
    assert [dataclasses.asdict(c) for c in zero.cycles] == \
        [dataclasses.asdict(c) for c in plain.cycles]
    assert plain.scan_rate["mark_end_wait_source"] == "none"
    assert replay(waited["go126-parser"], cfg).scan_rate["mark_end_wait_source"] == "trace"
    four = replay(waited["go126-parser"], dataclasses.replace(cfg, procs=4,
                                                              mark_end_wait_ns=5_000_000))
    assert four.scan_rate["mark_end_wait_ns"] == 0
    with pytest.raises(GoallocError, match="mark end's wait"):
        Config(mark_end_wait_ns=-1).check()
    code, out, _err = cli("replay", waited["go126-parser"], "--packed-span-scan",
                          "--mark-end-wait-ns", 1_500_000, "--no-death-range", "--json")
    assert code == 0
    assert json.loads(out)["scan_rate"]["mark_end_wait_ns"] == 1_500_000
    code, _out, err = cli("replay", waited["go126-parser"], "--mark-end-wait-ns", -1)
    assert code == 2 and "--mark-end-wait-ns" in err
