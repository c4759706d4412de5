"""The CPUs under the recorded Ps (trace/importers/gocpu.py cpus_from, engine/whatif.py): a
trace carries GOMAXPROCS but not the CPUs the program ran on; `goalloc record` notes them, and a
pacer-mode replay of a program with more Ps than CPUs says the model does not follow that (the
OS time-slicing the Ps: docs/model.md, "Ps beyond the CPUs")."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.trace import Header, Writer
from goalloc.trace import format as fmt
from goalloc.trace import open as open_trace
from goalloc.trace.importers.gocpu import cpus_from

WARNING = "the recording ran GOMAXPROCS="


def test_cpus_are_the_affinity_capped_by_a_cgroup_quota():
    assert cpus_from(8, None) == 8
    assert cpus_from(8, "max 100000\n") == 8  # no quota
    assert cpus_from(8, "200000 100000\n") == 2
    assert cpus_from(8, "150000 100000") == 2  # 1.5 CPUs of time: threads on 2 at once
    assert cpus_from(2, "400000 100000") == 2  # the quota does not add CPUs
    assert cpus_from(4, "5000 100000") == 1
    assert cpus_from(4, "garbage") == 4


def _trace(tmp_path, gomaxprocs: int, cpus: int | None) -> Path:
    n = 4000
    source = {"go_version": "1.23"} | ({} if cpus is None else {"cpus": cpus})
    path = tmp_path / f"p{gomaxprocs}-c{cpus}.msgpack"
    with Writer(path, Header(gomaxprocs=gomaxprocs, source=source), force=True) as w:
        w.write(kind=np.full(n, fmt.ALLOC, np.int64), ts=np.arange(n, dtype=np.int64) * 1000,
                p=np.arange(n, dtype=np.int64) % gomaxprocs, id=np.arange(n, dtype=np.int64),
                size=np.full(n, 4096, np.int64))
    return path


def test_more_ps_than_cpus_is_warned_in_pacer_mode_only(tmp_path):
    over = replay(_trace(tmp_path, 4, 2), Config(gc_mode="pacer"))
    assert (over.recorded_procs, over.recording_cpus) == (4, 2)
    warned = [w for w in over.warnings if w.startswith(WARNING)]
    assert len(warned) == 1 and "GOMAXPROCS=4 on 2 CPUs" in warned[0]
    recorded = replay(_trace(tmp_path, 4, 2), Config(gc_mode="recorded"))
    assert not [w for w in recorded.warnings if w.startswith(WARNING)]  # cycles as recorded
    for procs, cpus in ((2, 2), (1, 2), (4, None)):  # as many, fewer, or not known
        r = replay(_trace(tmp_path, procs, cpus), Config(gc_mode="pacer"))
        assert r.recording_cpus == cpus
        assert not [w for w in r.warnings if w.startswith(WARNING)], (procs, cpus)


def test_the_importer_notes_the_cpus_when_told(tmp_path):
    from goalloc.trace.importers.gotrace import import_gotrace

    src = Path(__file__).parent / "data" / "gotrace-tiny.trace"
    for told in (3, None):
        out = tmp_path / f"{told}.msgpack"
        import_gotrace(src, out, cpus=told)
        with open_trace(out) as r:
            assert r.header.source.get("cpus") == told
