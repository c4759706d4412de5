"""Issue #6 acceptance: recorded STW pauses against an independent count of the trace's
stw_begin/stw_end events, modelled pauses, the runtime's pause histogram, MMU, gctrace A/C."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from conftest import run_goalloc, write_trace

import goalloc
import goalloc.trace
from goalloc.engine import pauses
from goalloc.engine.config import Config
from goalloc.report.gctrace import fmt_ns_as_ms
from goalloc.trace import Header
from goalloc.trace import format as fmt

ROOT = Path(__file__).resolve().parents[1]
HTTP = ROOT / "traces" / "go-http-clientserver.msgpack"


def stw_pairs(path):
    """Independent: read the columns and pair each stw_end with the stw_begin before it:
    [(reason, begin ts, duration)] in order."""
    kinds, ts, aux = [], [], []
    with goalloc.trace.open(path) as r:
        for c in r:
            kinds.append(c.kind)
            ts.append(c.ts)
            aux.append(c.aux)
    k, t, a = np.concatenate(kinds), np.concatenate(ts), np.concatenate(aux)
    b = np.flatnonzero(k == fmt.STW_BEGIN)
    e = np.flatnonzero(k == fmt.STW_END)
    assert len(b) == len(e) and (b < e).all() and (e[:-1] < b[1:]).all()  # never nested
    return [(int(a[i]), int(t[i]), int(t[j] - t[i])) for i, j in zip(b, e, strict=True)]


def stw_by_reason(path):
    """The STW pauses' durations by reason."""
    out = {}
    for reason, _begin, d in stw_pairs(path):
        out.setdefault(reason, []).append(d)
    return out


def test_recorded_pauses_match_the_trace():
    want = stw_by_reason(HTTP)
    r = goalloc.replay(HTTP, Config(gc_mode="recorded"))
    rec = r.pauses["recorded"]
    sweep = sorted(want[fmt.STW_GC_SWEEP_TERM])
    mark = sorted(want[fmt.STW_GC_MARK_TERM])
    other = sorted(d for k, v in want.items() if k not in (1, 2) for d in v)
    assert len(sweep) == len(mark) == 10 and len(other) == 16
    for kind, d in (("sweep-termination", sweep), ("mark-termination", mark), ("other", other)):
        s = rec["by_kind"][kind]
        assert s["count"] == len(d) and s["total_ns"] == sum(d) and s["max_ns"] == d[-1]
        n = len(d)
        for q, key in ((0.5, "p50_ns"), (0.9, "p90_ns"), (0.99, "p99_ns")):
            assert s[key] == d[int(np.ceil(q * n)) - 1]  # nearest rank
    # recorded GC mode: the cycles carry the recorded pauses
    assert r.pauses["source"] == "recorded"
    assert sorted(c["sweep_termination_ns"] for c in r.pauses["cycles"]) == sweep
    assert sorted(c["mark_termination_ns"] for c in r.pauses["cycles"]
                  if c["mark_termination_ns"] is not None) == mark
    h = r.pauses["gc"]["histogram"]
    assert sum(h["counts"]) == 20 and len(h["buckets"]) == len(h["counts"]) + 1
    for d in sweep + mark:  # every pause falls in a bucket with its count
        i = int(np.searchsorted(np.array(h["buckets"][:-1]) * 1e9, d, side="right")) - 1
        assert h["buckets"][i] * 1e9 <= d < h["buckets"][i + 1] * 1e9


def test_gctrace_a_and_c_are_the_recorded_pauses():
    r = run_goalloc("replay", HTTP, "--gc", "recorded", "--gctrace")
    assert r.returncode == 0, r.stderr
    doc = json.loads(run_goalloc("replay", HTTP, "--gc", "recorded", "--json").stdout)
    cyc = {c["n"]: c for c in doc["pauses"]["cycles"]}
    lines = r.stdout.splitlines()
    assert lines
    for line in lines:
        m = re.match(r"gc (\d+) @\S+ \d+%: (\S+)\+(\S+)\+(\S+) ms clock", line)
        c = cyc[int(m.group(1))]
        assert m.group(2) == fmt_ns_as_ms(c["sweep_termination_ns"])
        assert m.group(4) == fmt_ns_as_ms(c["mark_termination_ns"])
        assert c["sweep_termination_source"] == c["mark_termination_source"] == "recorded"


def stw_begins(path, reason):
    """(begin ts, duration) of the trace's STW pauses of one reason, in order."""
    return [(b, d) for r, b, d in stw_pairs(path) if r == reason]


