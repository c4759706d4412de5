"""What-if answers against the real runtime (#15): benchmarks/whatif.py records the programs of
tests/data/whatif (an LRU cache, a builder, a go/types checker) with Go 1.27 under GOGC 25-400
and GOMEMLIMIT at 50/70/90% of the GOGC=100 peak and below the live heap, three runs each, and
replays the first GOGC=100 recording under each setting. Expectations are the real runs' means
(runtime/metrics and gctrace, read by the programs themselves); the targets are the issue's.
Measured misses are non-strict xfails whose reason gives the figure (docs/model.md, "What-if
validation").
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import whatif  # noqa: E402

from goalloc.trace.importers.gotoolchain import go_release  # noqa: E402

RELEASE = "1.27"

# Measured on this project's recordings (2 cores, GOMAXPROCS=2): what the model does not yet
# meet, and why (docs/model.md).
KNOWN = {
    "gc_cpu": "a mark's CPU is its scan work at the recording's worker + assist CPU per "
              "unit of work (2026-12-07; docs/model.md 2a, 2f): where the model runs more "
              "cycles than the runtime, each costs its work (the builder below the live heap: "
              "30-62% for the runtime's 17-52%, over 55% on 3 of 14 sets, its cycles up to a "
              "third over), and the go/types program's idle workers give way to assists under "
              "pressure, which the recording's figure per unit of work does not see "
              "(GOMEMLIMIT 50-90%: 12 of 14 sets within 10 points, 9 before the change)",
    "gogc_peak": "peak in-use and mean goal off by up to 92% / 26% in a set's worst row (the "
                 "mean of 6 mark-speed samples over 16 recording sets, 2026-12-06 evening; "
                 "medians 41% / 17%; the real runs' own peak spread reached 60%, one real run as the "
                 "prediction: median 45% / 17% over 13 of them): one cycle whose mark overlaps "
                 "a growth phase sets the goals after it (docs/model.md, \"What-if "
                 "validation\")",
    "gogc_cycles": "GOGC 25-400: cycles off by up to 60% in a set's worst row (the mean of 6 "
                   "mark-speed samples over 16 recording sets, 2026-12-06 evening: median of "
                   "the sets' mean 8.2%, worst row 29%, 3 sets within 20%): the builder at GOGC=25 runs "
                   "too many cycles on most sets, its marks shorter than the runtime's (the "
                   "workers' rate is measured on recorded marks that hold the assists' work, "
                   "and the model's assists shorten them again; docs/model.md, \"Mark length "
                   "per MiB\"; +45% at GOGC=25 on one Go 1.27 set of 2026-12-07)",
    "limit_cycles": "GOMEMLIMIT 50-90% and below the live heap: cycles up to +80% (builder at "
                    "50%, a recording on a loaded machine; the LRU loop at 50% up to +55% over "
                    "15 recording sets, 2026-12-04: deaths at the middle of their intervals "
                    "keep it marking 16.1 MiB where the runtime marks 14.6; the go/types "
                    "program at 50%: -11, +33 and +47% on its first three sets, 2026-12-07; "
                    "at 70% +58% on one CI set, 28 of its 64 cycles past the last reported "
                    "death, where the model keeps the unreported dead (Config.tail_deaths "
                    "'placed': within 10% there, -30% at the same row of another set); the "
                    "LRU loop at 50% +60% on a set of 2026-12-07: docs/model.md 2d, "
                    "\"What-if validation\")",
    "limit_goal": "GOMEMLIMIT 50-90%: goal off by up to 20% in a set's worst row (14 recording "
                  "sets, 2026-12-05, median 8.3%; non-heap memory modelled, not recorded)",
}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("whatif")


@pytest.fixture(scope="module")
def rows(work):
    go = go_release(int(RELEASE.split(".")[1]))
    if go is None:
        pytest.skip(f"Go {RELEASE} is not installed: make test installs it from Debian")
    return whatif.validate(go, runs=3, work=work)


def _check(ok: bool, known: str, detail: str):
    if not ok:
        pytest.xfail(f"{KNOWN[known]} (this run: {detail})")


def _gogc(rows):
    return [r for r in rows if r.memlimit is None]


def _limits(rows):
    return [r for r in rows if r.memlimit is not None and "below" not in r.setting]


@pytest.mark.parametrize("key", ["cycles", "peak_inuse", "mean_goal"])
def test_gogc_within_10_mean_20_worst(rows, key):
    """GOGC 25-400: cycles, peak in-use and mean heap goal within 10% of the real mean on
    average, 20% at worst."""
    errs = [abs(r.error(key)) for r in _gogc(rows)]
    detail = ", ".join(f"{r.program} {r.setting} {r.error(key) * 100:+.0f}%" for r in _gogc(rows))
    own = whatif.runtime_as_prediction(rows)
    if own:  # what the runtime scores as its own predictor on this set
        detail += (f"; one real run as the prediction: mean {own[f'GOGC {key} mean'][0]:.1%}, "
                   f"worst {own[f'GOGC {key} worst'][0]:.1%}")
    _check(statistics.fmean(errs) <= 0.10 and max(errs) <= 0.20,
           {"cycles": "gogc_cycles", "peak_inuse": "gogc_peak", "mean_goal": "gogc_peak"}[key],
           detail)


def test_limit_cycles(rows):
    """GOMEMLIMIT 50-90% of the peak: cycles within 25% of the real mean, never twice it."""
    for r in _limits(rows):  # no runaway (the issue measured 60x): a hard floor
        assert r.model["cycles"] < 3 * r.real_mean("cycles"), whatif.format_row(r)
    _check(all(r.model["cycles"] < 2 * r.real_mean("cycles") for r in _limits(rows)),
           "limit_cycles", ", ".join(f"{r.program} {r.setting} {r.error('cycles') * 100:+.0f}%"
                                     for r in _limits(rows)))
    _check(all(abs(r.error("cycles")) <= 0.25 for r in _limits(rows)), "limit_cycles",
           ", ".join(f"{r.program} {r.setting} {r.error('cycles') * 100:+.0f}%"
                     for r in _limits(rows)))


def test_limit_goal(rows):
    """GOMEMLIMIT 50-90% of the peak: mean heap goal within 10% of the real mean."""
    _check(all(abs(r.error("mean_goal")) <= 0.10 for r in _limits(rows)), "limit_goal",
           ", ".join(f"{r.program} {r.setting} {r.error('mean_goal') * 100:+.0f}%"
                     for r in _limits(rows)))


def test_limit_gc_cpu(rows):
    """GOMEMLIMIT 50-90% of the peak: GC CPU fraction within 10 points of the runtime's."""
    _check(all(abs(r.error("gc_cpu")) <= 0.10 for r in _limits(rows)), "gc_cpu",
           ", ".join(f"{r.program} {r.setting} {r.error('gc_cpu') * 100:+.0f} pt"
                     for r in _limits(rows)))


