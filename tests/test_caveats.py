"""Caveats (#19): every figure the trace cannot support carries one line in the text report and
an entry in the JSON's `caveats`; knobs are spelled as Go spells them. Hand-made traces whose
clock, sizes, Ps and live heap are known by construction."""

from __future__ import annotations

import json

import pytest
from conftest import write_trace

from goalloc.trace import Header
from goalloc.trace import format as fmt

pytestmark = pytest.mark.usefixtures("clean_knob_env")


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")


def churn(step_ns: int, n: int = 3000, size: int = 33000):
    """33000 B objects, each freed 10 allocations later: a steady heap and many GC cycles;
    event k at k * step_ns."""
    ev = []
    for i in range(n):
        ev.append(dict(kind=fmt.ALLOC, p=0, id=i, size=size))
        if i >= 10:
            ev.append(dict(kind=fmt.FREE, p=0, id=i - 10))
    return [dict(e, ts=step_ns * k) for k, e in enumerate(ev)]


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    d = tmp_path_factory.mktemp("caveats")
    keep = [dict(kind=fmt.ALLOC, ts=1000 * i, p=0, id=i, size=33000) for i in range(200)]
    est = [dict(kind=fmt.ALLOC, ts=1000 * i, p=i % 2, id=i, size=9000,
                flags=fmt.FLAG_SIZE_ESTIMATED if i % 4 else 0) for i in range(8)]
    return {
        # 1 ns apart: an importer's event order, not a clock
        "noclock": write_trace(d / "noclock.msgpack", churn(1), Header(gomaxprocs=1)),
        # 1 us apart: a clock; 5,990 events span 5.989 ms
        "clock": write_trace(d / "clock.msgpack", churn(1000), Header(gomaxprocs=1)),
        # 200 x 40960 B large spans never freed: 8,192,000 B live
        "keep": write_trace(d / "keep.msgpack", keep, Header(gomaxprocs=2)),
        # 8 allocations of 9000 B (Go class 52, 9472 B slots), 6 of them estimated
        "est": write_trace(d / "est.msgpack", est, Header(gomaxprocs=2)),
    }


def replay_json(cli, *args):
    code, out, err = cli("replay", *map(str, args), "--json")
    assert code == 0, err
    return json.loads(out)


def codes(doc):
    return [c["code"] for c in doc["caveats"]]


def metric(doc, name):
    return {m["name"]: m["value"] for m in doc["metrics"]}[name]


def caveat_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  ! ")]


def test_no_clock_withholds_every_time_based_figure(cli, traces):
    doc = replay_json(cli, traces["noclock"])
    assert "no-clock" in codes(doc)
    assert doc["counters"]["mallocs"] == 3000 and len(doc["cycles"]) > 1
    for name in ("/goalloc/gc/mmu/1ms:ratio", "/goalloc/gc/pauses/total:seconds",
                 "/sched/pauses/total/gc:seconds", "/sync/mutex/wait/total:seconds"):
        assert metric(doc, name) is None, name
    assert metric(doc, "/gc/cycles/total:gc-cycles") >= 1  # counts stay
    code, out, _ = cli("replay", traces["noclock"])
    assert code == 0
    figures = "\n".join(x for x in out.splitlines() if not x.startswith("  ! "))
    assert "MMU" not in figures and "µs" not in figures and " ms" not in figures
    assert "@ event" in out
    # the first cycle is placed at its event index, as the JSON records it
    first = doc["cycles"][0]["start_event"]
    assert any(line.split()[:2] == ["1", f"{first:,}"] for line in out.splitlines())
    (line,) = [c for c in caveat_lines(out) if "no real clock" in c]
    assert "5,990 events" in line


def test_no_clock_gctrace_and_timeline_carry_no_time(cli, traces, tmp_path):
    """Without a real clock gctrace lines keep their shape but every time and CPU field is 0,
    the timeline CSV's ts column is empty (its event column places the samples), and the GC
    CPU metrics are null; with a clock they are filled."""
    code, out, _ = cli("replay", traces["noclock"], "--gctrace")
    assert code == 0 and out
    for line in out.splitlines():
        assert " @0.000s 0%: 0+0+0 ms clock, 0+0/0/0+0 ms cpu, " in line, line
    csv_path = tmp_path / "t.csv"
    code, _, err = cli("replay", traces["noclock"], "--timeline", csv_path)
    assert code == 0, err
    head, *rows = csv_path.read_text().splitlines()
    cols = head.split(",")
    assert rows and all(r.split(",")[cols.index("ts")] == "" for r in rows)
    assert all(r.split(",")[cols.index("event")] != "" for r in rows)
    doc = replay_json(cli, traces["noclock"])
    for name in ("/cpu/classes/gc/total:cpu-seconds", "/goalloc/gc/cpu-fraction:ratio"):
        assert metric(doc, name) is None, name
    code, out, _ = cli("replay", traces["clock"], "--gctrace")
    assert code == 0 and " @0.000s 0%: 0+0+0 ms clock" not in out
    assert metric(replay_json(cli, traces["clock"]), "/goalloc/gc/cpu-fraction:ratio") > 0


