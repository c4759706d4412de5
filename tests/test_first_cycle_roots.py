"""The roots of a pacer-mode replay's first cycle (engine/replay.py, docs/model.md "Pacer
mode"): stacks + globals come from the recording's commits (gcControllerCommit traces
heapMarked, then the goal it set: goal - 2 x marked at GOGC=100), each handed over at its
cycle's gc_start. The model's first cycle starts at the same trigger as the runtime's but
events before the recording's gc_start event, so until that gc_start the first recorded value
stands: the roots are there from the program's start. Checked on a hand-made trace of
pointer-free 64 KiB objects, whose scan work is the roots alone."""

from __future__ import annotations

from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.trace import Header, Writer
from goalloc.trace import format as fmt

MS = 1_000_000
OBJ = 64 << 10
ROOTS = 200_000  # the recording's stacks + globals


def _trace(path):
    """The heap minimum's goal (4 MiB), 62 pointer-free 64 KiB objects (the first cycle's
    trigger, 61/64 of 4 MiB, is reached by the 61st), the recorded gc_start after the 62nd,
    its mark termination tracing heapMarked (62 objects) and the goal 2 x marked + ROOTS,
    then 40 more objects."""
    cols = {c: [] for c in ("kind", "ts", "id", "size", "aux", "flags", "p")}

    def ev(kind, ts, i=0, size=0, flags=0):
        for c, v in zip(cols, (kind, ts, i, size, 0, flags, 0), strict=True):
            cols[c].append(v)
    ev(fmt.HEAP_GOAL, 1, size=4 << 20)
    for i in range(62):
        ev(fmt.ALLOC, 10 + i * 1000, i, OBJ, fmt.FLAG_NOSCAN)
    ev(fmt.GC_START, 1 * MS, 1)
    ev(fmt.GC_MARK_TERM, 2 * MS, 1)
    ev(fmt.HEAP_LIVE, 2 * MS + 1, size=62 * OBJ)
    ev(fmt.HEAP_GOAL, 2 * MS + 2, size=2 * 62 * OBJ + ROOTS)
    for i in range(62, 102):
        ev(fmt.ALLOC, 3 * MS + i * 1000, i, OBJ, fmt.FLAG_NOSCAN)
    with Writer(path, Header(frees="sweep", sizes="requested", gomaxprocs=2), force=True) as w:
        w.write(**cols)


def test_first_model_cycle_scans_the_recorded_roots(tmp_path):
    path = tmp_path / "t.msgpack"
    _trace(path)
    rec = replay(path, Config(gc_mode="recorded"))
    assert rec.cycles[0].start_event == 63  # the gc_start, after the 62nd allocation (1-62)
    assert rec.cycles[0].scan_work == ROOTS
    p = replay(path, Config(gc_mode="pacer"))
    first = p.cycles[0]
    assert first.start_event == 61  # at the 61st allocation, the trigger: before the gc_start
    assert first.heap_at_trigger == 61 * OBJ
    assert first.scan_work == ROOTS  # nothing pointerful in the heap: the roots alone
    # stand-ins from the config replace the trace's own
    s = replay(path, Config(gc_mode="pacer", stack_bytes=1000, globals_bytes=24))
    assert s.cycles[0].scan_work == 1024
