"""Where a recording's marking CPU went (#15, #12), read from Go's own parse of the trace:
per GC cycle, the concurrent mark phase's duration, the CPU time of the background mark
worker goroutines (created by runtime.gcBgMarkWorker: dedicated, fractional and idle) and of
goroutines inside "GC mark assist" ranges while running, each as a multiple of the budget
the model's mark cost assumes (gcBackgroundUtilization, 25% of GOMAXPROCS, over the mark).
Also per mark: how often an assist parked for want of work (gcParkAssist, the model's
mark.park), and how far heapLive went past the goal the cycle began with (revise stretches
the goal to at most (1 + GOGC/100) x it, then x 1.1, while the scan work it expects holds;
beyond that, the assist ratio has collapsed: docs/model.md, "Pacer mode, Green Tea's scan
work").

Last, over the whole trace: the runs of the other goroutines and how long, from an instant one
runs, its P goes on before it next schedules (where a fractional worker can start; docs/model.md,
"Pacer mode, Green Tea's scan work").

goalloc's pacer-mode scan rate is calibrated as scan work / that budget (engine/replay.py
measured_scan_rate); when workers and assists together used more CPU than the budget, the
calibrated rate is that much faster than one CPU's real rate, and the model's own assists,
charged at it, come on top (docs/model.md, "Mark assists").

    go tool trace -d=parsed TRACE | python benchmarks/mark_cpu.py - GOMAXPROCS

(Go 1.24+ `go tool trace`, which reads 1.23 recordings too; the 1.23 tool's -d=1 output has
another shape.)
"""

from __future__ import annotations

import re
import sys

_TRANSITION = re.compile(r"^M=\S+ P=\S+ G=\S+ StateTransition Time=(\d+) GoID=(\d+) (\w+)->(\w+)")
_RANGE = re.compile(r'^M=\S+ P=\S+ G=(\S+) Range(Begin|End) Time=(\d+) Name="([^"]*)"')
# heapLive (the trace's HeapAlloc event) and the heap goal, as Go's parser names them
_METRIC = re.compile(r'^M=\S+ P=\S+ G=\S+ Metric Time=\d+ '
                     r'Name="(/memory/classes/heap/objects:bytes|/gc/heap/goal:bytes)" '
                     r'Value=Value\{Uint64\((\d+)\)\}')
PARK = 'Reason="GC mark assist wait for work"'  # gcParkAssist's traceBlockGCMarkAssist
# the label a worker goroutine gets each time it starts (gcBgMarkWorker: a worker created
# before the trace began has no creation stack in it)
_WORKER_LABEL = re.compile(r'Label="GC \((?:dedicated|fractional|idle)\)" Resource=Goroutine\((\d+)\)')
BACKGROUND_UTILIZATION = 0.25


class Runs:
    """The runs of the goroutines other than the mark workers, each from the scheduler
    starting it to its stop, block or exit: where its P next goes through the scheduler,
    the only place a fractional mark worker can start (findRunnableGCWorker; GOMAXPROCS 1-3
    has no dedicated worker). A syscall whose goroutine comes back running kept its P and
    does not end the run; one that comes back runnable lost it (handoffp, sysmon's retake)
    and ends the run where it began."""

    def __init__(self):
        self.n, self.ns, self.ns2 = 0, 0, 0
        self.start, self.syscall = {}, {}

    def end(self, g, t):
        t0 = self.start.pop(g, None)
        if t0 is not None and t > t0:
            self.n += 1
            self.ns += t - t0
            self.ns2 += (t - t0) ** 2

    def transition(self, t, g, a, b, workers):
        if b == "Running" and a != "Syscall":
            self.start[g] = t
        elif a == "Running" and b == "Syscall":
            self.syscall[g] = t
        elif a == "Syscall" and b != "Running":
            self.end(g, self.syscall.pop(g, t))
        elif a == "Running":
            self.end(g, t)
        if g in workers:
            self.start.pop(g, None)  # a mark worker's run (its label follows its start)

    def residual(self) -> float:
        """sum(run^2) / (2 sum(run)), ns: from an instant a P runs one of these goroutines,
        the mean wait until that P next schedules."""
        return self.ns2 / (2 * self.ns) if self.ns else 0.0


def cycles(lines, runs: Runs | None = None):
    """[{t0, dur, worker, assist, parks, live0, live_max, goal}] per concurrent mark phase
    (ns; parks: assists parked for want of work; heapLive at the mark's start and its most
    during it; the goal the cycle started with); `runs` takes every goroutine's runs."""
    workers, running, assisting, out = set(), {}, {}, []
    live = goal = 0
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
        m = _WORKER_LABEL.search(line)
        if m:
            workers.add(m.group(1))
            if runs is not None:
                runs.start.pop(m.group(1), None)
            continue
        m = _METRIC.match(line)
        if m:
            if m.group(1).startswith("/gc"):
                goal = int(m.group(2))
            else:
                live = int(m.group(2))
                if cur is not None:
                    cur["live_max"] = max(cur["live_max"], live)
            continue
        m = _TRANSITION.match(line)
        if m:
            t, g, a, b = int(m.group(1)), m.group(2), m.group(3), m.group(4)
            if cur is not None and b == "Waiting" and PARK in line:
                cur["parks"] += 1
            if a == "NotExist":
                created = g
            if runs is not None:
                runs.transition(t, g, a, b, workers)
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
                cur = {"t0": t, "worker": 0, "assist": 0, "parks": 0, "live0": live,
                       "live_max": live, "goal": goal}
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
    runs = Runs()
    cs = cycles(lines, runs)
    tot = {"dur": 0, "worker": 0, "assist": 0, "parks": 0}
    over = []  # heapLive's most during the mark / the goal
    for i, c in enumerate(cs, start=1):
        budget = BACKGROUND_UTILIZATION * procs * c["dur"]
        peak = c["live_max"] / c["goal"] if c["goal"] else 0.0
        over.append(peak)
        print(f"cycle {i}: mark {c['dur'] / 1e6:.3f} ms, workers {c['worker'] / 1e6:.3f} ms CPU "
              f"({c['worker'] / budget:.2f}x the 25% budget), assists "
              f"{c['assist'] / 1e6:.3f} ms CPU ({c['assist'] / budget:.2f}x), "
              f"{c['parks']} assist parks, heapLive {c['live0'] / 2**20:.1f} -> at most "
              f"{c['live_max'] / 2**20:.1f} MiB for a goal of {c['goal'] / 2**20:.1f} "
              f"({peak:.2f}x)")
        for k in tot:
            tot[k] += c[k]
    if tot["dur"]:
        budget = BACKGROUND_UTILIZATION * procs * tot["dur"]
        parked = sum(1 for c in cs if c["parks"])
        print(f"all {len(cs)} cycles: workers {tot['worker'] / budget:.2f}x, assists "
              f"{tot['assist'] / budget:.2f}x, marking CPU {(tot['worker'] + tot['assist']) / budget:.2f}x "
              f"the 25% budget; {tot['parks']} assist parks in {parked} marks; heapLive at most "
              f"{max(over):.2f}x the goal (median {sorted(over)[len(over) // 2]:.2f}x)")
    if runs.n:
        print(f"other goroutines: {runs.n} runs, {runs.ns / runs.n / 1e3:.1f} us mean; from an "
              f"instant one runs, {runs.residual() / 1e6:.2f} ms on average until its P next "
              "schedules (sum run^2 / 2 sum run)")


if __name__ == "__main__":
    main()
