"""runtime/metrics samples in a trace (#20): the importer's parsing of trace.Log records, the
trace kind `metric`, the timeline sample the engine takes at each group, and the comparison
`--validate` makes. Expected figures are worked out by hand from the model's rules (one 1 KiB
object in a fresh 8 KiB span of a freshly grown 4 MiB chunk)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_trace

from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.report import fidelity
from goalloc.trace import Header
from goalloc.trace import format as fmt
from goalloc.trace.importers.gometrics import MetricLog, parse_sample

OBJ, UNUSED, FREE, RELEASED = (fmt.METRIC_INDEX[f"/memory/classes/heap/{n}:bytes"]
                               for n in ("objects", "unused", "free", "released"))


def test_parse_sample_keeps_known_names_in_index_order():
    msg = ('{"/memory/classes/heap/released:bytes":5,"/sched/goroutines:goroutines":7,'
           '"/memory/classes/heap/objects:bytes":1024,"/gc/heap/goal:bytes":4.0e6}')
    assert parse_sample(msg) == [(OBJ, 1024), (RELEASED, 5),
                                 (fmt.METRIC_INDEX["/gc/heap/goal:bytes"], 4_000_000)]


@pytest.mark.parametrize("msg", [
    "", "not json", "[1, 2]", '{"/memory/classes/heap/objects:bytes": -1}',
    '{"/memory/classes/heap/objects:bytes": 1.5}', '{"/memory/classes/heap/objects:bytes": true}',
    '{"/memory/classes/heap/objects:bytes": "12"}', '{"/sched/goroutines:goroutines": 3}',
    '{"/memory/classes/heap/objects:bytes": 9223372036854775808}'])
def test_parse_sample_refuses(msg):
    assert parse_sample(msg) is None


def test_expand_replaces_placeholders_and_numbers_groups():
    # rows: alloc, a metric record (message string 7, category 3), a record of another
    # category (string 4), a record of the category that is not JSON (string 8), a free
    strings = {3: fmt.METRICS_LOG_CATEGORY, 4: "other", 7: '{"/memory/classes/heap/free:bytes'
               '":10,"/memory/classes/heap/objects:bytes":20}', 8: "{"}
    part = {"kind": np.array([fmt.ALLOC, fmt.METRIC, fmt.METRIC, fmt.METRIC, fmt.FREE]),
            "ts": np.array([1, 2, 3, 4, 5]), "p": np.array([0, 1, 1, 1, 0]),
            "id": np.array([9, 7, 7, 8, 9]), "size": np.array([16, 0, 0, 0, 0]),
            "flags": np.array([1, 0, 0, 0, 0]), "aux": np.array([0, 3, 4, 3, 0])}
    log = MetricLog()
    log.groups = 5  # numbering goes on from earlier slices
    out = log.expand(part, strings)
    assert out["kind"].tolist() == [fmt.ALLOC, fmt.METRIC, fmt.METRIC, fmt.FREE]
    assert out["ts"].tolist() == [1, 2, 2, 5]
    assert out["p"].tolist() == [0, 1, 1, 0]
    assert out["id"].tolist() == [9, 5, 5, 9]
    assert out["aux"].tolist() == [0, OBJ, FREE, 0]
    assert out["size"].tolist() == [16, 20, 10, 0]
    assert (log.groups, log.bad) == (6, 1)


def _metric(group, ts, values):
    return [dict(kind=fmt.METRIC, ts=ts, id=group, aux=k, size=v)
            for k, v in sorted(values.items())]


def test_replay_samples_and_validate_compares_at_each_group(tmp_path):
    # Model after one 1024 B noscan object: one 8 KiB span from a freshly grown 4 MiB chunk
    # whose other 511 pages are released. The span is P 0's mcache span, and runtime/metrics
    # counts a cached span's objects only when the mcache lets it go (refill / releaseAll add
    # allocCount - allocCountBeforeCache to heapStats.smallAllocCount): objects 0, unused
    # 8192. After a second object and ReadMemStats' flush of every mcache: objects 2048,
    # unused 6144. The recording says 64 KiB less released at the second sample: released
    # off by +65536 there (share of that sample's recorded total), nothing else off.
    chunk = 512 * 8192
    rel = 511 * 8192
    ev = [dict(kind=fmt.ALLOC, ts=10, id=0, size=1024, flags=fmt.FLAG_NOSCAN)]
    ev += _metric(0, 20, {OBJ: 0, UNUSED: 8192, FREE: 0, RELEASED: rel})
    ev += [dict(kind=fmt.ALLOC, ts=30, id=1, size=1024, flags=fmt.FLAG_NOSCAN),
           dict(kind=fmt.STW_BEGIN, ts=35, aux=fmt.STW_REASONS.index("read mem stats")),
           dict(kind=fmt.STW_END, ts=36)]
    ev += _metric(1, 40, {OBJ: 2048, UNUSED: 6144, FREE: 0, RELEASED: rel - 65536})
    path = write_trace(tmp_path / "m.msgpack", ev, Header(gomaxprocs=1))
    r = replay(path, Config(gc_mode="recorded", go_version="1.23"))
    samples = [t for t in r.timeline if t.kind == "metric"]
    assert [(t.event, t.ts) for t in samples] == [(1, 20), (8, 40)]  # first event of a group
    assert [(t.objects, t.unused, t.free, t.released) for t in samples] == [
        (0, 8192, 0, rel), (2048, 6144, 0, rel)]
    mc = fidelity.classes_over_time(r, fidelity.recorded_side(path))
    assert mc["samples"] == mc["recorded_samples"] == 2
    share = 65536 / (chunk - 65536)
    c = mc["classes"]
    assert c["released"]["max_error"] == pytest.approx(share)
    assert c["released"]["mean_error"] == pytest.approx(share / 2)
    assert (c["released"]["max_error_bytes"], c["released"]["worst_ts"]) == (65536, 40)
    assert c["total"]["max_error"] == pytest.approx(share)
    # the run's average: released off by (0 + 65536) / 2 over an average total of
    # (chunk + chunk - 65536) / 2
    assert c["released"]["time_mean_error"] == pytest.approx(32768 / (chunk - 32768))
    for name in ("objects", "unused", "free"):
        assert c[name]["max_error"] == 0.0
        assert c[name]["time_mean_error"] == 0.0
    assert mc["recorded_series"] == {"ts": [20, 40], "held": [8192, 8192],
                                     "total": [chunk, chunk - 65536]}


def test_objects_leave_out_what_the_cached_span_allocated_since_it_was_cached(tmp_path):
    # Three 1024 B objects, ReadMemStats' flush (releaseAll counts the three), two more: the
    # mcache takes the same partly used span back from mcentral (allocCountBeforeCache 3), so
    # metrics.Read counts the three and not the two: objects 3072, unused 8192 - 3072.
    stw = fmt.STW_REASONS.index("read mem stats")
    ev = [dict(kind=fmt.ALLOC, ts=10 + i, id=i, size=1024, flags=fmt.FLAG_NOSCAN)
          for i in range(3)]
    ev += [dict(kind=fmt.STW_BEGIN, ts=20, aux=stw), dict(kind=fmt.STW_END, ts=21)]
    ev += [dict(kind=fmt.ALLOC, ts=30 + i, id=3 + i, size=1024, flags=fmt.FLAG_NOSCAN)
           for i in range(2)]
    ev += _metric(0, 40, {OBJ: 3072, UNUSED: 5120, FREE: 0, RELEASED: 511 * 8192})
    path = write_trace(tmp_path / "m.msgpack", ev, Header(gomaxprocs=1))
    r = replay(path, Config(gc_mode="recorded", go_version="1.23"))
    (m,) = [t for t in r.timeline if t.kind == "metric"]
    assert (m.objects, m.unused) == (3072, 5120)
    end = [t for t in r.timeline if t.kind == "end"][-1]
    assert (end.objects, end.unused) == (5120, 3072)  # the model's own count: every slot


def _never_swept_trace(path, heap_live, span_free=False, listed=True):
    """Two Ps. The snapshot: span 0 (32 B noscan, 256 slots) with 10 objects, span 1 of the
    same class full, span 2 (48 B noscan) with 3 objects, span 4 (16 KiB noscan, one slot
    in 2 pages) full, the only span of its class; the trace's first heapLive reading
    `heap_live` (after a span allocated and freed, with `span_free`); P 1 opens a fresh 32 B
    span and allocates into it; a metric sample. `listed`: the header's snapshot_mcaches
    (empty: no P's first allocation of a class went into a snapshot span)."""
    snap = fmt.FLAG_SNAPSHOT | fmt.FLAG_NOSCAN
    c32, c48, c16k = (4 << 1) | 1, (5 << 1) | 1, (59 << 1) | 1

    def placed(span, slot):
        return ((span + 1) << fmt.PLACEMENT_SHIFT) | slot

    ev = [dict(kind=fmt.SPAN_ALLOC, id=0, size=1, aux=c32, flags=fmt.FLAG_SNAPSHOT),
          dict(kind=fmt.SPAN_ALLOC, id=1, size=1, aux=c32, flags=fmt.FLAG_SNAPSHOT),
          dict(kind=fmt.SPAN_ALLOC, id=2, size=1, aux=c48, flags=fmt.FLAG_SNAPSHOT),
          dict(kind=fmt.SPAN_ALLOC, id=4, size=2, aux=c16k, flags=fmt.FLAG_SNAPSHOT)]
    ev += [dict(kind=fmt.ALLOC, id=i, size=32, flags=snap, aux=placed(0, i)) for i in range(10)]
    ev += [dict(kind=fmt.ALLOC, id=10 + i, size=32, flags=snap, aux=placed(1, i))
           for i in range(256)]
    ev += [dict(kind=fmt.ALLOC, id=266 + i, size=48, flags=snap, aux=placed(2, i))
           for i in range(3)]
    ev += [dict(kind=fmt.ALLOC, id=270, size=16384, flags=snap, aux=placed(4, 0))]
    if span_free:
        ev += [dict(kind=fmt.SPAN_ALLOC, ts=1, id=5, size=1, aux=0),  # a large object's
               dict(kind=fmt.SPAN_FREE, ts=1, id=5)]
    ev += [dict(kind=fmt.HEAP_LIVE, ts=2, size=heap_live),
           dict(kind=fmt.SPAN_ALLOC, ts=3, p=1, id=3, size=1, aux=c32),
           dict(kind=fmt.ALLOC, ts=4, p=1, id=269, size=32, aux=32, flags=fmt.FLAG_NOSCAN)]
    ev += _metric(0, 10, {OBJ: 8192, UNUSED: 5 * 8192, FREE: 0, RELEASED: 506 * 8192})
    ev += [dict(kind=fmt.GC_START, ts=20, id=1), dict(kind=fmt.GC_MARK_TERM, ts=30, id=1),
           dict(kind=fmt.GC_END, ts=31, id=1)]
    extra = {"snapshot": fmt.SNAPSHOT_PLACED}
    if listed:
        extra["snapshot_mcaches"] = []
    header = Header(gomaxprocs=2, frees="sweep", extra=extra)
    return write_trace(path, ev, header)


def test_objects_of_a_never_swept_heap_wait_for_their_mcache_to_let_them_go(tmp_path):
    # No GC before tracing: heapLive, which grows by each span's whole pages as an mcache
    # takes it (refill) and is reset only by a mark termination, reads the snapshot's 5 heap
    # pages' bytes. A never-swept heap's partly used spans are mcache spans taken empty, so
    # runtime/metrics counts none of their objects: spans 0 and 2 go to P 0 (P 1 opened a
    # fresh 32 B span, so it held none of that class; the lowest other P); the 16 KiB class
    # has no partly used span, so the last P to allocate one still holds the span it filled
    # (P 0: none opened one), uncounted too. Objects = span 1's 8192 B; P 1's new span and
    # its object uncounted: unused 6 pages - 8192. Any other first reading (or a span freed
    # before it: only a sweep frees one) says a cycle came before: the snapshot's objects
    # count (8192 + 10 * 32 + 3 * 48 + 16384 = 25040), span 0 still out of P 1's reach
    # (inferred: it opened a fresh span while span 0 had room).
    # So does a header that does not list the Ps' first snapshot spans (which P held which
    # span is then not known). After the mark termination's flush the model counts every
    # slot either way.
    for heap_live, span_free, listed, objects, cached in ((5 * 8192, False, True, 8192, 3),
                                                          (6 * 8192, False, True, 25040, None),
                                                          (5 * 8192, True, True, 25040, None),
                                                          (5 * 8192, False, False, 25040, None)):
        path = _never_swept_trace(tmp_path / "n.msgpack", heap_live, span_free, listed)
        r = replay(path, Config(gc_mode="recorded", go_version="1.23"))
        (m,) = [t for t in r.timeline if t.kind == "metric"]
        assert (m.objects, m.unused) == (objects, 6 * 8192 - objects), (heap_live, listed)
        assert r.recorded_replay.get("snapshot_spans_cached_before_any_gc") == cached
        assert r.recorded_replay["snapshot_spans_cached"] == (0 if cached else 1)


def test_runs_apart_out_of_phase_differ_sample_by_sample_not_on_average(tmp_path):
    # Two runs of one program whose heaps rise 10 -> 20 -> 30 MiB and drop, every three
    # samples, one sample out of step, the heap total 40 MiB (the rest free): objects and free
    # differ by 10, 10 and 20 MiB in turn (mean 40/3 MiB = 1/3 of the total, worst 1/2) and
    # not at all on average; released and unused match.
    mib = 1 << 20

    def run(name, objects):
        ev = []
        for g, o in enumerate(objects):
            ev += _metric(g, 10 + 20 * g, {OBJ: o * mib, UNUSED: 0, FREE: (40 - o) * mib,
                                           RELEASED: 0})
        return fidelity.recorded_side(write_trace(tmp_path / name, ev, Header(gomaxprocs=1)))

    a = run("a.msgpack", [10, 20, 30, 10, 20, 30])
    b = run("b.msgpack", [20, 30, 10, 20, 30, 10, 20])  # one sample more: left out
    got = fidelity.runs_apart(a, b)
    assert got["samples"] == 6
    for name in ("objects", "free"):
        c = got["classes"][name]
        assert c["mean_error"] == pytest.approx(1 / 3)
        assert c["max_error"] == pytest.approx(1 / 2)
        assert c["time_mean_error"] == 0.0
    assert got["classes"]["objects"]["max_error_bytes"] == -20 * mib  # b - a at 50 ns
    assert got["classes"]["objects"]["worst_ts"] == 50
    for name in ("unused", "released", "total"):
        assert got["classes"][name]["max_error"] == 0.0


def test_validate_targets_include_classes_over_time(tmp_path):
    # the same comparison reaches --validate's targets: recorded mode checks the worst and
    # the mean of each class; here released's worst (1.59%) is within 15%
    ev = [dict(kind=fmt.ALLOC, ts=10, id=0, size=1024, flags=fmt.FLAG_NOSCAN)]
    ev += _metric(0, 20, {OBJ: 0, UNUSED: 8192, FREE: 0, RELEASED: 511 * 8192 - 65536})
    path = write_trace(tmp_path / "m.msgpack", ev, Header(gomaxprocs=1))
    r = replay(path, Config(gc_mode="recorded", go_version="1.23"))
    f = fidelity.compare(r, fidelity.recorded_side(path))
    t = f.targets
    assert t["released_max_error"]["ok"] and t["released_max_error"]["limit"] == 0.15
    assert t["objects_max_error"] == {"value": 0.0, "limit": 0.01, "ok": True}
    assert f.to_dict()["memory_classes"]["samples"] == 1


@pytest.mark.parametrize("nonheap,released", [(None, 0), (7 << 20, 65536)])
def test_nonheap_memory_from_samples_counts_toward_the_limit(tmp_path, nonheap, released):
    # GOMEMLIMIT 8 MiB: 17 noscan 64 KiB objects, one dies before cycle 1, so after cycle 2
    # the heap has 1 MiB in use and 64 KiB free. The GOGC goal (4 MiB both cycles) keeps
    # lastHeapInUse * 1 + 10% = 1155072 (4 KiB rounded) >= retained 1114112: no release for
    # it. mappedReady is the heap's 1114112 alone unless a metric sample says 7 MiB more is
    # mapped outside the heap (total - the heap's classes); then 8454144 is over the limit's
    # goal int(0.95 * 8 MiB) = 7969177 and the background scavenger releases what is free: one
    # 64 KiB quantum. Report.scavenge names the figure used.
    ev = [dict(kind=fmt.ALLOC, ts=i, id=i, size=64 << 10, flags=fmt.FLAG_NOSCAN)
          for i in range(17)]
    ev += [dict(kind=fmt.FREE, ts=600, id=16)]
    if nonheap is not None:
        heap = 512 * 8192  # the 4 MiB chunk: objects + unused + free + released
        ev += _metric(0, 700, {OBJ: 17 << 16, UNUSED: 0, FREE: 0, RELEASED: heap - (17 << 16),
                               fmt.METRIC_TOTAL: heap + nonheap})
    ev += [dict(kind=fmt.GC_START, id=1, ts=1000), dict(kind=fmt.GC_MARK_TERM, id=1, ts=1001),
           dict(kind=fmt.GC_START, id=2, ts=10**9),
           dict(kind=fmt.GC_MARK_TERM, id=2, ts=10**9 + 1),
           dict(kind=fmt.ALLOC, ts=31 * 10**9, id=100, size=8)]
    path = write_trace(tmp_path / "l.msgpack", ev, Header(gomaxprocs=1))
    r = replay(path, Config(gc_mode="recorded", go_version="1.23", memlimit=8 << 20))
    assert r.released_background_bytes == released
    assert r.scavenge["nonheap_bytes"] == nonheap


def test_cli_rerun_shows_the_runtime_s_own_spread(tmp_path, cli):
    # --rerun OTHER: OTHER's samples against the replayed recording's, in the figures the
    # model gets. Recording A: objects 1 then 3 MiB of a 4 MiB heap (the rest free); OTHER: 2
    # and 2. Each sample is 1 MiB apart, a quarter of the heap; on average they agree.
    mib = 1 << 20

    def samples(objects):
        ev = []
        for g, o in enumerate(objects):
            ev += _metric(g, 100 + 20 * g, {OBJ: o * mib, UNUSED: 0, FREE: (4 - o) * mib,
                                            RELEASED: 0})
        return ev

    span = [dict(kind=fmt.SPAN_ALLOC, ts=0, id=0, size=1, aux=10),
            dict(kind=fmt.ALLOC, ts=1, id=0, size=32)]
    a = write_trace(tmp_path / "a.msgpack", span + samples([1, 3]), Header(gomaxprocs=1))
    other = write_trace(tmp_path / "b.msgpack", samples([2, 2]), Header(gomaxprocs=1))
    code, out, err = cli("replay", a, "--gc", "recorded", "--validate", "--json",
                         "--rerun", other)
    assert code in (0, 1), err  # 1: the model misses its targets against A's samples
    apart = json.loads(out)["fidelity"]["memory_classes"]["runs_apart"]
    assert apart["recordings"] == 1
    for name in ("objects", "free"):
        assert apart["classes"][name] == {"mean_error": 0.25, "max_error": 0.25,
                                          "time_mean_error": 0.0}
    assert apart["classes"]["released"]["max_error"] == 0.0
    code, out, err = cli("replay", a, "--gc", "recorded", "--validate", "--rerun", other)
    assert "The runtime's own spread (--rerun)" in out
    code, out, err = cli("replay", a, "--gc", "pacer", "--validate")
    assert "pacer mode: the model's cycles fall where its pacer puts them" in out
    # a rerun without samples, or --rerun without --validate: one line, exit 2
    bare = write_trace(tmp_path / "c.msgpack", span, Header(gomaxprocs=1))
    code, out, err = cli("replay", a, "--validate", "--rerun", bare)
    assert code == 2 and f"{bare}: --rerun: no runtime/metrics samples" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = cli("replay", a, "--rerun", other)
    assert code == 2 and "--rerun needs --validate" in err
