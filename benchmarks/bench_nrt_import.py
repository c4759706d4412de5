"""Reference counting in the Go trace importer's event loop (#13): numba's NRT_incref /
NRT_decref call sites in the LLVM IR of goalloc/trace/importers/gotrace_convert.py `convert`
(its own body, the inline handlers included), counted as bench_nrt.py counts them for the
replay kernel. convert is compiled without NRT, so both must be 0. Imports
tests/data/gotrace-tiny.trace with an empty numba cache so that the kernels are compiled
here (about a minute of CPU) and their IR can be read.

    python benchmarks/bench_nrt_import.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> dict:
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="goalloc-nrt-import-")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_nrt import nrt_counts

    from goalloc.trace.importers import gotrace_convert
    from goalloc.trace.importers.gotrace import import_gotrace

    t = time.process_time()
    out = Path(os.environ["NUMBA_CACHE_DIR"]) / "tiny.msgpack"
    import_gotrace(ROOT / "tests" / "data" / "gotrace-tiny.trace", out)
    cold_s = time.process_time() - t
    (ir,) = gotrace_convert.convert.inspect_llvm().values()
    res = nrt_counts(ir, "convert")
    res["cold_import_cpu_s"] = round(cold_s, 1)
    return res


if __name__ == "__main__":
    print(json.dumps(main()))
