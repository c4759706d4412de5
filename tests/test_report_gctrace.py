"""gctrace lines: the runtime's number formatting and the line shape of conventions.md,
checked with a regex written from that shape (not from goalloc's code)."""

from __future__ import annotations

import re

import pytest

from goalloc.engine.report import Cycle
from goalloc.report.gctrace import fmt_ns_as_ms, gctrace_line, gctrace_lines, itoa_div

NUM = r"(\d+(?:\.\d+)?)"
# gc N @T s P%: A+B+C ms clock, a+b/c/d+e ms cpu, X->Y->Z MB, G MB goal, S MB stacks, L MB globals, n P
GCTRACE = re.compile(
    rf"^gc (\d+) @(\d+\.\d{{3}})s (\d+)%: {NUM}\+{NUM}\+{NUM} ms clock, "
    rf"{NUM}\+{NUM}/{NUM}/{NUM}\+{NUM} ms cpu, (\d+)->(\d+)->(\d+) MB, (\d+) MB goal, "
    rf"(\d+) MB stacks, (\d+) MB globals, (\d+) P$"
)


def test_regex_accepts_a_real_runtime_line():
    real = ("gc 1 @0.019s 1%: 0.018+0.53+0.005 ms clock, 0.14+0.10/0.51/0.66+0.044 ms cpu, "
            "4->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 8 P")
    assert GCTRACE.match(real)


@pytest.mark.parametrize("val, dec, want", [
    (12, 3, "0.012"), (1234, 3, "1.234"), (0, 3, "0.000"), (5, 0, "5"), (120, 1, "12.0"),
])
def test_itoa_div(val, dec, want):
    assert itoa_div(val, dec) == want


@pytest.mark.parametrize("ns, want", [
    (0, "0"), (999, "0"),  # under 1 µs
    (5_000, "0.005"), (45_000, "0.045"),  # x < 100 µs: 3 decimals
    (123_456, "0.12"),  # x = 123 -> 12, 2 decimals
    (1_234_567, "1.2"),  # x = 1234 -> 12, 1 decimal
    (9_999_999, "9.9"),
    (10_000_000, "10"), (123_456_789, "123"),  # whole ms from 10 ms
])
def test_fmt_ns_as_ms_as_the_runtime(ns, want):
    assert fmt_ns_as_ms(ns) == want


def cycle(n=3, start_ts=1_234_567_890, end_ts=1_234_567_890 + 2_500_000, trig=5 << 20,
          end=(6 << 20) + 5, marked=(3 << 20) - 1, goal=8 << 20, done=True):
    return Cycle(n=n, start_event=10, start_ts=start_ts, heap_at_trigger=trig, trigger=trig,
                 goal=goal, marked=marked, heap_at_end=end if done else None,
                 end_event=20 if done else None, end_ts=end_ts if done else None,
                 limit_bound=False)


def test_line_fields_worked_by_hand():
    line = gctrace_line(cycle(), 4, stacks=1 << 20, globals_=(2 << 20) + 7)
    assert line == ("gc 3 @1.234s 0%: 0+2.5+0 ms clock, 0+0/0/0+0 ms cpu, 5->6->2 MB, "
                    "8 MB goal, 1 MB stacks, 2 MB globals, 4 P")
    m = GCTRACE.match(line)
    assert m and m.group(1) == "3" and m.group(2) == "1.234" and m.group(18) == "4"


def test_cpu_fields_and_percentage_worked_by_hand():
    """a+b/c/d+e ms cpu: sweep-termination pause x GOMAXPROCS, assist, background workers,
    idle (0), mark-termination pause x GOMAXPROCS; P% the GC CPU share from the trace's start
    to the cycle's end, assist and pause time added to the run (docs/json.md gc_cpu)."""
    c = cycle(n=1, start_ts=1_000_000, end_ts=3_000_000)
    c.assist_cpu_ns, c.mark_cpu_ns = 1_500_000, 2_000_000
    line = gctrace_line(c, 4, pauses=(30_000, 50_000), util=7)
    assert " 7%: 0.030+2.0+0.050 ms clock, 0.12+1.5/2.0/0+0.20 ms cpu, " in line

    class R:
        procs = 4
        cycles = [c]
        pauses = {"cycles": [{"n": 1, "sweep_termination_ns": 30_000,
                              "mark_termination_ns": 50_000}]}
        gc_cpu = {"span_ns": [0, 3_000_000]}

    # GC: 0.12 + 1.5 + 2.0 + 0.20 = 3.82 ms of CPU; run: 4 x 3 ms + 1.5 ms assist + 0.32 ms
    # of pauses = 13.82 ms; 3.82 / 13.82 = 27.6%: the runtime prints int(27.6) = 27
    (line,) = gctrace_lines(R())
    assert " 27%: " in line


def test_unfinished_cycle_has_no_line():
    assert gctrace_line(cycle(done=False), 1) is None

    class R:
        procs = 2
        cycles = [cycle(n=1), cycle(n=2, done=False)]

    lines = gctrace_lines(R())
    assert len(lines) == 1 and lines[0].startswith("gc 1 @")
