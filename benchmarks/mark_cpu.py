"""Where a recording's marking CPU went (#15, #12), read from Go's own parse of the trace:
per GC cycle, the concurrent mark phase's duration, the CPU time of the background mark
worker goroutines (created by runtime.gcBgMarkWorker: dedicated, fractional and idle) and of
goroutines inside "GC mark assist" ranges while running, each as a multiple of the budget
the model's mark cost assumes (gcBackgroundUtilization, 25% of GOMAXPROCS, over the mark).

goalloc's pacer-mode scan rate is calibrated as scan work / that budget (engine/replay.py
measured_scan_rate); when workers and assists together used more CPU than the budget, the
calibrated rate is that much faster than one CPU's real rate, and the model's own assists,
charged at it, come on top (docs/model.md, "Mark assists").

    go tool trace -d=parsed TRACE | python benchmarks/mark_cpu.py - GOMAXPROCS

(Go 1.24+ `go tool trace`; the 1.23 tool's -d=1 output has another shape.)
"""

from __future__ import annotations

import re
import sys

_TRANSITION = re.compile(r"^M=\S+ P=\S+ G=\S+ StateTransition Time=(\d+) GoID=(\d+) (\w+)->(\w+)")
_RANGE = re.compile(r'^M=\S+ P=\S+ G=(\S+) Range(Begin|End) Time=(\d+) Name="([^"]*)"')
BACKGROUND_UTILIZATION = 0.25


def cycles(lines):
    """[{t0, dur, worker, assist}] per concurrent mark phase (ns)."""
    workers, running, assisting, out = set(), {}, {}, []
    created = None  # a goroutine just created: a worker when its creation stack says so
    cur = None

    def count(g, a, b):
        if cur is None:
            return
        a = max(a, cur["t0"])
        if b <= a:
            return
        if g in workers:
            cur["worker"] += b - a
        if g in assisting and b > max(a, assisting[g]):
            cur["assist"] += b - max(a, assisting[g])

    for line in lines:
        if line.startswith(("\t", "TransitionStack", "Stack")):
            if created is not None and "gcBgMarkWorker" in line:
                workers.add(created)
            continue
        created = None
        m = _TRANSITION.match(line)
        if m:
            t, g, a, b = int(m.group(1)), m.group(2), m.group(3), m.group(4)
            if a == "NotExist":
                created = g
            if b == "Running":
                running[g] = t
            elif a == "Running" and g in running:
                count(g, running.pop(g), t)
            continue
        m = _RANGE.match(line)
        if not m:
            continue
        g, edge, t, name = m.group(1), m.group(2), int(m.group(3)), m.group(4)
        if name == "GC concurrent mark phase":
            if edge == "Begin":
                cur = {"t0": t, "worker": 0, "assist": 0}
            elif cur is not None:
                for h, t0 in running.items():  # count the running up to here
                    count(h, t0, t)
                    running[h] = t
                cur["dur"] = t - cur["t0"]
                out.append(cur)
                cur = None
        elif name == "GC mark assist":
            if edge == "Begin":
                assisting[g] = t
            else:
                if g in running:
                    count(g, running[g], t)
                    running[g] = t
                assisting.pop(g, None)
    return out


def main() -> None:
    src, procs = sys.argv[1], int(sys.argv[2])
    lines = sys.stdin if src == "-" else open(src)
    cs = cycles(lines)
    tot = {"dur": 0, "worker": 0, "assist": 0}
    for i, c in enumerate(cs, start=1):
        budget = BACKGROUND_UTILIZATION * procs * c["dur"]
        print(f"cycle {i}: mark {c['dur'] / 1e6:.3f} ms, workers {c['worker'] / 1e6:.3f} ms CPU "
              f"({c['worker'] / budget:.2f}x the 25% budget), assists "
              f"{c['assist'] / 1e6:.3f} ms CPU ({c['assist'] / budget:.2f}x)")
        for k in tot:
            tot[k] += c[k]
    if tot["dur"]:
        budget = BACKGROUND_UTILIZATION * procs * tot["dur"]
        print(f"all {len(cs)} cycles: workers {tot['worker'] / budget:.2f}x, assists "
              f"{tot['assist'] / budget:.2f}x, marking CPU {(tot['worker'] + tot['assist']) / budget:.2f}x "
              "the 25% budget")


if __name__ == "__main__":
    main()
