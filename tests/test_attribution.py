"""Attribution by Go type / call site (#17): hand-made traces with known answers, sums against
the replay's own totals, and the pprof output read by Go's own `go tool pprof`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.report.pprof import SAMPLE_TYPES as PPROF_TYPES
from goalloc.trace.importers.gotoolchain import go_release
from goalloc.trace.importers.gotrace import import_gotrace

DATA = Path(__file__).parent / "data"
PAGE = 8192


def _jsonl(path: Path, header: dict, events: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(x) for x in [header, *events]) + "\n")
    return path


def _convert(tmp_path, name, header, events) -> Path:
    src = _jsonl(tmp_path / f"{name}.jsonl", header, events)
    out = tmp_path / f"{name}.msgpack"
    r = subprocess.run([sys.executable, "-m", "goalloc", "convert", str(src), "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def _header(names, sizes):
    return {"format": "goalloc-trace", "version": [1, 1], "sizes": "requested",
            "frees": "death", "gomaxprocs": 1,
            "sites": {"kind": "go-type", "names": names, "size": sizes,
                      "ptr_bytes": [8] * len(names)}}


def _row(attr, name):
    (row,) = [r for r in attr["rows"] if r["name"] == name]
    return row


def stranded_trace(tmp_path) -> tuple[Path, int, int]:
    """(trace, slots per span, spans) of the stranded pattern: `spans` spans of `per` 48 B
    slots, the first of each a main.Session that lives, the rest main.Tmp objects that die."""
    per, spans = (PAGE - PAGE // 64) // 48, 10
    events = [{"kind": "alloc", "ts": k, "id": k, "size": 48, "site": 1 if k % per == 0 else 2}
              for k in range(per * spans)]
    events += [{"kind": "free", "ts": per * spans + k, "id": k}
               for k in range(per * spans) if k % per]
    t = _convert(tmp_path, "strand", _header(["main.Session", "main.Tmp"], [48, 48]), events)
    return t, per, spans


def test_stranded_spans_name_the_type(tmp_path):
    """Ten 1-page spans of 48 B pointerful slots (Go 1.23: runtime/sizeclasses.go class 5,
    less the span's heap bits, 8192 / 64 B at its end for objects <= 512 B (mbitmap.go
    heapBitsInSpan): 168 slots): the first slot of each holds a long-lived main.Session, the
    other 167 main.Tmp objects that all die. Every span is then kept by one Session: 10
    stranded spans, 10 * 8192 B, all Session's."""
    t, per, spans = stranded_trace(tmp_path)
    r = replay(t, Config(gogc=None, go_version="1.23"), attribute=True)
    a = r.attribution
    s, tmp = _row(a, "main.Session"), _row(a, "main.Tmp")
    assert (s["stranded_spans"], s["stranded_bytes"], s["stranded_objects"]) == (10, 10 * PAGE, 10)
    assert (s["kept_spans"], s["held_bytes"], s["live_bytes"]) == (10, 10 * PAGE, 480)
    assert s["free_slot_bytes"] == 10 * (per - 1) * 48
    assert tmp["live_objects"] == 0 and tmp["held_bytes"] == 0 and tmp["stranded_spans"] == 0
    assert (tmp["alloc_objects"], tmp["alloc_bytes"]) == (spans * (per - 1), spans * (per - 1) * 48)
    # held memory peaks (first reaches its maximum) at the alloc that takes the last span: its
    # Session, with the nine full spans before it live
    assert (s["peak_live_objects"], tmp["peak_live_objects"]) == (10, (spans - 1) * (per - 1))
    assert a["peak_consistent"] is True
    assert "peak_held_bytes" not in s  # span figures at the peak only when asked


