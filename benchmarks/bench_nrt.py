"""Reference counting in the replay kernel's compiled code (#13): numba's NRT_incref /
NRT_decref call sites in the LLVM IR of engine/kernel.py replay_chunk (the event loop), counted
in the function's own body (callees that stay calls are separate functions). The fast paths are
written as straight-line `inline="always"` steps over arrays the kernel loaded once; a step
that reads through the state, or holds a loop or a call, brings reference counting into the
loop. Compiles the kernel once without the cache (about a minute).

    python benchmarks/bench_nrt.py [IR.ll]     # IR.ll: where to save the kernel's LLVM IR
"""

from __future__ import annotations

import json
import re
import sys
import time


def nrt_counts(ir: str, name: str) -> dict:
    """incref/decref call sites and all call sites in the body of each function whose symbol
    contains `name` (the numba wrappers for CPython and cfunc excluded)."""
    out = {"incref": 0, "decref": 0, "calls": 0, "functions": 0}
    for body in ir.split("\ndefine ")[1:]:
        m = re.search(r'@"?([^"(\s]+)', body.split("\n", 1)[0])
        symbol = m.group(1) if m else ""
        if name not in symbol or "cpython" in symbol or "cfunc" in symbol:
            continue
        body = body.split("\n}\n", 1)[0]
        out["functions"] += 1
        out["incref"] += body.count("@NRT_incref")
        out["decref"] += body.count("@NRT_decref")
        out["calls"] += body.count(" call ")
    return out


def main(argv=None) -> dict:
    from pathlib import Path

    import goalloc.jit  # noqa: F401  (before numba: it sets numba's cache directory)

    # isort: split
    import numba
    import numpy as np

    import goalloc.trace
    from goalloc.engine import kernel as K
    from goalloc.engine import mbitmap
    from goalloc.engine.config import Config
    from goalloc.engine.replay import Engine

    # a real chunk, so the argument types are those of a replay
    path = Path(__file__).resolve().parents[1] / "traces" / "go-json-decoder.msgpack"
    with goalloc.trace.open(path) as r:
        c = next(iter(r))
        eng = Engine(r.header, Config())
    fresh = numba.njit(nogil=True)(K.replay_chunk.py_func)  # compiled here, not loaded
    t = time.perf_counter()
    none = np.zeros(0, np.int64)  # no look-ahead deaths
    scan = mbitmap.scan_sizes(c.kind, c.size, c.site, eng.site_types)
    fresh(eng.arrays.state, c.kind, c.ts, c.p, c.id, c.size, c.flags, scan, c.start, 0, none,
          none)
    compile_s = time.perf_counter() - t
    (ir,) = fresh.inspect_llvm().values()
    if len(argv) > 0:
        Path(argv[0]).write_text(ir)
    res = nrt_counts(ir, "replay_chunk")
    res["compile_s"] = round(compile_s, 1)
    return res


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
