"""The bit intrinsics the kernels use agree with Python's integer arithmetic; a compile shows
its progress on a terminal."""

from __future__ import annotations

import io
import random
import re
import time

import numba
import numba.core.event
import numpy as np

from goalloc.jit import ctz64, hibit64, install_progress, kernel, popcount64


@kernel
def _bits(xs, out):
    for i in range(xs.shape[0]):
        out[i, 0] = ctz64(xs[i])
        out[i, 1] = hibit64(xs[i])
        out[i, 2] = popcount64(xs[i])


def test_intrinsics_match_python_ints():
    rnd = random.Random(5)
    vals = [1, 2, 3, 1 << 63, (1 << 64) - 1] + [rnd.getrandbits(rnd.randint(1, 64)) | 1 << rnd.randint(0, 63)
                                                   for _ in range(500)]
    xs = np.array(vals, dtype=np.uint64)
    out = np.zeros((len(vals), 3), np.int64)
    _bits(xs, out)
    for v, (tz, hi, pop) in zip(vals, out.tolist(), strict=True):
        assert tz == (v & -v).bit_length() - 1
        assert hi == v.bit_length() - 1
        assert pop == bin(v).count("1")


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_compile_progress_names_what_compiles_and_the_time():
    # a fresh (uncached) function: compiling it fires numba's compile event
    stream = _Tty()
    listener = install_progress(stream)
    try:
        f = numba.njit(lambda x: x + 1)
        assert f(1) == 2
        time.sleep(listener.tick * 3)  # the ticker draws at least once while idle-waiting
        listener.finish()
    finally:
        numba.core.event.unregister("numba:compile", listener)
    out = stream.getvalue()
    assert "test_jit" in out  # the function's module names what compiled
    last = out.rsplit("\r\x1b[K", 1)[-1]
    assert re.fullmatch(r"compiled 1 numba functions in \d+\.\d s \(cached for later runs\)\n", last)


def test_no_progress_when_not_a_terminal():
    assert install_progress(io.StringIO()) is None


# ---- specialisations and callees (goalloc.jit, #14) ------------------------------------------

_MOD = '''
from goalloc.jit import kernel, njit

FLAG = True


@njit(cache=True)
def leaf(x, flag):
    return x * 3 + (1 if flag else 0)


@njit(cache=True)
def mid(x):
    return leaf(x, FLAG) + leaf(x + 1, False)


@kernel
def top(x):
    return mid(x) + leaf(x, True)
'''

_CHILD = '''
import json, os, sys
from numba.core import event
import goalloc.jit as jit
import jitmod

compiled = []
class Count(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__name__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Count())

def linked_only(f):
    return [isinstance(c.entry_point, jit._LinkedOnly) for c in f.overloads.values()]

def cached():
    return sorted({n.split(".")[1].split("-")[0] for _, _, fs in os.walk(os.environ["NUMBA_CACHE_DIR"])
                   for n in fs if n.endswith(".nbi")})

out = {"defer": jit.DEFER_CALLEES, "top": jitmod.top(2)}
out["after_top"] = {"compiled": sorted(set(compiled)), "leaf": linked_only(jitmod.leaf),
                    "mid": linked_only(jitmod.mid), "cached": cached()}
compiled.clear()
out["mid"] = jitmod.mid(5)  # a callee called from Python
out["after_mid"] = {"compiled": sorted(set(compiled)), "mid": linked_only(jitmod.mid),
                    "cached": cached()}
out["top_again"] = jitmod.top(2)
print(json.dumps(out))
'''


def _leaf(x, flag):
    return x * 3 + (1 if flag else 0)


def _mid(x):
    return _leaf(x, True) + _leaf(x + 1, False)