def test_span_figures_at_the_peak(tmp_path):
    """The stranded trace above at its peak (the alloc of the tenth span's Session): the nine
    full spans are main.Tmp's (167 of 168 live slots each), the tenth holds one Session (kept,
    stranded: 1 of 168 slots), so Tmp holds 9 spans with no free slot and Session 1 span with
    167 free slots; the per-site span bytes add up to the peak's in-use memory."""
    t, per, spans = stranded_trace(tmp_path)
    r = replay(t, Config(gogc=None, go_version="1.23"), attribute=True, peak_spans=True)
    a = r.attribution
    s, tmp = _row(a, "main.Session"), _row(a, "main.Tmp")
    assert a["peak_event"] == (spans - 1) * per and a["peak_spans_consistent"] is True
    assert (tmp["peak_held_bytes"], tmp["peak_spans"], tmp["peak_free_slot_bytes"]) == \
        (9 * PAGE, 9, 0)
    assert (tmp["peak_kept_bytes"], tmp["peak_stranded_spans"]) == (0, 0)
    assert (s["peak_held_bytes"], s["peak_spans"], s["peak_kept_bytes"]) == (PAGE, 1, PAGE)
    assert (s["peak_stranded_spans"], s["peak_stranded_bytes"]) == (1, PAGE)
    assert s["peak_free_slot_bytes"] == (per - 1) * 48
    assert s["peak_slot_bytes"] == 10 * 48 and tmp["peak_slot_bytes"] == 9 * (per - 1) * 48
    assert a["sums"]["peak_held_bytes"] == a["totals"]["peak_held_bytes"] == 10 * PAGE
    # the end figures are those of the replay without it
    plain = replay(t, Config(gogc=None, go_version="1.23"), attribute=True).attribution
    assert [{k: v for k, v in row.items() if not k.startswith("peak_")} for row in plain["rows"]] \
        == [{k: v for k, v in row.items() if not k.startswith("peak_")} for row in a["rows"]]


def test_rounding_and_tiny_blocks(tmp_path):
    """Rounding per type from the size-class table (runtime/sizeclasses.go): 100 B -> 112 B
    slot, 700 B -> 704 B (noscan: no malloc header); two 5 B noscan objects share one 16 B
    tiny block, whose slot is charged to the first one's type (C)."""
    events = [
        {"kind": "alloc", "ts": 0, "id": 0, "size": 100, "flags": ["noscan"], "site": 1},
        {"kind": "alloc", "ts": 1, "id": 1, "size": 700, "flags": ["noscan"], "site": 2},
        {"kind": "alloc", "ts": 2, "id": 2, "size": 5, "flags": ["noscan"], "site": 3},
        {"kind": "alloc", "ts": 3, "id": 3, "size": 5, "flags": ["noscan"], "site": 1},
    ]
    t = _convert(tmp_path, "round", _header(["A", "B", "C"], [100, 700, 5]), events)
    a = replay(t, Config(gogc=None, go_version="1.23"), attribute=True).attribution
    assert _row(a, "A")["rounding_bytes"] == (112 - 100) - 5  # its tiny sub-object has no slot
    assert _row(a, "B")["rounding_bytes"] == 704 - 700
    assert _row(a, "C")["slot_bytes"] == 16 and _row(a, "C")["rounding_bytes"] == 11
    assert a["sums"]["rounding_bytes"] == a["totals"]["rounding_bytes"] == 12 + 4 + 16 - 10


