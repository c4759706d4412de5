"""Mark speeds (#15): the runtime's marks differ in speed, so a pacer replay of a Go recording
can run each mark at the speed of one of the recording's own marks (Config.mark_speed_seed),
and replay(mark_speed_samples=k) reports each what-if figure's mean and range over k such
replays (engine/whatif.py speed_range). Expectations: marks' speeds worked by hand on a small
trace, invariants (a draw among equal speeds changes nothing, a seed's replay is
deterministic, faster marks end sooner), and the samples' figures from seeded replays run
one by one."""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path

import pytest

from goalloc.engine import replay as replay_mod
from goalloc.engine import whatif
from goalloc.engine.config import Config
from goalloc.engine.state import MARK_SPEEDS
from goalloc.errors import GoallocError

TRACE = Path(__file__).resolve().parent.parent / "traces" / "go-parser.msgpack"


@pytest.fixture(scope="module")
def central():
    return replay_mod.replay(TRACE, Config(gogc=100))


def test_each_marks_speed_is_its_rate_over_the_pooled_one(tmp_path):
    """By hand: 1000 pointerful 64 B objects live at a mark of 1 ms, 2000 at one of 0.5 ms, on
    2 Ps at 25%: 64,000 B in 0.5 ms of worker CPU (1.28e8 B/s) and 128,000 B in 0.25 ms
    (5.12e8 B/s); pooled 192,000 B / 0.75 ms = 2.56e8 B/s, so the marks ran at 0.5x and 2x."""
    from test_fidelity import write

    from goalloc.trace import format as fmt

    path = tmp_path / "t.msgpack"
    ev = [(fmt.ALLOC, i, i, 64, 0) for i in range(1000)]
    ev += [(fmt.GC_START, 10_000, 1, 0, 0), (fmt.GC_MARK_TERM, 1_010_000, 1, 0, 0)]
    ev += [(fmt.ALLOC, 1_020_000 + i, 1000 + i, 64, 0) for i in range(1000)]
    ev += [(fmt.GC_START, 2_000_000, 2, 0, 0), (fmt.GC_MARK_TERM, 2_500_000, 2, 0, 0)]
    write(path, ev, gomaxprocs=2)
    r = replay_mod.replay(path, Config())
    assert r.scan_rate["bytes_per_s"] == 2.56e8
    assert r.scan_rate["mark_speeds"] == [0.5, 2.0]


def test_mark_speeds_keeps_quantiles_of_many_and_clamps():
    assert replay_mod.mark_speeds([]) is None
    assert replay_mod.mark_speeds([2.0, 0.5, 1.0]) == (0.5, 1.0, 2.0)
    many = [float(i) / 64 for i in range(1, 129)]  # 128 speeds: every second one is kept
    kept = replay_mod.mark_speeds(many)
    assert len(kept) == MARK_SPEEDS
    assert kept == tuple(float(f"{(2 * i + 2) / 64:.6g}") for i in range(MARK_SPEEDS))
    assert replay_mod.mark_speeds([1e-9, 1e9]) == (0.01, 100.0)


def _same_but_config(a: str, b: str) -> bool:
    da, db = json.loads(a), json.loads(b)
    for d in (da, db):
        d.pop("config")
        d["scan_rate"].pop("mark_speeds", None)
    return da == db


def test_a_draw_among_equal_speeds_changes_nothing(central):
    from goalloc.report.replay import to_json

    rate = central.scan_rate["bytes_per_s"]
    base = Config(gogc=100, scan_rate=rate)
    ones = dataclasses.replace(base, mark_speeds=(1.0,) * 5, mark_speed_seed=3)
    a = to_json(replay_mod.replay(TRACE, base), TRACE, base)
    b = to_json(replay_mod.replay(TRACE, ones), TRACE, ones)
    assert _same_but_config(a, b)


def test_a_seeds_replay_is_deterministic_and_seeds_differ(central):
    rate = central.scan_rate["bytes_per_s"]
    speeds = tuple(0.5 + 0.25 * i for i in range(8))
    runs = []
    for seed in (1, 1, 2, 3, 4):
        cfg = Config(gogc=100, scan_rate=rate, mark_speeds=speeds, mark_speed_seed=seed)
        r = replay_mod.replay(TRACE, cfg)
        runs.append(tuple((c.start_ts, c.end_ts) for c in r.cycles))
    assert runs[0] == runs[1]
    assert len(set(runs[1:])) > 1


def test_faster_marks_end_sooner(central):
    """Up to the first heap-triggered mark nothing differs; the same scan work then takes
    less trace time at twice the speed and more at half of it."""
    rate = central.scan_rate["bytes_per_s"]
    cfg = Config(gogc=100, scan_rate=rate)
    took = {}
    for speed in (0.5, 1.0, 2.0):
        r = replay_mod.replay(TRACE, dataclasses.replace(cfg, mark_speeds=(speed,),
                                                         mark_speed_seed=1))
        (c,) = [c for c in r.cycles if c.kind == "heap"][:1]
        took[speed] = (c.start_ts, c.scan_work, c.end_ts - c.start_ts)
    assert took[0.5][:2] == took[1.0][:2] == took[2.0][:2]
    assert took[2.0][2] < took[1.0][2] < took[0.5][2]


def test_samples_give_the_mean_and_range_of_the_seeded_replays(central):
    r = replay_mod.replay(TRACE, Config(gogc=100), mark_speed_samples=3)
    sr = r.mark_speed_range
    assert sr["samples"] == 3
    rate, speeds = central.scan_rate["bytes_per_s"], tuple(central.scan_rate["mark_speeds"])
    figs = [whatif.figures(replay_mod.replay(
        TRACE, Config(gogc=100, scan_rate=rate, mark_speeds=speeds, mark_speed_seed=k)))
        for k in (1, 2, 3)]
    for key in whatif.FIGURES:
        v = [f[key] for f in figs]
        assert sr[key]["mean"] == pytest.approx(statistics.fmean(v))
        assert (sr[key]["low"], sr[key]["high"]) == (min(v), max(v))
    # the central replay's own figures are those of every mark at the pooled rate
    assert whatif.figures(r) == whatif.figures(central)


def test_no_samples_without_measured_speeds():
    r = replay_mod.replay(TRACE, Config(gogc=100, scan_rate=2e9), mark_speed_samples=2)
    assert r.mark_speed_range is None  # the rate was given: no recorded marks' speeds


def test_config_checks_the_speeds():
    for bad in (Config(mark_speed_seed=-1), Config(mark_speeds=()),
                Config(mark_speeds=(0.0,)), Config(mark_speeds=(1.0,) * (MARK_SPEEDS + 1))):
        with pytest.raises(GoallocError):
            bad.check()


def test_cli_shows_the_samples(cli):
    code, out, err = cli("replay", TRACE, "--mark-speed-samples", "2")
    assert code == 0, err
    assert "Over 2 replays with each mark as fast as one of the recording's" in out
    code, out, err = cli("replay", TRACE, "--mark-speed-samples", "2", "--json")
    doc = json.loads(out)
    assert doc["mark_speed_range"]["samples"] == 2
    assert set(doc["mark_speed_range"]) == {"samples", *whatif.FIGURES}
    code, out, err = cli("replay", TRACE, "--json")
    assert json.loads(out)["mark_speed_range"] is None