def test_limit_below_live_heap_is_no_death_spiral(rows):
    """A limit below the live heap: the real runtime keeps running at a bounded GC CPU share;
    the model must not run away into thousands of cycles (the issue's +5960%): its cycles stay
    under twice the real count and its GC CPU share at most about 50%."""
    below = [r for r in rows if "below" in r.setting]
    assert below
    for r in below:  # the issue measured thousands of cycles where the runtime ran 48-119
        assert r.model["cycles"] < 3 * r.real_mean("cycles"), whatif.format_row(r)
    _check(all(r.model["cycles"] < 2 * r.real_mean("cycles") for r in below), "limit_cycles",
           ", ".join(f"{r.program} {r.error('cycles') * 100:+.0f}%" for r in below))
    _check(all(r.model["gc_cpu"] <= 0.55 for r in below), "gc_cpu",
           ", ".join(f"{r.program} {r.model['gc_cpu'] * 100:.0f}% vs "
                     f"{r.real_mean('gc_cpu') * 100:.0f}%" for r in below))


def test_builder_marks_past_max_work_wait_for_a_scheduler_pass(rows, work):
    """The builder's GOGC=100 recording replayed at GOGC=25 (2 Ps: fractional workers only).
    Where the recording CPU ran Green Tea's packed span scan, a mark's work passes
    maxScanWork (its 264-byte records have 72 bytes of pointers), the assists stop, and a mark
    whose workers finish its work ends the recording's wait for a scheduler pass later
    (engine/mark.py): each such mark lasts at least that wait, no mark a parked assist ended
    waited, and some marks do wait."""
    from goalloc.engine.config import Config
    from goalloc.engine.replay import replay

    r = replay(work / "builder.msgpack", Config(gogc=25, gc_mode="pacer",
                                                tracer_buffers="keep"))
    if not r.packed_span_scan:
        pytest.skip("this CPU has no packed span scan (scan.HasFastScanSpanPacked): the "
                    "builder's work stays under maxScanWork")
    wait = r.scan_rate["mark_end_wait_ns"]
    assert wait > 0  # the importer read the goroutines' runs; 2 Ps
    done = [c for c in r.cycles if c.end_ts is not None]
    assert any(c.mark_end_wait_ns for c in done)
    for c in done:
        if c.mark_end_wait_ns:
            assert c.mark_end_wait_ns == wait and c.end_ts - c.start_ts >= wait, c
            assert not c.mark_ended_by_goal, c


