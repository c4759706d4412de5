"""`make bench`: run every benchmark, print one table, write benchmarks/results/latest.json.

Each bench_*.py module has `main(argv) -> dict` of metric -> value. The README's performance
table is copied from the printed table, with the date and machine written beside it.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MODULES = ["bench_trace", "bench_synth", "bench_replay", "bench_startup", "bench_compile",
           "bench_shipped", "bench_recorded", "bench_import",
           "bench_grid", "bench_html", "bench_first_touch"]


def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numba
    import numpy

    return {"cpu": cpu, "cores": os.cpu_count(), "arch": platform.machine(),
            "python": platform.python_version(), "numba": numba.__version__,
            "numpy": numpy.__version__}


def main() -> None:
    results = {}
    for name in MODULES:
        if not os.path.exists(os.path.join(HERE, name + ".py")):
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = importlib.import_module(name).main([])
    doc = {"date": datetime.date.today().isoformat(), "machine": machine(), "results": results}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", "latest.json")
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, out)

    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"goalloc benchmarks, {doc['date']}, {doc['machine']['cpu']} "
                    f"({doc['machine']['cores']} cores)")
    t.add_column("benchmark")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for bench, metrics in results.items():
        for k, v in metrics.items():
            t.add_row(bench, k, _fmt(k, v))
    Console().print(t)
    print(f"written {out}", file=sys.stderr)


def _fmt(key: str, v) -> str:
    if isinstance(v, float):
        if key.endswith("per_s"):
            return f"{v / 1e6:.1f} M"
        if key.endswith("bytes"):
            return f"{v / 2**20:.0f} MiB"
        return f"{v:.3g}"
    if isinstance(v, int) and key.endswith("bytes"):
        return f"{v / 2**20:.0f} MiB"
    return str(v)


if __name__ == "__main__":
    main()