def test_mmu_windows_longer_than_the_trace_are_omitted(cli, traces):
    doc = replay_json(cli, traces["clock"])
    # 5,990 events 1 us apart: 5.989 ms, so 10ms, 100ms and 1s exceed the trace, 1ms does not
    assert "no-clock" not in codes(doc)
    (cv,) = [c for c in doc["caveats"] if c["code"] == "mmu-windows"]
    assert "10ms, 100ms, 1s" in cv["text"] and "6.0 ms" in cv["text"]
    assert metric(doc, "/goalloc/gc/mmu/1ms:ratio") is not None
    for w in ("10ms", "100ms", "1s"):
        assert metric(doc, f"/goalloc/gc/mmu/{w}:ratio") is None
    _, out, _ = cli("replay", traces["clock"])
    (mmu,) = [line for line in out.splitlines() if line.startswith("  MMU")]
    assert "1ms" in mmu and "10ms" not in mmu and "1s" not in mmu


def test_estimated_sizes_are_counted_and_named(cli, traces):
    doc = replay_json(cli, traces["est"])
    assert doc["estimated_sizes"] == 6
    (cv,) = [c for c in doc["caveats"] if c["code"] == "estimated-sizes"]
    assert "75% of 6 allocations" in cv["text"]
    assert "/goalloc/frag/rounding:bytes" in cv["metrics"]
    code, out, _ = cli("replay", traces["est"])
    assert "requested sizes, 75% estimated" in out.splitlines()[1]
    # Go's class 52 holds 9000 B requests in 9472 B slots: printed exactly, not as 9.2 KiB
    assert "9472 B" in out and "9.2 KiB" not in out
    code, out, err = cli("classes", "go", "pow2", "--trace", traces["est"])
    assert code == 0, err
    assert "caveat: requested sizes are estimates for 75% of 6 allocations" in out


def test_procs_beyond_the_trace(cli, traces):
    doc = replay_json(cli, traces["est"], "--procs", "8")
    (cv,) = [c for c in doc["caveats"] if c["code"] == "procs-beyond-trace"]
    assert "GOMAXPROCS 8 modelled on a 2-P trace" in cv["text"] and "Ps 2-7" in cv["text"]
    assert "procs-beyond-trace" not in codes(replay_json(cli, traces["est"], "--procs", "2"))
    assert "procs-beyond-trace" not in codes(replay_json(cli, traces["est"], "--procs", "1"))


def test_gogc_with_recorded_gc(cli, traces, monkeypatch):
    doc = replay_json(cli, traces["est"], "--gc", "recorded", "--gogc", "50")
    (cv,) = [c for c in doc["caveats"] if c["code"] == "gogc-recorded"]
    assert cv["text"].startswith("GOGC 50 (flag) does not start cycles")
    assert "gogc-recorded" not in codes(replay_json(cli, traces["est"], "--gc", "recorded"))
    assert "gogc-recorded" not in codes(replay_json(cli, traces["est"], "--gogc", "50"))
    monkeypatch.setenv("GOGC", "75")
    doc = replay_json(cli, traces["est"], "--gc", "recorded")
    assert "GOGC 75 (env)" in doc["caveats"][-1]["text"]
    _, out, _ = cli("replay", traces["est"], "--gc", "recorded")
    assert "cycles come from the trace" in next(x for x in out.splitlines()
                                                if x.startswith("GOGC"))


def test_memlimit_below_the_live_heap(cli, traces):
    # 200 x 40960 B spans = 7.8 MiB live and never freed: a 1 MiB limit cannot be met
    doc = replay_json(cli, traces["keep"], "--memlimit", "1MiB")
    (cv,) = [c for c in doc["caveats"] if c["code"] == "memlimit-below-live"]
    assert cv["text"].startswith("GOMEMLIMIT 1.0 MiB is below the live heap")
    assert f"({len([c for c in doc['cycles'] if c['end_event'] is not None]):,} cycles)" \
        in cv["text"]
    # a limit above everything the trace allocates (8,192,000 B) is no caveat
    assert "memlimit-below-live" not in codes(replay_json(cli, traces["keep"], "--memlimit",
                                                          "64MiB"))


def test_negative_gogc_is_off_as_in_go(cli, traces, monkeypatch):
    off = replay_json(cli, traces["keep"], "--gogc", "off")
    for spelling in ("-1", "-5"):
        neg = replay_json(cli, traces["keep"], "--gogc", spelling)
        assert neg["config"]["gogc"] is None
        assert neg["metrics"] == off["metrics"]
    monkeypatch.setenv("GOGC", "-100")
    assert replay_json(cli, traces["keep"])["config"]["gogc"] is None
    monkeypatch.delenv("GOGC")
    code, _, err = cli("replay", traces["keep"], "--gogc", "-3000000000")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "int32" in err
    code, _, err = cli("replay", traces["keep"], "--gogc", "fifty")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_no_sentinel_is_printed_as_a_size(cli, traces):
    code, out, _ = cli("replay", traces["clock"], "--gogc", "off")
    assert code == 0 and "PiB" not in out and "EiB" not in out
    assert "heap goal now none" in out