def test_modelled_pauses_calibrated_and_scale_with_procs():
    want = stw_by_reason(HTTP)
    med = sorted(want[fmt.STW_GC_SWEEP_TERM])[4]  # nearest-rank median of 10
    sweeps = stw_begins(HTTP, fmt.STW_GC_SWEEP_TERM)
    r = goalloc.replay(HTTP)  # pacer mode at the recorded GOMAXPROCS 4
    p = r.pauses
    assert p["source"] == "modelled" and p["model"]["sources"]["sweep-term-fixed"] == "calibrated"
    assert p["model"]["ns"]["sweep-term-fixed"] + 4 * p["model"]["ns"]["per-p"] == med

    # each modelled pause is one of the recording's own, not the median for all: pauses are
    # heavy-tailed (this recording's 10 sweep terminations: 14 us to 2.4 ms). At its own
    # GOGC the model runs its 10 cycles and takes them in order, one each
    recorded = [d for _, d in sweeps]
    assert len(set(recorded)) == len(recorded) == len(r.cycles) == 10
    assert [c["sweep_termination_ns"] for c in p["cycles"]] == recorded
    r8 = goalloc.replay(HTTP, Config(procs=8))
    per_p = r8.pauses["model"]["ns"]["per-p"]
    assert r8.pauses["cycles"][0]["sweep_termination_ns"] == recorded[0] + 4 * per_p


def test_modelled_pauses_each_recorded_one_as_often():
    """Where the model runs more cycles than the recording (GOGC=25: 25 for its 10), every
    recorded pause serves 2 or 3 of them (25 / 10), in the recording's order, however long
    the recording ran after it: a pause is a draw of the runtime's. (Each took the pause in
    effect at its cycle's trace time until 2026-12-07, which weighs a pause by the interval
    after it.)"""
    recorded = [d for _, d in stw_begins(HTTP, fmt.STW_GC_SWEEP_TERM)]
    assert len(set(recorded)) == len(recorded) == 10
    r = goalloc.replay(HTTP, Config(gogc=25))
    got = [c["sweep_termination_ns"] for c in r.pauses["cycles"]]
    assert len(got) == 25
    runs = []  # (duration, how many cycles in a row took it)
    for d in got:
        if runs and runs[-1][0] == d:
            runs[-1][1] += 1
        else:
            runs.append([d, 1])
    assert [d for d, _ in runs] == recorded  # each once, in order
    assert sorted(n for _, n in runs) == [2] * 5 + [3] * 5
    assert pauses.spread(0, 25, 10) == 0 and pauses.spread(24, 25, 10) == 9
    assert pauses.spread(0, 3, 10) == 1 and pauses.spread(2, 3, 10) == 8  # fewer: the middles


def _stw_trace(tmp_path, sweep_end, mark_end, name="t.msgpack"):
    """One recorded cycle on 2 Ps: sweep termination's STW range 1000..5000 ns, mark
    termination's 9000..9500; the stw_end rows' figures (restart, stopping, stopping CPU) as
    given."""
    sweep = fmt.STW_REASONS.index("GC sweep termination")
    mark = fmt.STW_REASONS.index("GC mark termination")

    def end(ts, f):
        return dict(kind=fmt.STW_END, ts=ts, id=f[0], size=f[1], aux=f[2])
    # (the runtime traces GCBegin before it stops the world for sweep termination)
    events = [dict(kind=fmt.ALLOC, ts=0, id=0, size=8), dict(kind=fmt.GC_START, ts=999, id=1),
              dict(kind=fmt.STW_BEGIN, ts=1000, aux=sweep), end(5000, sweep_end),
              dict(kind=fmt.STW_BEGIN, ts=9000, aux=mark), dict(kind=fmt.GC_MARK_TERM, ts=9000,
                                                                id=1), end(9500, mark_end),
              dict(kind=fmt.GC_END, ts=9501, id=1), dict(kind=fmt.FREE, ts=20_000, id=0)]
    path = write_trace(tmp_path / name, events, Header(gomaxprocs=2, frees="sweep"))
    return goalloc.replay(path, Config(gc_mode="recorded", go_version="1.22"))


