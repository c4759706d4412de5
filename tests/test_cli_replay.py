"""`goalloc replay`: knobs (flag vs env), header echo, JSON schema and byte-identical
determinism, gctrace shape, hand-worked figures, output files and errors.

Traces are tiny and few: the engine compiles once per process (~30 s cold)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import run_goalloc, write_trace

from goalloc.report.gctrace import fmt_ns_as_ms
from goalloc.trace import Header
from goalloc.trace import format as fmt

KNOB_ENV = ("GOGC", "GOMEMLIMIT", "GOMAXPROCS")


@pytest.fixture(autouse=True)
def _clean_knob_env(monkeypatch):
    for k in KNOB_ENV:
        monkeypatch.delenv(k, raising=False)


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    d = tmp_path_factory.mktemp("replay")
    big = [dict(kind=fmt.ALLOC, ts=i, p=0, id=i, size=33000) for i in range(100)]
    small = [dict(kind=fmt.ALLOC, ts=i, p=0, id=i, size=8) for i in range(1024)]
    churn = []
    for i in range(3000):  # 33000 B objects, each freed 10 allocations later: ~30 cycles
        churn.append(dict(kind=fmt.ALLOC, p=0, id=i, size=33000))
        if i >= 10:
            churn.append(dict(kind=fmt.FREE, p=0, id=i - 10))
    churn = [dict(e, ts=1000 * k) for k, e in enumerate(churn)]
    return {
        "big": write_trace(d / "big.msgpack", big, Header(gomaxprocs=1)),
        "small": write_trace(d / "small.msgpack", small,
                             Header(gomaxprocs=4, source={"go_version": "go1.19.8"})),
        "churn": write_trace(d / "churn.msgpack", churn, Header(gomaxprocs=2)),
        "dir": d,
    }


def js(out):
    return json.loads(out)


def metric(doc, name):
    return {m["name"]: m["value"] for m in doc["metrics"]}[name]


# ---- hand-worked figures ---------------------------------------------------------------------

def test_large_objects_33000_b(cli, traces):
    # Newest profile (1.27, small_max 32760): 33000 B is large: ceil(33000/8192) = 5 pages =
    # 40960 B each, rounding 40960 - 33000 = 7960 B each. 100 of them: 500 pages in use,
    # 4096000 B held, all counted as objects (a large span is its object), 0 unused.
    # 500 pages < 512: one 4 MiB heap growth, the 12 pages never used stay released.
    code, out, err = cli("replay", traces["big"], "--json")
    assert code == 0, err
    d = js(out)
    assert d["config"]["go_version"] == "1.27"
    assert d["config"]["sources"]["go_version"] == "default"
    (c,) = d["classes"]
    assert (c["size_class"], c["spans"], c["pages"], c["bytes_held"]) == (0, 100, 500, 4096000)
    assert c["frag_bytes"] == 100 * 7960
    assert metric(d, "/goalloc/frag/rounding:bytes") == 796000
    assert metric(d, "/memory/classes/heap/objects:bytes") == 4096000
    assert metric(d, "/memory/classes/heap/unused:bytes") == 0
    assert metric(d, "/memory/classes/heap/released:bytes") == 12 * 8192
    assert metric(d, "/goalloc/memory/classes/heap/total:bytes") == 4 << 20
    # J&W: peak L = 100 * 33000 with H = 4096000 there
    assert metric(d, "/goalloc/frag/jw/peak-live:bytes") == 3300000
    # the command is thin: its metrics are the library's, value for value
    from goalloc.engine.replay import replay as engine_replay
    from goalloc.report.metrics import metric_records
    lib = metric_records(engine_replay(traces["big"]))
    assert d["metrics"] == lib
    assert metric(d, "/goalloc/frag/jw/h-over-l-at-peak-live:ratio") == pytest.approx(4096000 / 3300000)


def test_119_class1_one_span_and_header_echo(cli, traces):
    # go1.19: 1024 x 8 B pointerful fill one class-1 span exactly: 8192 B objects, 0 unused.
    code, out, err = cli("replay", traces["small"], "--go-version", "1.19", "--json")
    assert code == 0, err
    d = js(out)
    assert d["config"]["go_version"] == "1.19" and d["config"]["sources"]["go_version"] == "flag"
    assert d["config"]["gomaxprocs"] == {"recorded": 4, "modelled": 4}
    (c,) = d["classes"]
    assert (c["size_class"], c["noscan"], c["spans"], c["allocated_slots"]) == (1, False, 1, 1024)
    assert (c["slots"], c["util_mean"], c["frag_bytes"]) == (1024, 1.0, 0)
    assert metric(d, "/memory/classes/heap/objects:bytes") == 8192
    assert metric(d, "/memory/classes/heap/unused:bytes") == 0
    assert metric(d, "/goalloc/frag/rounding:bytes") == 0


def test_text_report_echoes_the_effective_configuration(cli, traces, monkeypatch):
    monkeypatch.setenv("GOGC", "50")
    code, out, err = cli("replay", traces["small"], "--memlimit", "512MiB", "--procs", "2",
                         "--go-version", "1.19")
    assert code == 0, err
    for want in ("small.msgpack", "1.19 modelled (--go-version), trace recorded with go1.19.8",
                 "size classes  go", "GOGC          50 (env)",
                 "GOMEMLIMIT    512MiB = 512 MiB (flag)", "GOMAXPROCS    2 modelled (flag), 4 recorded",
                 "GC mode       pacer", "frees         death",
                 "Heap memory classes (modelled)", "objects", "unused", "released", "total",
                 "rounding waste", "span tail waste", "free slots in in-use spans",
                 "Johnstone & Wilson", "Size classes at the end", "8.0 KiB", "GC (modelled"):
        assert want in out, want
    assert "\x1b[" not in out  # no colour when not a terminal


def test_version_from_trace_header(cli, traces):
    code, out, err = cli("replay", traces["small"], "--json")
    d = js(out)
    assert d["config"]["go_version"] == "1.19" and d["config"]["sources"]["go_version"] == "trace"


# ---- knobs -----------------------------------------------------------------------------------

def test_flag_wins_over_env_and_env_is_used(cli, traces, monkeypatch):
    monkeypatch.setenv("GOGC", "off")
    monkeypatch.setenv("GOMEMLIMIT", "1GiB")
    monkeypatch.setenv("GOMAXPROCS", "3")
    d = js(cli("replay", traces["big"], "--json")[1])
    c = d["config"]
    assert (c["gogc"], c["gomemlimit"], c["gomaxprocs"]["modelled"]) == (None, 1 << 30, 3)
    assert c["sources"] == {"go_version": "default", "gogc": "env", "gomemlimit": "env",
                            "gomaxprocs": "env"}
    assert metric(d, "/gc/gogc:percent") == -1
    d = js(cli("replay", traces["big"], "--json", "--gogc", "200", "--memlimit", "100",
               "--procs", "1")[1])
    c = d["config"]
    assert (c["gogc"], c["gomemlimit"], c["gomaxprocs"]["modelled"]) == (200, 100, 1)
    assert set(c["sources"].values()) == {"flag", "default"}
    assert metric(d, "/gc/gomemlimit:bytes") == 100


def test_defaults(cli, traces):
    c = js(cli("replay", traces["big"], "--json")[1])["config"]
    assert (c["gogc"], c["gomemlimit"], c["gc_mode"], c["table"]) == (100, None, "pacer", "go")


@pytest.mark.parametrize("args, env, words", [
    (["--gogc", "-1.5"], {}, ["--gogc", "'-1.5'"]),
    (["--gogc", "lots"], {}, ["--gogc", "'lots'"]),
    ([], {"GOGC": "1e3"}, ["GOGC", "'1e3'"]),
    (["--memlimit", "512MB"], {}, ["--memlimit", "'512MB'"]),
    ([], {"GOMEMLIMIT": "1G"}, ["GOMEMLIMIT", "'1G'"]),
    (["--procs", "0"], {}, ["--procs", "'0'"]),
    ([], {"GOMAXPROCS": "many"}, ["GOMAXPROCS", "'many'"]),
    (["--go-version", "1.12"], {}, ["1.12"]),
    (["--classes", "nope"], {}, ["nope"]),
])
def test_bad_knobs_one_line_exit_2(cli, traces, monkeypatch, args, env, words):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, out, err = cli("replay", traces["big"], *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("goalloc: error: "), err
    for w in words:
        assert w in err


# ---- JSON ------------------------------------------------------------------------------------

def test_json_byte_identical_across_runs_and_files(cli, traces):
    d = traces["dir"]
    a, b = d / "a.json", d / "b.json"
    for p in (a, b):
        p.unlink(missing_ok=True)
    assert cli("replay", traces["churn"], "-o", a)[0] == 0
    code, out, err = cli("replay", traces["churn"], "--json-out", b, "--json")
    assert code == 0, err
    assert a.read_bytes() == b.read_bytes() == out.encode()
    doc = json.loads(a.read_text())
    assert doc["trace"]["path"] == str(traces["churn"])
    import hashlib
    assert doc["trace"]["sha256"] == hashlib.sha256(traces["churn"].read_bytes()).hexdigest()
    assert doc["trace"]["header"]["gomaxprocs"] == 2
    assert len(doc["cycles"]) >= 10


def test_json_in_a_fresh_process_is_identical(traces):
    # A subprocess (fresh interpreter, hash seeds, cached kernels) writes the same bytes.
    r1 = run_goalloc("replay", traces["churn"], "--json")
    r2 = run_goalloc("replay", traces["churn"], "--json")
    assert r1.returncode == 0, r1.stderr
    assert r1.stdout == r2.stdout


def test_output_never_overwritten_without_force(cli, traces):
    out = traces["dir"] / "exists.json"
    out.write_text("keep me")
    code, o, err = cli("replay", traces["big"], "-o", out)
    assert code == 2 and "already exists" in err and str(out) in err
    assert out.read_text() == "keep me"
    code, o, err = cli("replay", traces["big"], "-o", out, "--force")
    assert code == 0, err
    assert json.loads(out.read_text())["schema"] == "goalloc-replay/1"
    assert not list(traces["dir"].glob(".exists.json.*"))  # no temp file left


# ---- gctrace ---------------------------------------------------------------------------------

# Written from conventions.md: gc N @T s P%: A+B+C ms clock, a+b/c/d+e ms cpu,
# X->Y->Z MB, G MB goal, S MB stacks, L MB globals, n P   (MB = 2^20 bytes)
F = r"(\d+(?:\.\d+)?)"
GCTRACE = re.compile(
    rf"gc (\d+) @(\d+\.\d+)s (\d+)%: {F}\+{F}\+{F} ms clock, {F}\+{F}/{F}/{F}\+{F} ms cpu, "
    r"(\d+)->(\d+)->(\d+) MB, (\d+) MB goal, (\d+) MB stacks, (\d+) MB globals, (\d+) P"
)


def test_gctrace_lines_shape_and_values(cli, traces):
    code, out, err = cli("replay", traces["churn"], "--gctrace")
    assert code == 0, err
    lines = out.splitlines()
    doc = js(cli("replay", traces["churn"], "--json")[1])
    done = [c for c in doc["cycles"] if c["end_event"] is not None]
    assert len(lines) == len(done) >= 10
    t0 = doc["gc_cpu"]["span_ns"][0]
    gc = extra = 0
    for line, c in zip(lines, done, strict=True):
        m = GCTRACE.fullmatch(line)
        assert m, line
        g = [m.group(i) for i in range(1, 19)]
        assert int(g[0]) == c["n"]
        # A and C: the cycle's modelled STW pauses (issue #6)
        pauses = {p["n"]: p for p in doc["pauses"]["cycles"]}[c["n"]]
        sweep, term = pauses["sweep_termination_ns"], pauses["mark_termination_ns"]
        assert g[3] == fmt_ns_as_ms(sweep)
        assert g[5] == fmt_ns_as_ms(term)
        # CPU (#15): pauses x GOMAXPROCS, the cycle's assist and worker time, no idle marking
        assert g[6:11] == [fmt_ns_as_ms(sweep * 2), fmt_ns_as_ms(c["assist_cpu_ns"]),
                           fmt_ns_as_ms(c["mark_cpu_ns"]), "0", fmt_ns_as_ms(term * 2)]
        # P%: GC CPU up to this cycle's end over 2 Ps x the time since the trace's start, the
        # assist and pause time added to the run
        gc += c["assist_cpu_ns"] + c["mark_cpu_ns"] + (sweep + term) * 2
        extra += c["assist_cpu_ns"] + (sweep + term) * 2
        assert int(g[2]) == int(100 * gc / ((c["end_ts"] - t0) * 2 + extra))
        assert [int(x) for x in g[11:15]] == [c["heap_at_trigger"] >> 20, c["heap_at_end"] >> 20,
                                              c["marked"] >> 20, c["goal"] >> 20]
        assert int(g[17]) == 2  # GOMAXPROCS from the header


def test_gctrace_and_json_together_is_a_usage_error(cli, traces):
    code, out, err = cli("replay", traces["big"], "--gctrace", "--json")
    assert code == 2 and "stdout" in err


# ---- errors and timeline ---------------------------------------------------------------------

def test_bad_trace_one_line_exit_2(traces):
    bad = traces["dir"] / "bad.msgpack"
    bad.write_bytes(b"\x93not a trace")
    r = run_goalloc("replay", bad)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and str(bad) in r.stderr and "Traceback" not in r.stderr


def test_invalid_events_stop_with_the_trace_layers_error(cli, traces):
    # a free of an object never allocated: the validator's one-line error, located
    p = write_trace(traces["dir"] / "inv.msgpack",
                    [dict(kind=fmt.ALLOC, ts=0, id=0, size=16), dict(kind=fmt.FREE, ts=1, id=5)])
    code, out, err = cli("replay", p)
    assert code == 2 and err.count("\n") == 1
    assert str(p) in err and "event 1" in err


def test_missing_trace(cli, traces):
    code, out, err = cli("replay", traces["dir"] / "nope.msgpack")
    assert code == 2 and "nope.msgpack" in err


def test_timeline(cli, traces):
    out = traces["dir"] / "tl.csv"
    code, o, err = cli("replay", traces["churn"], "--timeline", out)
    assert code == 0, err
    rows = out.read_text().splitlines()
    cols = rows[0].split(",")
    for name in ("objects", "unused", "free", "released"):  # the memory classes over time
        assert name in cols
    assert len(rows) >= 3 and all(len(r.split(",")) == len(cols) for r in rows)
    # the last sample is the end of the replay: it agrees with the report's end classes
    last = dict(zip(cols, rows[-1].split(","), strict=True))
    d = js(cli("replay", traces["churn"], "--json")[1])
    for name in ("objects", "unused", "free", "released"):
        assert int(last[name]) == d["memory"]["end"][name], name
    code, o, err = cli("replay", traces["churn"], "--timeline", out)
    assert code == 2 and "already exists" in err
