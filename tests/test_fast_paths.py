"""The replay kernel's fast paths against its general path (#13): a small allocation from the
cached span's allocCache, a tiny allocation into the P's block or a new block, and a free are
handled in the event loop on arrays loaded once; with the fast paths switched off every event
goes through mcache.malloc / gc.free_object. Both must give the same report, byte for byte, so
a policy changed in one place only (say the tiny block's "new block becomes current" rule, or
the mark bit a free clears) fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_trace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_alloc import traces

from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.report.replay import to_json
from goalloc.trace import Header

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "traces").glob("*.msgpack"))


def both_ways(path, cfg: Config) -> tuple[str, str]:
    fast = to_json(replay(path, cfg), path, cfg)
    slow = to_json(replay(path, cfg, fast_paths=False), path, cfg)
    return fast, slow


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=traces(), mode=st.sampled_from(["pacer", "recorded"]),
       version=st.sampled_from(["1.19", "1.22", "1.26"]),
       frees=st.sampled_from(["death", "sweep"]), procs=st.sampled_from([1, 2]))
def test_fast_paths_match_general_path_random(tmp_path, events, mode, version, frees, procs):
    events = [dict(e, ts=i) for i, e in enumerate(events)]
    path = write_trace(tmp_path / "t.msgpack", events, Header(gomaxprocs=2, frees=frees))
    fast, slow = both_ways(path, Config(gc_mode=mode, go_version=version, gogc=5, procs=procs))
    assert fast == slow


@pytest.mark.slow
@pytest.mark.parametrize("trace", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_fast_paths_match_general_path_shipped(trace):
    for cfg in (Config(), Config(gc_mode="recorded", go_version="1.22")):
        fast, slow = both_ways(trace, cfg)
        assert fast == slow, f"{trace.name} {cfg.gc_mode}"