def _run_child(tmp_path, cache, **env):
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "jitmod.py").write_text(_MOD)
    (tmp_path / "child.py").write_text(_CHILD)
    e = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=os.pathsep.join(
        [str(tmp_path), *[p for p in sys.path if p]]), **env)
    r = subprocess.run([sys.executable, str(tmp_path / "child.py")], env=e, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_callees_are_compiled_for_their_callers_only(tmp_path):
    cache = tmp_path / "cache"
    first = _run_child(tmp_path, cache)
    assert first["defer"] is True
    assert first["top"] == _mid(2) + _leaf(2, True)
    a = first["after_top"]
    assert a["compiled"] == ["leaf", "mid", "top"]
    # one specialisation of leaf for the three constant flags it is called with
    assert a["leaf"] == [True] and a["mid"] == [True]  # linked into top, no code of their own
    assert a["cached"] == ["top"]
    # called from Python, the callee is compiled again as an entry (and cached as one)
    assert first["mid"] == _mid(5)
    b = first["after_mid"]
    assert b["compiled"] == ["mid"]  # leaf is linked into it as it is
    assert b["mid"] == [False] and b["cached"] == ["mid", "top"]
    assert first["top_again"] == first["top"]
    # a second process loads both entries from the cache and compiles nothing
    second = _run_child(tmp_path, cache)
    assert second["after_top"]["compiled"] == [] and second["after_mid"]["compiled"] == []
    assert second["top"] == first["top"] and second["mid"] == first["mid"]


def test_callees_compiled_whole_when_deferral_is_off(tmp_path):
    out = _run_child(tmp_path, tmp_path / "cache", GOALLOC_DEFER_CALLEES="0")
    assert out["defer"] is False
    assert out["top"] == _mid(2) + _leaf(2, True) and out["mid"] == _mid(5)
    a = out["after_top"]
    assert a["leaf"] == [False] and a["mid"] == [False]  # numba's own: each has machine code
    assert a["cached"] == ["leaf", "mid", "top"]
    assert out["after_mid"]["compiled"] == []  # mid was compiled whole already


def test_deferred_callees_give_the_same_import(tmp_path):
    """An importer's kernels compiled cold with callees deferred and compiled whole (numba's
    own way) write byte-identical traces (mtrace: a few seconds of compiling each way)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parent / "data" / "mtrace-git-version.txt"
    outs = []
    for defer in ("1", "0"):
        out = tmp_path / f"out-{defer}.msgpack"
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / f"cache-{defer}"),
                   GOALLOC_DEFER_CALLEES=defer)
        r = subprocess.run([sys.executable, "-m", "goalloc", "import", "mtrace", str(src),
                            "-o", str(out)], env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


_ENTRIES = r'''
import importlib, json, pkgutil, sys
import goalloc
import goalloc.engine as E
from goalloc import jit
from goalloc.engine.config import Config
from numba.core.registry import CPUDispatcher
for mode in ("pacer", "recorded"):
    goalloc.replay(sys.argv[1], Config(gc_mode=mode))
goalloc.replay(sys.argv[2], Config())
uncounted, entries = [], []
for m in pkgutil.iter_modules(E.__path__):
    mod = importlib.import_module("goalloc.engine." + m.name)
    for name, obj in vars(mod).items():
        if isinstance(obj, CPUDispatcher) and obj.targetoptions.get("_nrt") is False:
            uncounted.append(m.name + "." + name)
            if any(not isinstance(c.entry_point, jit._LinkedOnly)
                   for c in obj.overloads.values()):
                entries.append(m.name + "." + name)
print(json.dumps({"on": jit.STATE_WITHOUT_REFCOUNTS, "uncounted": sorted(set(uncounted)),
                  "entries": sorted(set(entries))}))
'''


def test_state_functions_without_refcounts_are_never_called_from_python(tmp_path):
    """Functions over the engine state compile without reference counting (goalloc/jit.py):
    called from Python one would keep a reference to the state for good. After replays of a
    Go trace in both GC modes and a synthetic one, none of them has a Python entry (a
    kernel that is one, like locks.reserve, says _nrt=True), and the refill path's
    functions are among them."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import goalloc.synth

    repo = Path(__file__).resolve().parent.parent
    synth = tmp_path / "steady.msgpack"
    goalloc.synth.generate("steady", 50_000, synth, procs=4, seed=3, force=True)
    r = subprocess.run([sys.executable, "-c", _ENTRIES,
                        str(repo / "traces" / "go127-http-clientserver.msgpack"), str(synth)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["on"] is True
    assert {"sweep.sweep_span", "mcentral.cache_span", "mheap.alloc_span",
            "mspan.init_span"} <= set(out["uncounted"])
    assert out["entries"] == []


def test_replays_do_not_depend_on_the_state_refcounts(tmp_path):
    """The state's functions compiled with and without numba's reference counting
    (GOALLOC_STATE_REFCOUNTS=1: as numba does, a cache of its own) give the same JSON, in
    both GC modes of a Go trace and on a synthetic one."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import goalloc.synth

    repo = Path(__file__).resolve().parent.parent
    synth = tmp_path / "steady.msgpack"
    goalloc.synth.generate("steady", 200_000, synth, procs=4, seed=3, force=True)
    go = repo / "traces" / "go127-http-clientserver.msgpack"
    runs = [(go, ["--gc", "recorded"]), (go, ["--gc", "pacer"]), (synth, ["--gogc", "50"])]
    outs = {}
    for counted in ("0", "1"):
        env = dict(os.environ, GOALLOC_STATE_REFCOUNTS=counted)
        env.pop("NUMBA_CACHE_DIR", None)
        for k, (trace, opts) in enumerate(runs):
            r = subprocess.run([sys.executable, "-m", "goalloc", "replay", str(trace), *opts,
                                "--json"], env=env, capture_output=True, timeout=900,
                               cwd=tmp_path)
            assert r.returncode == 0, r.stderr.decode()
            outs[counted, k] = r.stdout
    for k in range(len(runs)):
        assert outs["0", k] == outs["1", k], runs[k]
