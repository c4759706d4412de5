"""`GODEBUG=gctrace=1` lines for modelled GC cycles, in the runtime's exact shape.

The runtime (mgc.go, gcMarkTermination) prints, once per cycle at the end of mark termination:

    gc N @T s P%: A+B+C ms clock, a+b/c/d+e ms cpu, X->Y->Z MB, G MB goal, S MB stacks, L MB globals, n P

with its own number formatting (`itoaDiv`, `fmtNSAsMS`), which is reproduced here so the lines
sit beside real ones. What the model knows and what it does not (docs/json.md, "gctrace"):

- modelled from the trace: N, T (trace clock at mark start), B (mark start to mark
  termination in trace time), X (heapLive at mark start), Y (heapLive at mark termination),
  Z (heap marked), G (heap goal), S and L (the configured stack and globals stand-ins), n (Ps);
- A and C (the sweep- and mark-termination stop-the-world pauses): recorded in recorded GC
  mode when the trace has them, else modelled (goalloc/engine/pauses.py);
- the CPU times (#15): a and e the pauses x GOMAXPROCS, b the cycle's assist time, c its
  background mark workers' time (engine/mark.py), d (idle marking) 0: not modelled; P% the
  GC CPU fraction from the trace's start to this cycle's end, as the runtime's
  gc_cpu_fraction (assist and pause time extend the run: docs/json.md gc_cpu).
Without a real clock (report/caveats.py no-clock) every time and CPU field is 0.

A forced cycle (Cycle.kind == "forced") ends in ` (forced)` as the runtime's does. Cycles
still marking when the trace ends get no line: the runtime prints at mark termination. No numba, no numpy.
"""

from __future__ import annotations

MB_SHIFT = 20


def itoa_div(val: int, dec: int) -> str:
    """runtime.itoaDiv: `val` / 10^dec printed with `dec` decimals."""
    s = str(int(val))
    if dec <= 0:
        return s
    s = s.rjust(dec + 1, "0")
    return f"{s[:-dec]}.{s[-dec:]}"


def fmt_ns_as_ms(ns: int) -> str:
    """runtime.fmtNSAsMS: whole ms from 10 ms up, else two significant digits, <= 3 decimals."""
    ns = max(0, int(ns))
    if ns >= 10_000_000:
        return itoa_div(ns // 1_000_000, 0)
    x = ns // 1000
    if x == 0:
        return "0"
    dec = 3
    while x >= 100:
        x //= 10
        dec -= 1
    return itoa_div(x, dec)


def gctrace_line(cycle, procs: int, *, stacks: int = 0, globals_: int = 0,
                 pauses: tuple[int, int] = (0, 0), util: int = 0,
                 clock: bool = True) -> str | None:
    """One cycle's line, or None when the cycle did not finish (no mark termination).
    `util`: the GC CPU percentage to print; `clock` False: every time field is 0."""
    if cycle.end_ts is None or cycle.heap_at_end is None:
        return None
    start = int(cycle.start_ts) if clock else 0
    mark = int(cycle.end_ts) - int(cycle.start_ts) if clock else 0
    if not clock:
        pauses, util = (0, 0), 0
    at = itoa_div(max(0, start) // 1_000_000, 3)
    wall = "+".join(fmt_ns_as_ms(ns) for ns in (pauses[0], mark, pauses[1]))
    assist = getattr(cycle, "assist_cpu_ns", 0) if clock else 0
    background = getattr(cycle, "mark_cpu_ns", 0) if clock else 0
    cpu = (f"{fmt_ns_as_ms(pauses[0] * procs)}+{fmt_ns_as_ms(assist)}/"
           f"{fmt_ns_as_ms(background)}/{fmt_ns_as_ms(0)}+{fmt_ns_as_ms(pauses[1] * procs)}")
    heap = (
        f"{int(cycle.heap_at_trigger) >> MB_SHIFT}->{int(cycle.heap_at_end) >> MB_SHIFT}"
        f"->{int(cycle.marked) >> MB_SHIFT} MB"
    )
    return (
        f"gc {cycle.n} @{at}s {int(util)}%: {wall} ms clock, {cpu} ms cpu, {heap}, "
        f"{int(cycle.goal) >> MB_SHIFT} MB goal, {int(stacks) >> MB_SHIFT} MB stacks, "
        f"{int(globals_) >> MB_SHIFT} MB globals, {procs} P"
        + (" (forced)" if getattr(cycle, "kind", None) == "forced" else "")
    )


def gctrace_lines(report, *, stacks: int | None = None, globals_: int | None = None) -> list[str]:
    """Every finished cycle of `report` as a gctrace line (stacks/globals: the report's own
    figures when it has them, else the given ones, else 0)."""
    from goalloc.report.caveats import has_clock

    if stacks is None:
        stacks = getattr(report, "stack_bytes", 0) or 0
    if globals_ is None:
        globals_ = getattr(report, "globals_bytes", 0) or 0
    clock = has_clock(report) if hasattr(report, "events") else True
    lines = []
    # A and C: the cycle's stop-the-world pauses (recorded or modelled, goalloc/engine/pauses.py)
    p = getattr(report, "pauses", None) or {}
    by_n = {c["n"]: (c["sweep_termination_ns"] or 0, c["mark_termination_ns"] or 0)
            for c in p.get("cycles", [])}
    t0 = ((getattr(report, "gc_cpu", None) or {}).get("span_ns") or [None])[0]
    gc = extra = 0  # cumulative GC CPU, and assist + pause time the trace's clock lacks
    for c in report.cycles:
        pauses = by_n.get(c.n, (0, 0))
        stw = (pauses[0] + pauses[1]) * report.procs
        gc += getattr(c, "assist_cpu_ns", 0) + getattr(c, "mark_cpu_ns", 0) + stw
        extra += getattr(c, "assist_cpu_ns", 0) + stw
        util = 0
        if t0 is not None and c.end_ts is not None:
            total = (int(c.end_ts) - t0) * report.procs + extra
            util = int(100 * gc / total) if total > 0 else 0
        line = gctrace_line(c, report.procs, stacks=stacks, globals_=globals_, pauses=pauses,
                            util=util, clock=clock)
        if line is not None:
            lines.append(line)
    return lines