def test_validate_works_on_a_gogc_off_recording(tmp_path):
    """A recording made with GOGC=off has span events but no GC cycle: `--validate` compares
    what it can (the heap at the end, no cycles) instead of refusing the trace."""
    import json
    import subprocess

    from goalloc.trace.importers.gotrace import import_gotrace

    go = go_release(int(RELEASE.split(".")[1]))
    if go is None:
        pytest.skip(f"Go {RELEASE} is not installed: make test installs it from Debian")
    exe = whatif.build(go, tmp_path / "build")
    real = whatif.run(exe, "lru", tmp_path / "off.trace", None, None)
    assert real.cycles == 0  # the runtime ran no cycle: nothing else to hold on to
    out = tmp_path / "off.msgpack"
    import_gotrace(tmp_path / "off.trace", out)
    r = subprocess.run([sys.executable, "-m", "goalloc", "replay", str(out), "--gc", "recorded",
                        "--validate", "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    fid = json.loads(r.stdout)["fidelity"]
    assert fid["recorded_cycles"] == 0 and fid["model_cycles"] == 0
    assert fid["targets"]["classes_error"]["ok"], fid["targets"]


def test_targets_of_hand_made_rows():
    """benchmarks/whatif.py targets (the survey's figures): errors worked by hand."""
    def row(setting, gogc, limit, model, real):
        r = whatif.Row("p", setting, gogc, limit,
                       [whatif.Real(cycles=c, peak_inuse=100, peak_mapped=200,
                                    mean_goal=50.0, gc_cpu=g) for c, g in real])
        r.model = {"cycles": model[0], "peak_inuse": 100, "mean_goal": 50.0, "gc_cpu": model[1]}
        return r

    rows = [row("GOGC=100", 100, None, (11, 0.1), [(10, 0.1), (10, 0.1)]),  # cycles +10%
            row("GOGC=50", 50, None, (14, 0.1), [(20, 0.1), (20, 0.1)]),  # -30%
            row("GOMEMLIMIT=50%", 100, 100, (30, 0.30), [(20, 0.1), (20, 0.3)]),  # +50%, +10 pt
            row("GOMEMLIMIT=35% (below live)", 100, 70, (9, 0.6), [(10, 0.2), (10, 0.2)])]
    t = whatif.targets(rows)
    assert t["GOGC cycles mean"][0] == pytest.approx(0.20)
    assert t["GOGC cycles worst"] == (pytest.approx(0.30), 0.20, False)
    assert t["GOGC peak_inuse worst"] == (0.0, 0.20, True)
    assert t["limit cycles worst"][0] == pytest.approx(0.50)
    assert t["limit GC CPU worst (pt)"][0] == pytest.approx(0.10)
    assert t["below-live GC CPU"] == (0.6, 0.55, False)


def test_runtime_as_prediction_of_hand_made_rows(monkeypatch):
    """Each real run in turn as the prediction, against the mean of the others (the runtime's
    own score on the issue's figures): worked by hand."""
    def row(setting, gogc, limit, cycles, cpu):
        r = whatif.Row("p", setting, gogc, limit,
                       [whatif.Real(cycles=c, peak_inuse=100, peak_mapped=200, mean_goal=50.0,
                                    gc_cpu=g) for c, g in zip(cycles, cpu, strict=True)])
        r.model = {"cycles": 12, "peak_inuse": 100, "mean_goal": 50.0, "gc_cpu": 0.2}
        return r

    rows = [row("GOGC=100", 100, None, (10, 12, 14), (0.1, 0.1, 0.1)),
            row("GOMEMLIMIT=50%", 100, 100, (20, 20, 20), (0.1, 0.2, 0.3)),
            row("GOMEMLIMIT=35% (below live)", 100, 70, (9, 9, 9), (0.3, 0.3, 0.6))]
    own = whatif.runtime_as_prediction(rows)
    # cycles: 10 vs 13 (-23.1%), 12 vs 12 (0), 14 vs 11 (+27.3%): only the middle run meets
    assert own["GOGC cycles mean"][0] == pytest.approx((3 / 13 + 0 + 3 / 11) / 3)
    assert own["GOGC cycles mean"][2] == pytest.approx(1 / 3)
    assert own["GOGC cycles worst"][2] == pytest.approx(1 / 3)
    assert own["GOGC peak_inuse worst"] == (0.0, 0.20, 1.0)
    # GC CPU under the limit: 0.1 vs 0.25, 0.2 vs 0.2, 0.3 vs 0.15: 15, 0, 15 points
    assert own["limit GC CPU worst (pt)"][0] == pytest.approx(0.10)
    assert own["limit GC CPU worst (pt)"][2] == pytest.approx(1 / 3)
    # below the live heap: each run's own share against 55%
    assert own["below-live GC CPU"][0] == pytest.approx(0.4)
    assert own["below-live GC CPU"][2] == pytest.approx(2 / 3)
    assert whatif.runtime_as_prediction([row("GOGC=100", 100, None, (10,), (0.1,))]) == {}

    # the survey counts the held-out runs' shares over the sets beside goalloc's sets
    monkeypatch.setattr(whatif, "reuse", lambda d, death_time=None: rows)
    s = whatif.survey([Path("a"), Path("b")], log=lambda _: None)
    assert s["GOGC cycles mean"]["met"] == 2  # goalloc's 12 against the runs' mean 12: 0%
    assert s["GOGC cycles mean"]["runtime_met"] == pytest.approx(2 / 3)
    assert s["GOGC cycles mean"]["runtime_median"] == pytest.approx((3 / 13 + 3 / 11) / 3)


def test_perfect_mean_prediction_of_a_hand_made_row():
    """The true mean judged against the mean of three runs drawn with the row's spread: for
    runs 100 -+ 17.32 (sd 17.32, the mean's sd 10) the error is within 10% when the drawn mean
    z (standard normal) lies in [-10 / (1.1 * 10), 10 / (0.9 * 10)]: Phi(1.111) - Phi(-0.909)
    = 0.685; within 20% for z in [-1.667, 2.5]: 0.946. Rows without spread always meet."""
    d = 10 * 3 ** 0.5
    r = whatif.Row("p", "GOGC=100", 100, None,
                   [whatif.Real(cycles=c, peak_inuse=100, peak_mapped=200, mean_goal=50.0,
                                gc_cpu=0.1) for c in (100 - d, 100, 100 + d)])
    p = whatif.perfect_mean_prediction([r])
    assert p["GOGC cycles mean"] == pytest.approx(0.685, abs=0.01)
    assert p["GOGC cycles worst"] == pytest.approx(0.946, abs=0.01)
    assert p["GOGC peak_inuse mean"] == p["GOGC mean_goal worst"] == 1.0
    assert whatif.perfect_mean_prediction([r]) == p  # seeded


def test_own_setting_summary_of_hand_made_rows():
    """Two builder recordings (18 cycles recorded, 20 and 15 central, 19 and 17.1 as the
    samples' mean; 6 of 18 and 4 of 20 pacer marks past maxScanWork, 5 of 18 and 3 of 17
    recorded) and one LRU: errors +11.1% / -16.7% -> |mean| 13.9%, signed -2.8%; samples
    +5.6% / -5.0% -> 5.3%, +0.3%; past max 10 / 38 and 8 / 35."""
    b = {"recorded": 18, "central": 20, "mean": 19.0, "recorded_past_max": 5,
         "recorded_marks": 18, "pacer_past_max": 6, "pacer_marks": 18}
    b2 = {"recorded": 18, "central": 15, "mean": 17.1, "recorded_past_max": 3,
          "recorded_marks": 17, "pacer_past_max": 4, "pacer_marks": 20}
    lru = {"recorded": 50, "central": 48, "mean": 50.0, "recorded_past_max": 0,
           "recorded_marks": 49, "pacer_past_max": 2, "pacer_marks": 47}
    s = whatif.own_setting_summary({"/a/builder.msgpack": b, "/b/builder.msgpack": b2,
                                    "/a/lru.msgpack": lru})
    assert list(s) == ["builder", "lru"]
    assert s["builder"]["central |error|"] == pytest.approx((2 / 18 + 3 / 18) / 2)
    assert s["builder"]["central signed"] == pytest.approx((2 / 18 - 3 / 18) / 2)
    assert s["builder"]["mean |error|"] == pytest.approx((1 / 18 + 0.9 / 18) / 2)
    assert s["builder"]["mean signed"] == pytest.approx((1 / 18 - 0.9 / 18) / 2)
    assert s["builder"]["pacer past max"] == pytest.approx(10 / 38)
    assert s["builder"]["recorded past max"] == pytest.approx(8 / 35)
    assert s["lru"]["central signed"] == pytest.approx(-0.04)
    assert s["lru"]["mean |error|"] == 0.0


def test_a_broken_recording_is_run_again(tmp_path, monkeypatch):
    """A GOGC=100 run whose trace cannot be read (the runtime wrote it broken: Go's own reader
    rejects it too) is made again, its figures replacing the broken run's; a trace still
    broken after RUN_ATTEMPTS runs is an error."""
    from goalloc.errors import TraceError

    imports, runs = [], []

    def importer(fails):
        def imp(trace, rec, force, packed_span_scan):
            imports.append(trace)
            if len(imports) <= fails:
                raise TraceError(trace, "corrupt trace: expected a batch (byte 1 or 49), found 89",
                                 1375151)
        return imp

    monkeypatch.setattr(whatif, "run", lambda exe, prog, trace, gogc, limit:
                        runs.append((prog, trace.name, gogc, limit)) or "again")
    base = whatif.Row("lru", "GOGC=100", 100, None, ["broken", "second", "third"])
    whatif.record(tmp_path / "exe", "lru", tmp_path, base, tmp_path / "lru.msgpack", False,
                  importer(1))
    assert len(imports) == 2
    assert runs == [("lru", "lru-100-0.trace", 100, None)]
    assert base.real == ["again", "second", "third"]
    imports.clear()
    with pytest.raises(TraceError):
        whatif.record(tmp_path / "exe", "lru", tmp_path, base, tmp_path / "lru.msgpack", False,
                      importer(whatif.RUN_ATTEMPTS))
    assert len(imports) == whatif.RUN_ATTEMPTS
