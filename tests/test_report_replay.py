"""Replay rendering on hand-built Reports (no engine, no numba): JSON schema v1 fields,
metric records, per-class figures, determinism, timeline CSV shapes and the text report."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest

from goalloc.engine.report import ClassStats, Cycle, Fragmentation, MemoryClasses, Report
from goalloc.report import metrics as M
from goalloc.report import replay as rep

HEADER = {"format": "goalloc-trace", "version": [1, 0], "producer": "test", "sizes": "requested",
          "frees": "death", "gomaxprocs": 2, "events": 10, "clock": "ns", "required": [],
          "source": {"go_version": "go1.22.1"}}


def make_report(**kw) -> Report:
    r = Report(trace="/abs/ignored.msgpack", go_version="1.22", table="go", gogc=None,
               memlimit=512 << 20, procs=2, gc_mode="pacer", free_semantics="death",
               sizes="requested", events=10)
    r.cycles = [Cycle(n=1, start_event=3, start_ts=3000, heap_at_trigger=4 << 20,
                      trigger=4 << 20, goal=5 << 20, marked=1 << 20, heap_at_end=5 << 20,
                      end_event=6, end_ts=9000, limit_bound=True)]
    r.end = MemoryClasses(objects=8192, unused=8192, free=16384, released=8192)
    r.peak = MemoryClasses(objects=16384, unused=0, free=0, released=8192)
    r.peak_event = 7
    r.end_frag = Fragmentation(rounding=100, tail=0, free_slots=8192, dead_unswept=0,
                               free_pages=16384, released_pages=8192)
    r.peak_frag = Fragmentation(rounding=200, tail=0, free_slots=0, dead_unswept=0,
                                free_pages=0, released_pages=8192)
    # class 1 (8 B): one span, 1024 slots, 512 allocated, 500 live requesting 3900 B
    # class 5 noscan (48 B): one span, 170 slots (8160 B), tail 32, 10 allocated/live, 400 B
    # with the figures the engine derives (engine/readout.py), worked out here by hand:
    # utilisation live / slots (10 / 170, 500 / 1024), fragmentation held - live requested
    # (8192 - 400 = 7792, 8192 - 3900 = 4292), ranked worst first with shares of 12084
    r.classes = [
        ClassStats(size_class=1, noscan=False, slot_size=8, spans=1, pages=1,
                   allocated_slots=512, live_slots=500, live_requested=3900, mallocs=600,
                   tail=0, free_slots=4096, util_mean=500 / 1024, frag_bytes=4292,
                   frag_share=4292 / 12084, frag_rank=2),
        ClassStats(size_class=5, noscan=True, slot_size=48, spans=1, pages=1,
                   allocated_slots=10, live_slots=10, live_requested=400, mallocs=10, tail=32,
                   free_slots=8192 - 480 - 32, util_mean=10 / 170, frag_bytes=7792,
                   frag_share=7792 / 12084, frag_rank=1),
    ]
    r.peak_live, r.held_at_peak_live = 4000, 16384
    r.peak_held, r.live_at_peak_held = 16384, 3000
    r.jw_h_over_l_at_peak_live = 16384 / 4000
    r.jw_h_over_l_at_peak_held = 16384 / 3000
    r.jw_max_h_over_max_l = 16384 / 4000
    r.mallocs, r.tiny_allocs = 600, 0
    r.heap_goal = 5 << 20
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def doc_of(r, **kw):
    return json.loads(rep.to_json(r, "traces/t.msgpack", header=HEADER, sha256="ab" * 32, **kw))


def test_schema_top_level_and_trace_and_config():
    d = doc_of(make_report(), sources={"gogc": "env", "gomemlimit": "flag"})
    assert d["schema"] == "goalloc-replay/1"
    assert d["tool"]["name"] == "goalloc" and d["tool"]["version"]
    assert d["trace"] == {"path": "traces/t.msgpack", "sha256": "ab" * 32, "header": HEADER,
                          "events": 10}
    c = d["config"]
    assert (c["go_version"], c["table"], c["gogc"], c["gomemlimit"]) == ("1.22", "go", None,
                                                                         512 << 20)
    assert c["gomaxprocs"] == {"recorded": 2, "modelled": 2}
    assert (c["gc_mode"], c["free_semantics"], c["sizes"]) == ("pacer", "death", "requested")
    assert c["sources"] == {"gogc": "env", "gomemlimit": "flag"}
    for key in ("metrics", "memory", "fragmentation", "jw", "classes", "cycles", "counters"):
        assert key in d
    assert "/abs/" not in json.dumps(d)  # only the path as given


def test_metrics_sorted_with_units_and_runtime_values():
    d = doc_of(make_report())
    names = [m["name"] for m in d["metrics"]]
    assert names == sorted(names) and len(names) == len(set(names))
    for m in d["metrics"]:
        assert set(m) == {"name", "unit", "value"}
        assert m["unit"] == m["name"].rsplit(":", 1)[1]
    v = {m["name"]: m["value"] for m in d["metrics"]}
    assert v["/gc/gogc:percent"] == -1  # GOGC=off, as runtime/metrics
    assert v["/gc/gomemlimit:bytes"] == 512 << 20
    assert v["/memory/classes/heap/unused:bytes"] == 8192
    assert v["/goalloc/memory/classes/heap/total:bytes"] == 40960
    assert v["/goalloc/peak/memory/classes/heap/total:bytes"] == 24576
    assert v["/goalloc/frag/rounding:bytes"] == 100
    assert v["/goalloc/peak/frag/rounding:bytes"] == 200
    assert v["/goalloc/frag/jw/h-over-l-at-peak-live:ratio"] == 4.096  # 16384 / 4000
    assert v["/goalloc/frag/jw/max-h-over-max-l:ratio"] == 4.096
    assert v["/goalloc/frag/jw/h-over-l-at-peak-held:ratio"] == 5.46133333333  # 16384/3000, 12 digits
    assert v["/goalloc/sizeclass/5-noscan/spans:count"] == 1
    assert v["/goalloc/sizeclass/1/frag:bytes"] == 8192 - 3900


def test_a_metric_name_has_one_author(monkeypatch):
    # metric_values names every figure once, from the engine's own values: a name two of its
    # parts define is an error, not a silent overwrite
    r = make_report()
    v = M.metric_values(r)
    assert v["/goalloc/sizeclass/1/utilisation:ratio"] == 500 / 1024
    assert v["/gc/heap/allocs:objects"] == 600
    monkeypatch.setattr(M, "scavenge_cpu_metrics", lambda rep: {"/gc/heap/allocs:objects": 1})
    with pytest.raises(ValueError, match="defined twice"):
        M.metric_values(r)


def test_classes_worst_first_with_hand_figures():
    d = doc_of(make_report())
    c1, c5 = d["classes"]
    # the engine's ranking (frag_rank) orders them: class 5 noscan first
    assert (c1["label"], c1["frag_bytes"]) == ("5-noscan", 7792)
    assert (c5["label"], c5["frag_bytes"]) == ("1", 4292)
    assert c1["slots"] == (8192 - 32) // 48 == 170
    assert c1["util_mean"] == 0.0588235294118  # 10 live / 170 slots, 12 significant digits
    assert c5["slots"] == 1024 and c5["util_mean"] == 500 / 1024
    assert c1["frag_share"] + c5["frag_share"] == pytest.approx(1.0)
    assert c1["bytes_held"] == 8192


def test_json_is_deterministic_and_ends_with_newline():
    a = rep.to_json(make_report(), "t.msgpack", header=HEADER, sha256="0" * 64)
    b = rep.to_json(make_report(), "t.msgpack", header=HEADER, sha256="0" * 64)
    assert a == b and a.endswith("}\n") and not a.endswith("\n\n")


def test_unknown_report_fields_are_added_and_timeline_is_not():
    @dataclass
    class Bigger(Report):
        slot_hist: list | None = None
        timeline: list | None = None

    r = make_report()
    big = Bigger(**{f: getattr(r, f) for f in r.__dataclass_fields__})
    big.slot_hist = [1, 2, 3]
    big.timeline = [{"event": 1}]
    d = doc_of(big)
    assert d["slot_hist"] == [1, 2, 3]
    assert "timeline" not in d


def test_rounding_null_on_slot_size_traces():
    r = make_report(sizes="slot")
    r.end_frag.rounding = None
    d = doc_of(r)
    v = {m["name"]: m["value"] for m in d["metrics"]}
    assert v["/goalloc/frag/rounding:bytes"] is None


@dataclass
class Sample:
    event: int
    objects: int
    ratio: float


def test_timeline_csv():
    timeline = [Sample(0, 8192, 0.5), Sample(5, 16384, 1 / 3)]
    assert rep.timeline_csv(timeline) == (
        "event,objects,ratio\n0,8192,0.5\n5,16384,0.333333333333\n")
    assert rep.timeline_csv([]) == "\n"


def test_text_report_header_and_sections():
    from rich.console import Console

    buf = io.StringIO()
    rep.render(make_report(), Console(file=buf, width=200, color_system=None), header=HEADER,
               sources={"gogc": "env", "gomemlimit": "flag", "gomaxprocs": "trace",
                        "go_version": "trace"})
    text = buf.getvalue()
    for want in ("1.22 modelled (the trace's release), trace recorded with go1.22.1",
                 "GOGC          off (env)", "512MiB = 512 MiB (flag)",
                 "2 modelled (trace), 2 recorded", "pacer", "death",
                 "rounding waste", "Johnstone & Wilson", "H/L at peak L 4.096",
                 "5 noscan", "1 cycle\n", "(limit)", "40.0 KiB"):
        assert want in text, want
