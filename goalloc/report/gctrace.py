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
- not modelled, printed as 0: P% (GC CPU share) and all five CPU times.

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
                 pauses: tuple[int, int] = (0, 0)) -> str | None:
    """One cycle's line, or None when the cycle did not finish (no mark termination)."""
    if cycle.end_ts is None or cycle.heap_at_end is None:
        return None
    start = int(cycle.start_ts)
    mark = int(cycle.end_ts) - start
    at = itoa_div(max(0, start) // 1_000_000, 3)
    clock = "+".join(fmt_ns_as_ms(ns) for ns in (pauses[0], mark, pauses[1]))
    cpu = f"{fmt_ns_as_ms(0)}+{fmt_ns_as_ms(0)}/{fmt_ns_as_ms(0)}/{fmt_ns_as_ms(0)}+{fmt_ns_as_ms(0)}"
    heap = (
        f"{int(cycle.heap_at_trigger) >> MB_SHIFT}->{int(cycle.heap_at_end) >> MB_SHIFT}"
        f"->{int(cycle.marked) >> MB_SHIFT} MB"
    )
    return (
        f"gc {cycle.n} @{at}s 0%: {clock} ms clock, {cpu} ms cpu, {heap}, "
        f"{int(cycle.goal) >> MB_SHIFT} MB goal, {int(stacks) >> MB_SHIFT} MB stacks, "
        f"{int(globals_) >> MB_SHIFT} MB globals, {procs} P"
        + (" (forced)" if getattr(cycle, "kind", None) == "forced" else "")
    )


def gctrace_lines(report, *, stacks: int | None = None, globals_: int | None = None) -> list[str]:
    """Every finished cycle of `report` as a gctrace line (stacks/globals: the report's own
    figures when it has them, else the given ones, else 0)."""
    if stacks is None:
        stacks = getattr(report, "stack_bytes", 0) or 0
    if globals_ is None:
        globals_ = getattr(report, "globals_bytes", 0) or 0
    lines = []
    # A and C: the cycle's stop-the-world pauses (recorded or modelled, goalloc/engine/pauses.py)
    p = getattr(report, "pauses", None) or {}
    by_n = {c["n"]: (c["sweep_termination_ns"] or 0, c["mark_termination_ns"] or 0)
            for c in p.get("cycles", [])}
    for c in report.cycles:
        line = gctrace_line(c, report.procs, stacks=stacks, globals_=globals_,
                            pauses=by_n.get(c.n, (0, 0)))
        if line is not None:
            lines.append(line)
    return lines
