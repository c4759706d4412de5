"""What the Go runtime's background scavenger spends per 64 KiB quantum on this machine, by
its own clock (issue #20): benchmarks/go/scavcost, built with each Go toolchain given, run
with GOMAXPROCS=2. The runtime times each scavenge call (scavengerState.run) and counts it in
/cpu/classes/scavenge/background; released bytes over that time gives ns per quantum (64 KiB
and 1 MiB objects freed whole: one madvise call of 16 physical pages per quantum), to set
beside goalloc's cost model (Config.scavenge_call_ns + 16 x scavenge_page_ns) and
benchmarks/bench_madvise.py's Python-side figures; and ns per call where every free run is
one 8 KiB runtime page (8 KiB objects, every other one kept: two physical pages per call),
which with the first tells the call's part from the pages'. Rounds that released under 4 MiB
are left out (too little to time). `--churn 64,1024`: the 64 KiB rounds again with a
goroutine allocating objects of each size while the scavenger works (the program otherwise
sleeps), with the lock waits (/sync/mutex/wait/total, every goroutine's) and GC cycles of
those rounds: what the scavenger pays beside a working program. `--ring BYTES` (live bytes
the churn keeps, 4 MiB by default) and `--pace K` (a 2 ms sleep every K allocations) set its
GC cycle rate, which the cost follows (docs/model.md, item 4: 8 KiB churn, --ring 4194304 or
33554432, --pace 0 or 100).

    python benchmarks/bench_scavcost.py [--go 1.23,1.27] [--rounds 4] [--churn SIZES]
                                        [--ring BYTES] [--pace K] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "benchmarks" / "go" / "scavcost"
QUANTUM = 64 << 10


def build(go: str, out: Path) -> None:
    (out / "go.mod").write_text("module scavcost\n\ngo 1.23\n")
    (out / "main.go").write_text((SRC / "main.go").read_text())
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod",
           "GOCACHE": os.environ.get("GOCACHE") or str(out / "gocache")}
    subprocess.run([go, "build", "-o", str(out / "scavcost"), "."], cwd=out, env=env,
                   check=True, timeout=600)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--go", default="1.23,1.27")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--churn", default="", help="object sizes a goroutine allocates while "
                    "the scavenger works, comma-separated (64 KiB rounds)")
    ap.add_argument("--ring", type=int, default=4 << 20,
                    help="bytes of churned objects kept live (sets the GC cycle rate)")
    ap.add_argument("--pace", type=int, default=0,
                    help="the churn sleeps 2 ms after every this many allocations (0: never)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from goalloc.trace.importers.gotoolchain import go_release

    results = []
    for v in a.go.split(","):
        go = go_release(int(v.split(".")[1]))
        if go is None:
            print(f"Go {v} is not installed", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory(prefix="goalloc-scavcost-") as d:
            build(go, Path(d))
            cases = [(64 << 10, 0, QUANTUM, 0), (1 << 20, 0, QUANTUM, 0), (8 << 10, 2, 8 << 10, 0)]
            cases += [(64 << 10, 0, QUANTUM, int(c)) for c in a.churn.split(",") if c]
            for size, keep, unit, churn in cases:
                p = subprocess.run([str(Path(d) / "scavcost"), "-size", str(size), "-keep",
                                    str(keep), "-rounds", str(a.rounds), "-churn", str(churn),
                                    "-ring", str(a.ring), "-pace", str(a.pace)],
                                   env={**os.environ, "GOMAXPROCS": "2"},
                                   capture_output=True, text=True, check=True, timeout=600)
                rows = [json.loads(x) for x in p.stdout.splitlines()]
                timed = [r for r in rows
                         if r["released_bytes"] >= 4 << 20 and r["background_ns"] > 0]
                per = [r["background_ns"] / (r["released_bytes"] / unit) for r in timed]
                results.append({"go": v, "object_bytes": size, "kept_every": keep,
                                "churn_bytes": churn,
                                "per": "quantum" if unit == QUANTUM else "8 KiB call",
                                "rounds": len(per), "ns": [round(x) for x in per],
                                "median_ns": round(statistics.median(per)) if per else None,
                                "scavenge_ms": [round(r["background_ns"] / 1e6) for r in timed],
                                "lock_wait_ms": [round(r["lock_wait_ns"] / 1e6, 1)
                                                 for r in timed],
                                "gc_cycles": [r["gc_cycles"] for r in timed]})
    if a.json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            kept = f", every {r['kept_every']}th kept" if r["kept_every"] else ""
            churn = ""
            if r["churn_bytes"]:
                churn = (f", {r['churn_bytes']} B objects allocated meanwhile (scavenger ms "
                         f"{r['scavenge_ms']}, lock waits ms {r['lock_wait_ms']}, GC cycles "
                         f"{r['gc_cycles']})")
            print(f"Go {r['go']}, {r['object_bytes'] >> 10} KiB objects{kept}: median "
                  f"{r['median_ns']} ns per {r['per']} over {r['rounds']} rounds "
                  f"({', '.join(map(str, r['ns']))}){churn}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