def test_peak_labels_say_which_peak_and_held_has_one_meaning(cli, traces):
    doc = replay_json(cli, traces["clock"])
    _, out, _ = cli("replay", traces["clock"])
    assert f"at peak held (event {doc['memory']['peak_event']:,})" in out
    peak = doc["memory"]["peak"]
    held = peak["total"] - peak["released"]
    assert held == doc["counters"]["peak_held"]  # the J&W H and the table's "held" agree
    (row,) = [x for x in out.splitlines() if x.startswith("held ")]
    from goalloc.report.units import iec_bytes

    assert row.split()[-2:] == iec_bytes(held).split()


def test_a_trace_naming_no_release_gets_one_default_everywhere(cli, traces):
    from goalloc.engine.config import NEWEST_GO_VERSION

    _, out, _ = cli("replay", traces["est"])
    assert f"{NEWEST_GO_VERSION} modelled (the newest; the trace names none)" in out
    code, out, err = cli("classes", "--trace", traces["est"])
    assert code == 0, err
    assert f"Go {NEWEST_GO_VERSION} profile" in out.splitlines()[0]


MTRACE = "= Start\n" + "".join(f"@ ./prog:[0x401136] + 0x{0x5555555592a0 + 0x100 * i:x} 0x40\n"
                               for i in range(20)) + "= End\n"


def test_a_recorder_file_is_named_by_the_users_path(cli, tmp_path, monkeypatch):
    src = tmp_path / "prog.mtrace"
    src.write_text(MTRACE)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("replay", "prog.mtrace")
    assert code == 0, err
    assert out.splitlines()[1].split()[:2] == ["trace", "prog.mtrace"]


def test_grid_peak_held_is_the_same_held(cli, traces):
    from goalloc.report.units import iec_bytes

    code, out, err = cli("replay", traces["clock"], "--gogc", "50,100", "-j", "1")
    assert code == 0, err
    header = next(x for x in out.splitlines() if "peak held" in x)
    col = header.index("peak held") + len("peak held")  # right-aligned column end
    for gogc in ("50", "100"):
        held = replay_json(cli, traces["clock"], "--gogc", gogc)["counters"]["peak_held"]
        row = next(x for x in out.splitlines() if x.split()[:1] == [gogc])
        assert row[:col].rstrip().endswith(iec_bytes(held)), (row, held)


def test_peak_inuse_moves_with_one_span_where_the_mapped_peak_cannot(cli, tmp_path):
    # 100 vs 101 pointer-free objects of 8192 B (Go class 51: one object per one-page span),
    # never freed,
    # far below the 4 MiB heap minimum: no GC. In-use spans differ by exactly one page; the
    # heap maps memory in 4 MiB steps, so the peak total cannot tell them apart.
    docs = []
    for n in (100, 101):
        ev = [dict(kind=fmt.ALLOC, ts=1000 * i, p=0, id=i, size=8192, flags=fmt.FLAG_NOSCAN)
              for i in range(n)]  # noscan: no malloc header, so exactly the 8192 B class
        path = write_trace(tmp_path / f"t{n}.msgpack", ev, Header(gomaxprocs=1))
        docs.append(replay_json(cli, path))
        code, _, err = cli("replay", path, "--timeline", tmp_path / f"t{n}.csv")
        assert code == 0, err
    a, b = (metric(d, "/goalloc/peak/heap/inuse-sampled:bytes") for d in docs)
    assert (a, b) == (100 * 8192, 101 * 8192)
    assert metric(docs[0], "/goalloc/peak/memory/classes/heap/total:bytes") == \
        metric(docs[1], "/goalloc/peak/memory/classes/heap/total:bytes")
    # the metric is the largest objects + unused over the timeline's rows
    import csv

    rows = list(csv.DictReader(open(tmp_path / "t101.csv")))
    assert b == max(int(r["objects"]) + int(r["unused"]) for r in rows)
    # a 0.5% gate on it crosses (+1%); the same gate on the peak total does not (+0%)
    for i, d in enumerate(docs):
        (tmp_path / f"r{i}.json").write_text(json.dumps(d))
    code, _, err = cli("compare", tmp_path / "r0.json", tmp_path / "r1.json",
                       "--allow-different-traces",
                       "--fail-on", "/goalloc/peak/heap/inuse-sampled:bytes>+0.5%")
    assert code == 1 and "+1.00%" in err
    code, _, err = cli("compare", tmp_path / "r0.json", tmp_path / "r1.json",
                       "--allow-different-traces",
                       "--fail-on", "/goalloc/peak/memory/classes/heap/total:bytes>+0.5%")
    assert code == 0, err