def _tiny_trace(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("attr") / "tiny.msgpack"
    import_gotrace(DATA / "gotrace-tiny.trace", out)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _tiny_trace(tmp_path_factory)


def test_go_trace_types_imported(tiny):
    """gotrace-tiny.go allocates main.node (48 B, pointers: next, key) and main.big (640 B)."""
    import goalloc.trace

    with goalloc.trace.open(tiny) as r:
        sites = r.header.sites
    # sites need 1.1; the importer's zstd-shuffle chunks make it 1.2
    assert sites.kind == "go-type" and tuple(r.header.version) == (1, 2)
    assert r.header.required == ["zstd-shuffle"]
    named = dict(zip(sites.names, zip(sites.size, sites.ptr_bytes, strict=True), strict=True))
    assert named["main.node"][0] == 48 and named["main.node"][1] > 0
    assert named["main.big"][0] == 640


@pytest.mark.parametrize("mode", ["recorded", "pacer"])
def test_sums_equal_totals_on_a_go_trace(tiny, mode):
    r = replay(tiny, Config(gc_mode=mode), attribute=True)
    a = r.attribution
    assert a["peak_consistent"] is True
    assert a["sums"]["live_bytes"] == r.live_requested
    assert a["sums"]["rounding_bytes"] == r.end_frag.rounding
    assert a["sums"]["held_bytes"] == r.end.objects + r.end.unused
    assert _row(a, "main.node")["alloc_objects"] > 0


def test_off_by_default_and_changes_nothing_else(tiny):
    from goalloc.report.replay import to_json

    plain = replay(tiny, Config(gc_mode="recorded"))
    attr = replay(tiny, Config(gc_mode="recorded"), attribute=True)
    assert plain.attribution is None
    j0 = json.loads(to_json(plain, tiny))
    j1 = json.loads(to_json(attr, tiny))
    assert "attribution" not in j0
    j1.pop("attribution")
    assert j0 == j1


def _go() -> str | None:
    for minor in (27, 26, 25, 24, 23):
        go = go_release(minor)
        if go:
            return go
    return None


def test_go_tool_pprof_reads_the_profile(tiny, tmp_path):
    go = _go()
    if go is None:
        pytest.skip("no Go toolchain (make test installs golang-1.23..1.27-go)")
    prof, js = tmp_path / "tiny.pb.gz", tmp_path / "tiny.json"
    for args in (["--format", "pprof", "-o", prof], ["--attribute", "-o", js]):
        r = subprocess.run([sys.executable, "-m", "goalloc", "replay", tiny, *map(str, args)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    sums = json.loads(js.read_text())["attribution"]["sums"]
    env = _pprof_env(tmp_path)
    tops = {}
    for index, key in (("inuse_space", "live_bytes"), ("inuse_objects", "live_objects"),
                       ("alloc_space", "alloc_bytes"), ("alloc_objects", "alloc_objects"),
                       ("rounding_waste", "rounding_bytes"), ("held_space", "held_bytes")):
        out = subprocess.run([go, "tool", "pprof", "-top", f"-sample_index={index}", "-unit=B",
                              str(prof)], capture_output=True, text=True, env=env, timeout=600)
        assert out.returncode == 0, out.stderr
        m = re.search(r"of (\d+)B total", out.stdout)
        assert m, out.stdout
        assert int(m.group(1)) == sums[key], (index, out.stdout[:400])
        tops[index] = out.stdout
    # the program allocates main.node throughout; which of them are live or held at the end
    # is the model's (the tail's deaths, docs/model.md 2d), what it allocated is the trace's
    assert "main.node" in tops["alloc_space"]


def _pprof_env(home: Path) -> dict:
    """pprof's own files in a scratch HOME; the build cache shared with the other Go tests
    (Go 1.25+ builds `go tool pprof` on first use: minutes with an empty cache)."""
    return {**os.environ, "HOME": str(home),
            "GOCACHE": os.environ.get("GOCACHE") or os.path.join(tempfile.gettempdir(),
                                                                 "goalloc-test-gocache")}


def _pprof_totals(go: str, prof: Path, tmp: Path) -> dict:
    env = _pprof_env(tmp)
    out = {}
    for index, _unit, _key in PPROF_TYPES:
        r = subprocess.run([go, "tool", "pprof", "-top", f"-sample_index={index}", "-unit=B",
                            str(prof)], capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr
        m = re.search(r"of (\d+)B total", r.stdout)
        assert m, r.stdout
        out[index] = int(m.group(1))
    return out


@pytest.mark.parametrize("release", ["1.23", "1.24", "1.25", "1.26", "1.27"])
def test_recorded_go_programs_add_up(release, tmp_path):
    """tests/data/goprogs `multi` recorded with each release (test_go_releases' recordings):
    per-type bytes add up to the replay's totals exactly, main.node (48 B, the program's
    pointerful node) is named, and that release's own `go tool pprof` reads the profile with
    totals equal to the JSON's."""
    from test_go_releases import recording

    rec = recording(release, "multi")
    prof, js = tmp_path / "multi.pb.gz", tmp_path / "multi.json"
    for args in (["--format", "pprof", "-o", prof], ["--attribute", "-o", js]):
        r = subprocess.run([sys.executable, "-m", "goalloc", "replay", rec["out"],
                            *map(str, args)], capture_output=True, text=True, env=rec["env"])
        assert r.returncode == 0, r.stderr
    doc = json.loads(js.read_text())
    a, c = doc["attribution"], doc["counters"]
    assert a["kind"] == "go-type" and a["peak_consistent"] is True
    assert a["sums"]["live_bytes"] == c["live_requested"]
    assert a["sums"]["rounding_bytes"] == doc["fragmentation"]["end"]["rounding"]
    mem = doc["memory"]["end"]
    node = _row(a, "main.node")
    assert node["type_size"] == 48 and node["alloc_objects"] > 1000
    totals = _pprof_totals(rec["go"], prof, tmp_path)
    assert totals == {index: a["sums"][key] for index, _u, key in PPROF_TYPES}
    assert a["sums"]["held_bytes"] == mem["objects"] + mem["unused"]


def test_mtrace_callers_are_sites(tmp_path):
    """Each alloc line's caller (`@ file:(func+off)[addr] + PTR SIZE`) becomes its site: the
    distinct callers of the file's alloc lines, read here with a regex, are the table, and the
    first alloc (5 bytes) carries its own line's caller."""
    import goalloc.trace
    from goalloc.trace.importers.mtrace import import_mtrace

    src = DATA / "mtrace-git-version.txt"
    callers = re.findall(r"^@ (.*\]) [+>] 0x[0-9a-f]+ 0x[0-9a-f]+$", src.read_text(), re.M)
    out = tmp_path / "mt.msgpack"
    import_mtrace(src, out)
    with goalloc.trace.open(out) as r:
        sites = r.header.sites
        (chunk,) = list(r)
    assert sites.kind == "call-site"
    assert sorted(sites.names) == sorted(set(callers))
    first = int((chunk.kind == 1).argmax())
    assert chunk.size[first] == 5 and sites.names[chunk.site[first] - 1] == callers[0]
    rep = replay(out, Config(), attribute=True)
    assert rep.attribution["sums"]["live_bytes"] == rep.live_requested
    assert rep.attribution["sums"]["alloc_objects"] == int((chunk.kind == 1).sum())


def test_heaptrack_call_sites_add_up(tmp_path):
    """heaptrack's innermost frames as sites (#17): per-site live and allocated figures add up
    to the replay's live bytes and the file's alloc count."""
    import goalloc.trace
    from goalloc.trace.importers.heaptrack import import_heaptrack

    out = tmp_path / "ht.msgpack"
    import_heaptrack(DATA / "heaptrack-git-version.raw.zst", out)
    with goalloc.trace.open(out) as r:
        (chunk,) = list(r)
    rep = replay(out, Config(), attribute=True)
    a = rep.attribution
    assert a["kind"] == "call-site" and all(r["site"] for r in a["rows"] if r["live_objects"])
    assert a["sums"]["live_bytes"] == rep.live_requested
    assert a["sums"]["alloc_objects"] == int((chunk.kind == 1).sum())
    assert a["sums"]["held_bytes"] == a["totals"]["held_bytes"]


SHIPPED = Path(__file__).parents[1] / "traces"


@pytest.mark.parametrize("name,minor", [("go126-parser.msgpack", 26),
                                        ("go127-http-clientserver.msgpack", 27)])
def test_shipped_go_traces_add_up(name, minor, tmp_path, shipped=SHIPPED):
    """The shipped Go 1.26/1.27 recordings carry types: per-type live, rounding, held bytes
    (at the end and at the peak) add up to the replay's own totals exactly, most live bytes
    are named, and the recording release's `go tool pprof -top` totals equal the JSON sums."""
    trace = shipped / name
    prof, js = tmp_path / "p.pb.gz", tmp_path / "p.json"
    for args in (["--format", "pprof", "-o", prof], ["--peak-spans", "-o", js]):
        r = subprocess.run([sys.executable, "-m", "goalloc", "replay", str(trace),
                            *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    doc = json.loads(js.read_text())
    a = doc["attribution"]
    assert a["kind"] == "go-type" and a["sites_in_table"] > 100
    mem, peak = doc["memory"]["end"], doc["memory"]["peak"]
    assert a["sums"]["live_bytes"] == doc["counters"]["live_requested"]
    assert a["sums"]["rounding_bytes"] == doc["fragmentation"]["end"]["rounding"]
    assert a["sums"]["held_bytes"] == mem["objects"] + mem["unused"]
    assert a["peak_spans_consistent"] is True
    assert a["sums"]["peak_held_bytes"] == peak["objects"] + peak["unused"]
    named = sum(r["live_bytes"] for r in a["rows"] if r["site"] is not None)
    assert named > a["sums"]["live_bytes"] / 2
    go = go_release(minor)
    if go is None:
        pytest.skip(f"Go 1.{minor} is not installed")
    totals = _pprof_totals(go, prof, tmp_path)
    assert totals == {index: a["sums"][key] for index, _u, key in PPROF_TYPES}
