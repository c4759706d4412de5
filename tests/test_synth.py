"""`goalloc synth`: determinism, stream validity, the stated distributions, CLI errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import goalloc.trace
from goalloc.synth import generate

REPO = Path(__file__).resolve().parents[1]
GOALLOC = REPO / ".venv" / "bin" / "goalloc"
SMALL = {  # options that let a short run show each workload's shape
    "steady": {"live": 500},
    "batch": {"phases": 2},
    "fragmenter": {"keep_every": 5, "window": 64},
    "large": {"live": 50},
    "profile": {"profile": "tcmalloc:beta", "scale": 0.01},
}


def events(path):
    """All columns of a trace, concatenated."""
    chunks = list(goalloc.trace.open(path))
    return {
        k: np.concatenate([getattr(c, k) for c in chunks])
        for k in ("kind", "ts", "p", "id", "size", "flags")
    }


def check_stream(ev, procs):
    """Every free names a live id, no live id is reallocated, ids are dense, ts never goes back
    on a P. Returns (live ids at the end, peak live count)."""
    live = set()
    peak = 0
    for kind, oid in zip(ev["kind"].tolist(), ev["id"].tolist(), strict=True):
        if kind == 1:
            assert oid not in live, f"alloc of live id {oid}"
            live.add(oid)
            peak = max(peak, len(live))
        else:
            assert kind == 2
            assert oid in live, f"free of dead id {oid}"
            live.remove(oid)
    assert ev["id"].max() + 1 == peak  # LIFO id reuse: ids are exactly 0..peak-1
    assert ev["p"].min() >= 0 and ev["p"].max() < procs
    for p in range(procs):
        assert np.all(np.diff(ev["ts"][ev["p"] == p]) >= 0)
    alloc = ev["kind"] == 1
    assert np.all(ev["size"][alloc] > 0)
    assert set(np.unique(ev["flags"]).tolist()) <= {0, 1}
    return live, peak


@pytest.mark.parametrize("workload", list(SMALL))
def test_valid_and_deterministic(tmp_path, workload):
    a, b, c = (tmp_path / f"{x}.trace" for x in "abc")
    generate(workload, 20_000, a, procs=3, seed=7, **SMALL[workload])
    generate(workload, 20_000, b, procs=3, seed=7, **SMALL[workload])
    generate(workload, 20_000, c, procs=3, seed=8, **SMALL[workload])
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    ev = events(a)
    assert len(ev["kind"]) == 20_000
    check_stream(ev, 3)
    reader = goalloc.trace.open(a)
    assert reader.header.events == 20_000
    assert reader.header.source["options"]["noscan"] == 0.5 or workload == "large"


def test_output_does_not_depend_on_chunking():
    from goalloc.synth import driver, resolve_options

    def run(step):
        job = driver.SETUP["steady"](5000, 2, 3, resolve_options("steady", {"live": 100}))
        cols = [np.zeros(5000, dtype=b.dtype) for b in driver._buffers()]
        for lo in range(0, 5000, step):
            n = min(step, 5000 - lo)
            part = tuple(np.zeros(n, dtype=c.dtype) for c in cols)
            job.fill(part, n)
            for c, q in zip(cols, part, strict=True):
                c[lo : lo + n] = q
        return cols

    for x, y in zip(run(5000), run(777), strict=True):
        assert np.array_equal(x, y)


def test_ids_grow_past_initial_capacity(tmp_path):
    # 1024 ids are preallocated; batch's peak is ~n/8 objects, so the free-id stack must grow.
    out = tmp_path / "t"
    generate("batch", 40_000, out, procs=2, seed=1, phases=1)
    _, peak = check_stream(events(out), 2)
    assert peak > 4000


def test_ids_beyond_the_limit_are_an_error(tmp_path, monkeypatch):
    # profile keeps ids as int32: more live objects than MAX_IDS stop the run, never wrap.
    from goalloc.errors import GoallocError
    from goalloc.synth import driver

    monkeypatch.setattr(driver, "MAX_IDS", 2048)
    with pytest.raises(GoallocError, match="more than 2,048 live objects"):
        generate("batch", 40_000, tmp_path / "t", procs=2, seed=1, phases=1)
    assert not (tmp_path / "t").exists()


def test_fragmenter_keeps_exactly_every_kth(tmp_path):
    out = tmp_path / "t"
    generate("fragmenter", 30_001, out, procs=2, seed=2, keep_every=7, window=100)
    ev = events(out)
    live, _ = check_stream(ev, 2)
    alloc_ids = ev["id"][ev["kind"] == 1]
    ordinal = np.arange(len(alloc_ids))
    kept = alloc_ids[ordinal % 7 == 6]
    assert sorted(live) == sorted(kept.tolist())  # ids of kept objects are never reused
    sizes = ev["size"][ev["kind"] == 1]
    assert sizes.min() > 4 and sizes.max() <= 256


def live_bytes(ev):
    sizes = {}
    series = np.empty(len(ev["kind"]), dtype=np.int64)
    total = 0
    for j, (kind, oid, size) in enumerate(
        zip(ev["kind"].tolist(), ev["id"].tolist(), ev["size"].tolist(), strict=True)
    ):
        if kind == 1:
            sizes[oid] = size
            total += size
        else:
            total -= sizes.pop(oid)
        series[j] = total
    return series


def test_batch_live_heap_rises_then_falls(tmp_path):
    out = tmp_path / "t"
    generate("batch", 40_000, out, procs=2, seed=3, phases=2)
    series = live_bytes(events(out))
    half = len(series) // 2
    top = int(np.argmax(series[:half]))
    assert 0.33 < top / len(series) < 0.42  # building takes 1 - keep/2 of a phase (2 here)
    assert series[top] > 100 * max(series[top:half].min(), 1)  # ... and is released
    assert np.all(np.diff(series[:top:1000]) > 0)  # rising all the way up
    assert np.all(np.diff(series[top:half:1000]) < 0)  # falling after


def test_large_sizes_and_live_count(tmp_path):
    out = tmp_path / "t"
    generate("large", 20_000, out, procs=2, seed=4, live=100)
    ev = events(out)
    check_stream(ev, 2)
    sizes = ev["size"][ev["kind"] == 1]
    assert sizes.min() > 32 << 10 and sizes.max() <= 4 << 20
    live = np.cumsum(np.where(ev["kind"] == 1, 1, -1))
    assert 85 < live[2000:].mean() < 115
    assert ev["flags"][ev["kind"] == 1].mean() == pytest.approx(0.9, abs=0.03)


def test_steady_requests_and_cache(tmp_path):
    out = tmp_path / "t"
    generate("steady", 30_000, out, procs=4, seed=5, live=1000, request_objects=10)
    ev = events(out)
    live, _ = check_stream(ev, 4)
    # The cache (1000 objects) plus at most a few open requests stay live.
    assert 1000 <= len(live) < 1000 + 4 * 161
    assert set(np.unique(ev["p"][ev["kind"] == 2]).tolist()) == {0, 1, 2, 3}


def test_profile_sizes_follow_weights(tmp_path):
    prof = tmp_path / "w.csv"
    prof.write_text("size,weight\n8,1\n24,2\n100,4\n5000,3\n")
    out = tmp_path / "t"
    generate("profile", 40_000, out, procs=2, seed=6, profile=str(prof), live=200)
    ev = events(out)
    check_stream(ev, 2)
    sizes = ev["size"][ev["kind"] == 1]
    counts = np.array([(sizes == s).sum() for s in (8, 24, 100, 5000)])
    assert counts.sum() == len(sizes)
    expected = len(sizes) * np.array([1, 2, 4, 3]) / 10
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 16.3  # chi-square, 3 degrees of freedom, p = 0.001


def test_profile_birth_death_keeps_num_live(tmp_path):
    # Little's law: each size's live count hovers around num_live (Poisson in steady state).
    prof = tmp_path / "p.csv"
    prof.write_text("size,alloc_rate,num_live\n16,10,40\n64,1,80\n1024,5,20\n")
    out = tmp_path / "t"
    generate("profile", 120_000, out, procs=1, seed=9, profile=str(prof))
    ev = events(out)
    check_stream(ev, 1)
    per_size = live_by_size(ev)
    ts = ev["ts"]
    warm = len(ts) // 4  # skip the warm-up from an empty heap
    dt = np.diff(ts[warm:]).astype(np.float64)
    for size, num_live in ((16, 40), (64, 80), (1024, 20)):
        avg = (per_size[size][warm:-1] * dt).sum() / dt.sum()  # time average
        assert avg == pytest.approx(num_live, rel=0.15), (size, avg)


def live_by_size(ev):
    """size -> live count of that size after each event (ids are reused: walk the stream)."""
    kinds, ids, sizes = ev["kind"].tolist(), ev["id"].tolist(), ev["size"].tolist()
    size_of = {}
    delta = {s: np.zeros(len(kinds), dtype=np.int64) for s in set(sizes) - {0}}
    for j, (kind, oid, size) in enumerate(zip(kinds, ids, sizes, strict=True)):
        if kind == 1:
            size_of[oid] = size
            delta[size][j] = 1
        else:
            delta[size_of.pop(oid)][j] = -1
    return {s: np.cumsum(d) for s, d in delta.items()}


def test_profile_huge_sizes_kept(tmp_path):
    prof = tmp_path / "p.csv"
    prof.write_text(f"size,weight\n16,1\n{3 << 30},1\n")
    out = tmp_path / "t"
    generate("profile", 2000, out, procs=1, seed=1, profile=str(prof), live=10)
    assert (events(out)["size"] == 3 << 30).any()


def test_builtin_profiles_load():
    from goalloc.synth import profiles

    names = profiles.builtin_names()
    assert len(names) == 10 and "tcmalloc:beta" in names
    for name in names:
        p = profiles.load(name)
        assert p.num_live is not None and len(p.sizes) > 500


def test_same_bytes_without_jit(tmp_path):
    """The PRNG and kernels give the same stream when numba is disabled (pure Python)."""
    script = (
        "import sys; from goalloc.synth import generate\n"
        "for w, o in [('steady', {'live': 50}), ('batch', {}), ('fragmenter', {}),"
        " ('large', {'live': 20}), ('profile', {'profile': 'tcmalloc:sigma', 'scale': 0.001})]:\n"
        "    generate(w, 1500, sys.argv[1] + '/' + w, procs=2, seed=11, **o)\n"
    )
    for mode, env in (("jit", {}), ("nojit", {"NUMBA_DISABLE_JIT": "1"})):
        d = tmp_path / mode
        d.mkdir()
        r = subprocess.run(
            [sys.executable, "-c", script, str(d)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
    for w in ("steady", "batch", "fragmenter", "large", "profile"):
        assert (tmp_path / "jit" / w).read_bytes() == (tmp_path / "nojit" / w).read_bytes(), w


# -- CLI ------------------------------------------------------------------------------------


def run_cli(*args, **kw):
    return subprocess.run(
        [str(GOALLOC), *map(str, args)], capture_output=True, text=True, timeout=120, cwd=REPO, **kw
    )


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("size,weight\n8,1\n16,abc\n", ":3:", "not a number"),
        ("size,weight\n8,1\n-4,1\n", ":3:", "1..1 TiB"),
        (f"size,weight\n{(1 << 40) + 1},1\n", ":2:", "1..1 TiB"),
        ("size,weight,x\n8,1,2\n", ":1:", "expected a header"),
        ("size,alloc_rate,num_live\n8,1,0\n", ":2:", "num_live is 0"),
        ("size,weight\n8,1,3\n", ":2:", "expected 2 columns"),
    ],
)
def test_cli_bad_profile(tmp_path, text, where, what):
    prof = tmp_path / "bad.csv"
    prof.write_text(text)
    r = run_cli("synth", "profile", "--profile", prof, "-n", 10, "-o", tmp_path / "t")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"{prof}{where}" in lines[0] and what in lines[0]
    assert not (tmp_path / "t").exists()


def test_cli_errors_and_success(tmp_path, cli):
    out = tmp_path / "t"
    code, stdout, err = cli("synth", "large", "-n", 1000, "-o", out, "--seed", 3)
    assert code == 0 and "1,000 events" in stdout
    code, _, err = cli("synth", "large", "-n", 1000, "-o", out)
    assert code == 2 and "already exists" in err
    code, _, err = cli("synth", "large", "-n", 1000, "-o", out, "--force", "--keep-every", 3)
    assert code == 2 and "does not apply to workload large" in err
    code, _, err = cli("synth", "profile", "-n", 10, "-o", tmp_path / "u")
    assert code == 2 and "--profile" in err
    code, _, err = cli(
        "synth", "profile", "--profile", "tcmalloc:nope", "-n", 10, "-o", tmp_path / "u"
    )
    assert code == 2 and "tcmalloc:beta" in err
    code, _, err = cli("synth", "fragmenter", "--keep-every", 0, "-n", 10, "-o", tmp_path / "u")
    assert code == 2 and "--keep-every" in err


def test_help_does_not_import_numba():
    code = (
        "import sys\nfrom goalloc.cli import main\n"
        "try:\n    main(['synth', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'numba' not in sys.modules, 'numba imported'\n"
        "assert 'goalloc.synth.kernels' not in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "fragmenter" in r.stdout