def test_pause_cpu_until_the_restart_as_the_runtime_counts_it(tmp_path, monkeypatch):
    # By hand, 2 Ps. Sweep termination: the world stopped 40 ns after the STW began (the other
    # P stopped then; the stopping P was stopped from the start: 40 ns of stoppingCPUTime) and
    # restarted at 100 ns; the stopping M traced STWDone at 4000 ns. The pause is the range,
    # 4000 ns, as the runtime's pause figures take it; its CPU, accumulateGCPauseTime's:
    # 40 + 2 x (100 - 40) = 160. Mark termination: every other P idle (stopped at once),
    # restarted at 300 ns: 500 ns, 600 ns of CPU.
    r = _stw_trace(tmp_path, (100, 40, 40), (300, 0, 0))
    (c,) = r.pauses["cycles"]
    assert (c["sweep_termination_ns"], c["mark_termination_ns"]) == (4000, 500)
    assert c["cpu_ns"] == 160 + 600 == r.gc_cpu["pause_ns"] == r.pauses["gc"]["cpu_ns"]
    assert r.pauses["recorded"]["restarts_total_ns"] == 100 + 300
    assert r.pauses["recorded"]["restarts_known"] == 2
    # the sweep termination ran 3900 ns past its restart, the mark termination 200 ns
    assert r.pauses["recorded"]["held_after_restart"] == {"count": 0, "total_ns": 0}
    monkeypatch.setattr(pauses, "HELD_AFTER_RESTART_NS", 1000)
    r = _stw_trace(tmp_path, (100, 40, 40), (300, 0, 0), "held.msgpack")
    assert r.pauses["recorded"]["held_after_restart"] == {"count": 1, "total_ns": 3900}
    # a trace that does not say (zeros: an older import, another recorder): every P stopped
    # through the ranges
    r = _stw_trace(tmp_path, (0, 0, 0), (0, 0, 0), "zeros.msgpack")
    (c,) = r.pauses["cycles"]
    assert (c["sweep_termination_ns"], c["mark_termination_ns"]) == (4000, 500)
    assert r.gc_cpu["pause_ns"] == 2 * (4000 + 500)
    assert r.pauses["recorded"]["restarts_known"] == 0  # the report says so under its table
    # figures no stop can have: a restart after the range (the range, every P throughout),
    # more stopped CPU than 2 Ps give in 40 ns (the stop not shown: every P to the restart)
    r = _stw_trace(tmp_path, (10_000, 40, 40), (300, 40, 81), "hostile.msgpack")
    (c,) = r.pauses["cycles"]
    assert (c["sweep_termination_ns"], c["mark_termination_ns"]) == (4000, 500)
    assert r.gc_cpu["pause_ns"] == 2 * 4000 + 2 * 300


def test_histogram_buckets_are_the_runtimes():
    e = pauses.EDGES_NS
    assert e[:8] == [0, 64, 128, 192, 256, 320, 384, 448]
    assert e[-1] == 1 << 47 and len(e) == 4 + 39 * 4 + 1
    h = pauses.histogram([100, 100, 5000])
    assert h["counts"][0] == 2 and h["counts"][-1] == 1 and sum(h["counts"]) == 3
    assert h["buckets"][0] == 64e-9


def test_mmu_hand_worked():
    ms = 1_000_000
    p = [(4 * ms, ms)]  # one 1 ms pause in a 10 ms trace
    assert pauses.mmu(p, 0, 10 * ms, ms) == 0.0
    assert pauses.mmu(p, 0, 10 * ms, 2 * ms) == 0.5
    assert abs(pauses.mmu(p, 0, 10 * ms, 10 * ms) - 0.9) < 1e-12
    assert abs(pauses.mmu(p, 0, 10 * ms, 10**9) - 0.9) < 1e-12  # clamped to the trace
    assert pauses.mmu([], 0, 10 * ms, ms) == 1.0
    # two pauses 1 ms apart: a 3 ms window holds both
    q = [(2 * ms, ms // 2), (3 * ms + ms // 2, ms // 2)]
    assert abs(pauses.mmu(q, 0, 10 * ms, 3 * ms) - (1 - 1 / 3)) < 1e-12


def test_pause_metrics_in_json():
    a = run_goalloc("replay", HTTP, "--json")
    assert a.returncode == 0, a.stderr
    assert a.stdout == run_goalloc("replay", HTTP, "--json").stdout
    doc = json.loads(a.stdout)
    vals = {m["name"]: m["value"] for m in doc["metrics"]}
    h = vals["/sched/pauses/total/gc:seconds"]
    assert set(h) == {"buckets", "counts"} and sum(h["counts"]) > 0
    for w in ("1ms", "10ms", "100ms"):
        assert 0.0 <= vals[f"/goalloc/gc/mmu/{w}:ratio"] <= 1.0
        assert 0.0 <= vals[f"/goalloc/gc/mmu/recorded/{w}:ratio"] <= 1.0
    # the trace spans less than a second: a 1 s window says nothing (#19), so it is null
    t0, t1 = doc["pauses"]["trace_span_ns"]
    assert t1 - t0 < 10**9
    assert vals["/goalloc/gc/mmu/1s:ratio"] is None
    assert vals["/goalloc/gc/mmu/recorded/1s:ratio"] is None
    assert vals["/goalloc/gc/pauses/recorded/sweep-termination/count:count"] == 10
