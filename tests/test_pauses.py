"""Issue #6 acceptance: recorded STW pauses against an independent count of the trace's
stw_begin/stw_end events, modelled pauses, the runtime's pause histogram, MMU, gctrace A/C."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from conftest import run_goalloc

import goalloc
import goalloc.trace
from goalloc.engine import pauses
from goalloc.engine.config import Config
from goalloc.report.gctrace import fmt_ns_as_ms
from goalloc.trace import format as fmt

ROOT = Path(__file__).resolve().parents[1]
HTTP = ROOT / "traces" / "go-http-clientserver.msgpack"


def stw_by_reason(path):
    """Independent: read the columns, pair each stw_end with the stw_begin before it."""
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
    out = {}
    for i, j in zip(b, e, strict=True):
        out.setdefault(int(a[i]), []).append(int(t[j] - t[i]))
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


def test_modelled_pauses_calibrated_and_scale_with_procs():
    want = stw_by_reason(HTTP)
    med = sorted(want[fmt.STW_GC_SWEEP_TERM])[4]  # nearest-rank median of 10
    r = goalloc.replay(HTTP)  # pacer mode at the recorded GOMAXPROCS 4
    p = r.pauses
    assert p["source"] == "modelled" and p["model"]["sources"]["sweep-term-fixed"] == "calibrated"
    assert all(c["sweep_termination_ns"] == med for c in p["cycles"])
    r8 = goalloc.replay(HTTP, Config(procs=8))
    per_p = r8.pauses["model"]["ns"]["per-p"]
    assert r8.pauses["cycles"][0]["sweep_termination_ns"] == med + 4 * per_p


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
