"""The HTML report without a browser (tests/test_html_browser.py opens them in Chromium): the
embedded JSON is `goalloc replay --json`'s, byte for byte; the numbers the charts carry (data-*
attributes) and the picture data equal the JSON's; downsampling keeps extremes; figures as
SVG files; determinism; errors."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest
from html_pages import GO_TRACE, goalloc, session_pages

from goalloc.engine.pauses import WINDOWS_NS
from goalloc.report.html import data, embedded_reports
from goalloc.report.html.figures import XAxis, goal_steps, waste_parts
from goalloc.report.html.page import SCHEMA


class Elements(HTMLParser):
    """Every element as (tag, attrs dict), in document order."""

    def __init__(self, text):
        super().__init__()
        self.items = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.items.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def having(self, cls=None, **attrs):
        out = []
        for _tag, a in self.items:
            if cls is not None and cls not in (a.get("class") or "").split():
                continue
            if all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(a)
        return out


@pytest.fixture(scope="session")
def pages(tmp_path_factory):
    return session_pages(tmp_path_factory)


def embedded_data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="goalloc-data">(.*?)</script>', text,
                  re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


# -- pure functions, hand-made inputs --------------------------------------------------------


def test_thin_keeps_first_last_and_every_buckets_extremes():
    n = 10_000
    xs = np.arange(n, dtype=np.float64)
    key = np.sin(xs / 300.0) * 100
    key[4321] = 1e6  # a spike
    key[777] = -1e6  # a dip
    keep = data.thin(np.zeros((n, 1)), key, xs, 400)
    assert len(keep) <= 400
    assert list(keep) == sorted(set(keep.tolist()))
    for i in (0, n - 1, 4321, 777):
        assert i in keep
    # few rows: all kept
    assert list(data.thin(np.zeros((5, 1)), key[:5], xs[:5], 400)) == [0, 1, 2, 3, 4]


def test_goal_steps_follow_the_pacer():
    """Cycle k's goal holds from the end of cycle k-1 to the end of cycle k; the final goal
    after that, to the end of the x axis."""
    doc = {"cycles": [{"goal": 100, "end_ts": 1_010, "end_event": 5},
                      {"goal": 150, "end_ts": 1_030, "end_event": 9}],
           "counters": {"heap_goal": 200}}
    series = {"x": "ns", "timeline": {"ts": [1_000, 1_050], "event": [0, 12]}}
    xs, ys = goal_steps(doc, XAxis(series))
    assert xs == [0, 10, 30, 50]
    assert ys == [100, 150, 200, 200]
    series["x"] = "event"
    xs, ys = goal_steps(doc, XAxis(series))
    assert xs == [0, 5, 9, 12]


def test_waste_parts_add_up_to_held_and_rounding_is_slot_minus_request(pages):
    """docs/json.md: in-use span bytes = live requested + rounding + dead unswept + free slots
    + tail; rounding of live objects = live slots x slot size - live requested."""
    doc = pages["go"]["docs"][0]
    assert doc["config"]["sizes"] == "requested"
    for cl in doc["classes"]:
        parts = waste_parts(cl)
        assert sum(parts.values()) == cl["bytes_held"], cl["label"]
        if cl["size_class"] > 0:
            assert parts["rounding"] == cl["live_slots"] * cl["slot_size"] - cl["live_requested"]


# -- the pages against the JSON --------------------------------------------------------------


@pytest.mark.parametrize("name", ["go", "grid", "noclock"])
def test_embedded_reports_are_replays_json_byte_for_byte(pages, name):
    p = pages[name]
    assert embedded_reports(p["text"]) == p["json"]
    assert embedded_data(p["text"])["schema"] == SCHEMA


def test_chart_marks_carry_the_json_numbers(pages):
    p = pages["go"]
    doc = p["docs"][0]
    el = Elements(p["text"])
    # cycle table rows and bands: every cycle, once
    rows = el.having("cycle-row")
    assert [int(r["data-n"]) for r in rows] == [c["n"] for c in doc["cycles"]]
    assert [int(r["data-goal"]) for r in rows] == [c["goal"] for c in doc["cycles"]]
    bands = el.having("cycle")
    assert sum(int(b["data-n"]) for b in bands) == len(doc["cycles"])
    # the cycles' STW pauses: two per finished cycle
    ticks = el.having("pause")
    done = sum(1 for c in doc["cycles"] if c["end_ts"] is not None)
    assert sum(int(t["data-n"]) for t in ticks) == len(doc["cycles"]) + done
    # every recorded stop-the-world (GC or not) under them
    rec = el.having("recorded-pause")
    assert sum(int(t["data-n"]) for t in rec) == doc["pauses"]["recorded"]["count"] > 0
    # size classes, worst first as the JSON ranks them; each bar's parts add up to held
    bars = el.having("class-bar")
    held = [c for c in doc["classes"] if c["bytes_held"] > 0]
    assert [b["data-label"] for b in bars] == [c["label"] for c in held[:len(bars)]]
    assert [int(b["data-held"]) for b in bars] == [c["bytes_held"] for c in held[:len(bars)]]
    # the top layer of the stacked timeline ends at the JSON's end memory classes
    for name in ("objects", "unused", "free", "released"):
        (layer,) = el.having("mem", data_layer=name)
        assert int(layer["data-last"]) == doc["memory"]["end"][name]
    # fidelity points: model and recorded in-use at every mark start
    f = doc["fidelity"]
    for key in ("recorded_inuse", "model_inuse"):
        pts = [a for a in el.having(key) if "data-n" in a]
        assert [(int(a["data-n"]), int(a["data-bytes"])) for a in pts] == \
            [(c["n"], c[key]) for c in f["cycles"] if c[key] is not None]
    # MMU dots: the JSON's four windows
    dots = el.having("mmu-point")
    got = {(d["data-source"], d["data-window"]): float(d["data-value"]) for d in dots}
    want = {("gc", w): v for w, v in doc["pauses"]["gc"]["mmu"].items() if v is not None}
    want.update({("recorded", w): v for w, v in doc["pauses"]["recorded"]["mmu"].items()
                 if v is not None})
    assert got == pytest.approx(want, abs=1e-12)


def test_picture_data_agrees_with_the_json(pages):
    """Heap-lock bins add up to the JSON's exact counts and modelled waits per op; the MMU
    curve passes through the JSON's four windows; the thinned timeline ends at the JSON's
    end memory classes."""
    for name in ("go", "grid"):
        d = embedded_data(pages[name]["text"])
        for run, doc in zip(d["runs"], pages[name]["docs"], strict=True):
            s = run["series"]
            lk = doc["locks"]["mheap"]
            for op, n in lk["by_op"].items():
                bins = s["locks"]["ops"].get(op, {"acquisitions": [0], "wait_ns": [0]})
                assert sum(bins["acquisitions"]) == n, op
                assert sum(bins["wait_ns"]) == lk["contention"]["ops"][op]["wait_ns"], op
            mm = s["mmu"]
            p = doc["pauses"]
            for key, table in (("recorded", p["recorded"]["mmu"]),
                               ("cycles", p["gc"]["mmu"] if p["source"] == "modelled" else None)):
                if key not in mm:
                    assert table is None or not p["recorded"]["count"], key
                    continue
                for w, v in table.items():
                    i = mm["windows_ns"].index(WINDOWS_NS[w])
                    assert mm[key][i] == pytest.approx(v, abs=1e-9), (name, key, w)
            tl = s["timeline"]
            assert len(tl["ts"]) <= data.MAX_POINTS
            for col in ("objects", "unused", "free", "released"):
                assert tl[col][-1] == doc["memory"]["end"][col]
            assert tl["event"][-1] == doc["trace"]["events"]


def test_grid_page_overlays_every_configuration(pages):
    p = pages["grid"]
    el = Elements(p["text"])
    lines = el.having("held")
    assert len(lines) == 2
    peaks = [int(r["data-peak-held"]) for r in el.having("whatif-row")]
    assert peaks == [d["counters"]["peak_held"] for d in p["docs"]]
    assert len(el.having(None, **{"data_chart": "heap-timeline"})) == 2 + 2  # multiples + runs
    # GOGC 50 collects more often than GOGC 200 (an expectation, not the code's output)
    cycles = [len(d["cycles"]) for d in p["docs"]]
    assert cycles[0] > cycles[1]


def test_no_clock_trace_draws_against_events(pages):
    p = pages["noclock"]
    s = embedded_data(p["text"])["runs"][0]["series"]
    assert s["x"] == "event"
    assert s["locks"] is None and s["mmu"] is None
    assert "events (the trace has no clock)" in p["text"]
    assert "The trace has no clock" in p["text"]
    doc = p["docs"][0]
    assert len(doc["cycles"]) >= 3  # ~60 MiB allocated against a 4 MiB minimum goal
    charts = {a["data-chart"] for a in Elements(p["text"]).having("chart")}
    assert "heap-timeline" in charts and "mmu" not in charts


# -- CLI: replay --html, figures, determinism, errors -----------------------------------------


def test_replay_html_embeds_the_json_it_writes(tmp_path):
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    code, _, err = goalloc("replay", GO_TRACE, "--html", html, "-o", js, "--gctrace")
    assert code == 0, err
    assert embedded_reports(html.read_text()) == [js.read_text()]
    # a grid: the page holds each run's JSON as the grid document has it (no fidelity added)
    html, js = tmp_path / "g.html", tmp_path / "g.json"
    code, _, err = goalloc("replay", GO_TRACE, "--gogc", "50,100", "-j", 1, "--html", html,
                           "-o", js)
    assert code == 0, err
    runs = json.loads(js.read_text())["runs"]
    assert [json.loads(t) for t in embedded_reports(html.read_text())] == runs
    assert all("fidelity" not in r for r in runs)


def test_svg_figures_are_the_pages_and_well_formed(tmp_path, pages):
    out = tmp_path / "figs"
    code, _, err = goalloc("report", GO_TRACE, "--gc", "recorded", "--format", "svg",
                           "-o", out)
    assert code == 0, err
    files = sorted(out.iterdir())
    ids = re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" id="([^"]+)"', pages["go"]["text"])
    assert sorted(f.stem for f in files) == sorted(ids)
    assert "run0-heap" in ids and "run0-fidelity" in ids
    for f in files:
        root = ET.fromstring(f.read_text())
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert f.read_text() in pages["go"]["text"]
    # existing files are kept without --force
    code, _, err = goalloc("report", GO_TRACE, "--gc", "recorded", "--format", "svg",
                           "-o", out)
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1


def test_report_is_deterministic(tmp_path, pages):
    again = tmp_path / "again.html"
    code, _, err = goalloc("report", GO_TRACE, "--gc", "recorded", "-o", again)
    assert code == 0, err
    assert again.read_bytes() == pages["go"]["html"].read_bytes()


def test_errors_are_one_line(tmp_path, monkeypatch):
    out = tmp_path / "x.html"
    out.write_text("keep")
    code, _, err = goalloc("report", GO_TRACE, "-o", out)
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    assert out.read_text() == "keep"
    monkeypatch.setenv("GOALLOC_CHROMIUM", str(tmp_path / "no-such-browser"))
    code, _, err = goalloc("report", GO_TRACE, "--format", "png", "-o", tmp_path / "png")
    assert code == 2 and "needs a headless Chromium" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "png").exists()
    code, _, err = goalloc("report", tmp_path / "missing.msgpack", "-o", tmp_path / "m.html")
    assert code == 2 and "missing.msgpack" in err


def test_grid_over_traces_draws_every_run_small(pages):
    """Runs of different traces: one small multiple per run (each on its own scale), and each
    run's full section; the page embeds both reports unchanged."""
    from goalloc.report.html import page

    runs = []
    for name in ("go", "noclock"):
        d = embedded_data(pages[name]["text"])
        runs.append({"json": pages[name]["json"][0], "series": d["runs"][0]["series"]})
    text = page(runs)
    el = Elements(text)
    ids = [a["id"] for a in el.having("chart") if a["id"].startswith("grid-multiple-")]
    assert ids == ["grid-multiple-0", "grid-multiple-1"]
    assert embedded_reports(text) == [pages["go"]["json"][0], pages["noclock"]["json"][0]]
    assert len(el.having("run")) == 2


def test_recorders_file_is_imported_and_named(tmp_path):
    """A Go execution trace given as it was recorded: imported first, the page's JSON names
    the recorder's file as replay's does (fidelity included: it recorded runtime facts)."""
    from conftest import REPO

    trace = REPO / "tests" / "data" / "gotrace-tiny.trace"
    html = tmp_path / "tiny.html"
    code, _, err = goalloc("report", trace, "-o", html)
    assert code == 0, err
    code, text, err = goalloc("replay", trace, "--validate", "--json")
    assert code == 0, err
    assert embedded_reports(html.read_text()) == [text]
    assert json.loads(text)["trace"]["format"] == "gotrace"
