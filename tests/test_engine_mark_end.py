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
from goalloc.trace import Writer
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
    """Go 1.23 (no packed span scan: heapScan takes in what a mark allocates, the work does not
    pass it), Go 1.26 with the packed scan whose marks' work stays under maxScanWork (this
    parser's: 0.6-1.1 MiB), 4 Ps (a dedicated worker) or recorded mode: replays as without
    the figure. (tests/test_whatif.py checks marks that do pass it, on the builder.)"""
    packed = Config(gc_mode="pacer", packed_span_scan=True)
    for name, cfgs in (("go-parser", (Config(gc_mode="pacer"),)),
                       ("go126-parser", (packed, Config(gc_mode="pacer", procs=4),
                                         Config(gc_mode="recorded")))):
        for cfg in cfgs:
            a = replay(f"traces/{name}.msgpack", cfg)
            b = replay(waited[name], cfg)
            if cfg.procs is None and not cfg.packed_span_scan:  # the same calibrated rate
                assert a.scan_rate["bytes_per_s"] == b.scan_rate["bytes_per_s"]
            else:  # its rate leaves the recording's 2-P wait out: give both the same rate
                rate = b.scan_rate["bytes_per_s"]
                a = replay(f"traces/{name}.msgpack", dataclasses.replace(cfg, scan_rate=rate))
                b = replay(waited[name], dataclasses.replace(cfg, scan_rate=rate))
            assert [dataclasses.asdict(c) for c in a.cycles] == \
                [dataclasses.asdict(c) for c in b.cycles], (name, cfg)
            assert all(c.mark_end_wait_ns == 0 for c in b.cycles)


def test_the_rate_calibrated_without_the_wait(waited):
    """A packed-span-scan recording's marks waited for a scheduler pass when past maxScanWork,
    which the replay adds itself: the calibrated rate counts each recorded mark's duration less
    the wait, at least half of it (engine/replay.py _scan_rate_of). Worked from the recorded
    cycles: sum(scan work) / sum(max(d - 3 ms, d / 2) x 25% x 2 Ps)."""
    cfg = Config(gc_mode="pacer", packed_span_scan=True)
    rec = replay(waited["go126-parser"], dataclasses.replace(cfg, gc_mode="recorded",
                                                             scan_rate=1e9))
    done = [c for c in rec.cycles if c.end_ts is not None and c.end_ts > c.start_ts]
    assert done
    work = sum(c.scan_work for c in done)
    ns = sum(max(c.end_ts - c.start_ts - WAIT_NS, (c.end_ts - c.start_ts) / 2) * 0.25 * 2
             for c in done)
    want = float(f"{work * 1e9 / ns:.6g}")
    assert replay(waited["go126-parser"], cfg).scan_rate["bytes_per_s"] == want
    # the same recording without the figure: the whole durations
    ns = sum((c.end_ts - c.start_ts) * 0.25 * 2 for c in done)
    assert replay("traces/go126-parser.msgpack", cfg).scan_rate["bytes_per_s"] == \
        float(f"{work * 1e9 / ns:.6g}")


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
