"""The Go importer's mark CPU per cycle (trace/importers/gomark.py) on hand-made event
sequences: the expected figures are worked out from the events by hand (gctrace's
assist/background/idle split; parked assists and time after the mark termination stop left
out). tests/test_go_releases.py checks the same against the runtime's gctrace."""

import numpy as np

from goalloc.trace.importers import gomark
from goalloc.trace.importers import gotrace_wire as w

LABELS = {100: "GC (fractional)", 101: "GC (idle)", 102: "GC (dedicated)", 103: "other"}


def run(events, mark=None, status=(), scav_stacks=None):
    """events: (type, ts, M index, a1[, a3[, a2]]) in merge order; returns the MarkCpu and its
    rows in ms-free integers (ns)."""
    mark = mark or gomark.MarkCpu()
    typ = np.array([e[0] for e in events], np.int64)
    key = np.array([e[1] for e in events], np.int64)
    mm = np.array([e[2] for e in events], np.int64)
    a1 = np.array([e[3] for e in events], np.int64)
    a3 = np.array([e[4] if len(e) > 4 else 0 for e in events], np.int64)
    a2 = np.array([e[5] if len(e) > 5 else 0 for e in events], np.int64)
    st = np.array([i for i, _m in status], np.int64)
    m_of = np.array([m for _i, m in status], np.int64)
    mark.generation(typ, key, mm, a1, a2, a3, np.arange(len(events)), st, m_of, LABELS, 2,
                    scav_stacks)
    return mark


def test_the_scavenger_s_running_time():
    """The goroutine that parks with a stack through runtime.bgscavenge (stack 77 here) is the
    scavenger: its runs are summed from that park on (20 ns, then 50 ns on another M), those
    of the others are not; a trace where it never parks has no figure. Across generations
    the goroutine stays known. Each run is kept (start on the clock from t0, length, and 1
    when it ended parking or sleeping in bgscavenge: its run() call had returned; not when
    it was preempted, or parked elsewhere: the GC's stack scan parks it with no stack)."""
    scav = np.array([77], np.int64)
    ev = [
        (w.EV_GO_START, 10, 0, 4),
        (w.EV_GO_START, 12, 1, 9),  # a mutator
        (w.EV_GO_BLOCK, 30, 0, 0, 0, 77),  # the scavenger parks: 20 ns
        (w.EV_GO_BLOCK, 40, 1, 0, 0, 5),
        (w.EV_GO_START, 100, 1, 4),
        (w.EV_GO_STOP, 150, 1, 0),  # preempted: 50 ns
        (w.EV_GO_START, 160, 0, 9), (w.EV_GO_BLOCK, 190, 0, 0, 0, 77),  # not the scavenger
    ]
    mark = run(ev, scav_stacks=scav)
    assert mark.scavenger() == {"goroutine": 4, "running_ns": 70, "runs": 2}
    assert mark.scavenger(5) == {"goroutine": 4, "running_ns": 70, "runs": 2,
                                 "run_start": [5, 95], "run_ns": [20, 50], "run_blocked": [1, 0]}
    # the next generation: 30 ns more, parked by the stack scan (no stack), then 5 ns more
    # to its sleep in bgscavenge
    run([(w.EV_GO_START, 200, 0, 4), (w.EV_GO_BLOCK, 230, 0, 0, 0, 0),
         (w.EV_GO_START, 240, 1, 4), (w.EV_GO_BLOCK, 245, 1, 0, 0, 77)], mark, scav_stacks=scav)
    got = mark.scavenger(5)
    assert got["running_ns"] == 105
    assert (got["run_start"], got["run_ns"]) == ([5, 95, 195, 235], [20, 50, 30, 5])
    assert got["run_blocked"] == [1, 0, 0, 1]
    assert run(ev[:2] + ev[3:4]).scavenger() is None


def test_the_scavenger_s_runs_left_out_past_the_header_s_room(monkeypatch):
    """More runs than MAX_SCAVENGER_RUNS: the totals stay, the lists go (a header list holds
    at most 2^16 entries; the replay then times the scavenger by its controller)."""
    from goalloc.trace.importers import gomark

    monkeypatch.setattr(gomark, "MAX_SCAVENGER_RUNS", 1)
    scav = np.array([77], np.int64)
    ev = [(w.EV_GO_START, 10, 0, 4), (w.EV_GO_BLOCK, 30, 0, 0, 0, 77),
          (w.EV_GO_START, 100, 0, 4), (w.EV_GO_BLOCK, 150, 0, 0, 0, 77)]
    assert run(ev, scav_stacks=scav).scavenger(5) == {"goroutine": 4, "running_ns": 70,
                                                      "runs": 2}


def test_workers_assists_and_the_stop():
    ev = [
        (w.EV_GC_BEGIN, 0, 0, 1),
        (w.EV_GO_START, 10, 0, 5), (w.EV_GO_LABEL, 10, 0, 100),  # fractional worker
        (w.EV_GO_START, 20, 1, 7),  # a mutator
        (w.EV_GC_MARK_ASSIST_BEGIN, 25, 1, 0),
        (w.EV_GO_BLOCK, 35, 1, 0),  # parked in the assist: not assist time
        (w.EV_GO_BLOCK, 40, 0, 0),  # the worker parks: 30 ns of background
        (w.EV_GO_START, 50, 0, 7),  # the assist goes on, on another M
        (w.EV_GC_MARK_ASSIST_END, 60, 0, 0),  # 10 + 10 ns of assist
        (w.EV_GO_START, 70, 1, 9), (w.EV_GO_LABEL, 70, 1, 101),  # idle worker
        (w.EV_GO_BLOCK, 80, 1, 0),  # 10 ns of idle
        (w.EV_GO_START, 82, 1, 9), (w.EV_GO_LABEL, 82, 1, 101),
        # it ends the mark and stops the world: its last segment holds gcMarkDone's
        # barrier, not told apart from its drain, and is left out
        (w.EV_STW_BEGIN, 90, 1, 0),
        (w.EV_GC_END, 100, 1, 1),
        (w.EV_GO_BLOCK, 120, 1, 0),
    ]
    mark = run(ev)
    assert mark.cycles().tolist() == [[1, 100, 30, 10, 20]]
    # an idle worker ran in it: one mark of one had an idle P (MarkCpu.scheduling); without
    # the idle worker's runs, none of one
    sched = mark.scheduling(2)
    assert (sched["marks"], sched["marks_with_idle"]) == (1, 1)
    busy = [e for e in ev if not (e[1] in (70, 80, 82) and e[2] == 1)]
    sched = run(busy).scheduling(2)
    assert (sched["marks"], sched["marks_with_idle"]) == (1, 0)


def test_only_cycles_marked_inside_the_trace_and_labels_per_run():
    mark = gomark.MarkCpu()
    # a mark already going when the trace starts: its end alone is no row
    run([(w.EV_GO_START, 5, 0, 5), (w.EV_GO_LABEL, 5, 0, 102), (w.EV_GC_END, 50, 1, 0)], mark)
    assert mark.cycles().shape[0] == 0 and mark.summary() is None
    # the same goroutine runs as a dedicated worker, then (next run) as a mutator-labelled one
    run([(w.EV_GO_BLOCK, 60, 0, 0),
         (w.EV_GC_BEGIN, 100, 1, 3),
         (w.EV_GO_START, 110, 0, 5), (w.EV_GO_LABEL, 110, 0, 102),
         (w.EV_GO_STOP, 150, 0, 0),
         (w.EV_GO_START, 160, 0, 5), (w.EV_GO_LABEL, 160, 0, 103),
         (w.EV_GO_STOP, 170, 0, 0),
         (w.EV_GC_END, 200, 1, 4)], mark)
    assert mark.cycles().tolist() == [[3, 100, 40, 0, 0]]
    assert mark.summary() == {"cycles": 1, "wall_ns": 100, "background_ns": 40, "idle_ns": 0,
                              "assist_ns": 0, "marks": [[3, 100, 40, 0, 0]]}


def test_a_generation_start_goroutine_and_assist():
    """GoStatus names the M a goroutine already runs on, GCMarkAssistActive the goroutines in
    an assist when the generation starts."""
    ev = [
        (w.EV_GC_BEGIN, 0, 0, 1),
        (w.EV_GO_STATUS, 0, 0, 7, w.GO_RUNNING),  # g 7 runs on M 1 (m_of)
        (w.EV_GC_MARK_ASSIST_ACTIVE, 0, 0, 7),
        (w.EV_GC_MARK_ASSIST_END, 30, 1, 0),  # 30 ns of assist
        (w.EV_GC_END, 100, 0, 2),
    ]
    rows = run(ev, status=[(1, 1)]).cycles()
    assert rows.tolist() == [[1, 100, 0, 0, 30]]


def test_runs_between_scheduler_passes():
    """The goroutines' runs (MarkCpu.scheduling): from the scheduler starting one to its P's
    next pass. M0: g9 runs 0-20 (preempted), then 30-90 through a syscall that came back with
    its P (55: the run goes on). M1: the fractional worker g7 (0-40) is not counted; g8 runs
    from 45 and enters a syscall at 65 that comes back without its P (200: handed off, so the
    run ended at 65), then runs again 210-250. Runs 20, 60, 20, 40: 140 ns, residual
    (400 + 3600 + 400 + 1600) / (2 x 140) = 21.4 ns."""
    ev = [
        (w.EV_GO_START, 0, 0, 9), (w.EV_GO_START, 0, 1, 7), (w.EV_GO_LABEL, 1, 1, 100),
        (w.EV_GO_STOP, 20, 0, 0), (w.EV_GO_START, 30, 0, 9), (w.EV_GO_STOP, 40, 1, 0),
        (w.EV_GO_START, 45, 1, 8), (w.EV_GO_SYSCALL_BEGIN, 50, 0, 0),
        (w.EV_GO_SYSCALL_END, 55, 0, 0), (w.EV_GO_SYSCALL_BEGIN, 65, 1, 0),
        (w.EV_GO_BLOCK, 90, 0, 0), (w.EV_GO_SYSCALL_END_BLOCKED, 200, 1, 0),
        (w.EV_GO_START, 210, 1, 8), (w.EV_GO_DESTROY, 250, 1, 0),
    ]
    # the events span 0-250 ns: 140 ns of runs on 2 Ps is a busy share of 0.28
    assert run(ev).scheduling(2) == {"runs": 4, "running_ns": 140, "residual_ns": 21,
                                     "busy_share": 0.28}
    # a run still open at the trace's end is not counted; none ended: no figure
    assert run(ev[:1]).scheduling(2) is None


def test_a_run_ends_where_its_goroutine_lost_its_p_in_a_syscall():
    """A goroutine back from a syscall without its P (GoSyscallEndBlocked) is runnable, not
    running: its run ended where the syscall began, whatever its label said, and an M with no
    later event does not keep running it through later marks (a Go 1.26 recording: a
    goroutine labelled "GC (fractional)" went into a syscall and its M had no event for
    136 ms, which counted 42 ms of marking gctrace did not have). When it runs again, on
    another M, only that run counts."""
    ev = [
        (w.EV_GO_START, 10, 0, 5), (w.EV_GO_LABEL, 10, 0, 100),
        (w.EV_GO_SYSCALL_BEGIN, 15, 0, 0),
        (w.EV_GO_SYSCALL_END_BLOCKED, 40, 0, 0),  # M0 has nothing more to say
        (w.EV_GC_BEGIN, 100, 1, 3),
        (w.EV_GO_START, 110, 1, 6), (w.EV_GO_LABEL, 110, 1, 100),  # a worker: 20 ns
        (w.EV_GO_BLOCK, 130, 1, 0),
        (w.EV_GC_END, 200, 1, 4),
    ]
    assert run(ev).cycles().tolist() == [[3, 100, 20, 0, 0]]
    # a goroutine whose end on one M was not seen starts on another: the first run ends there
    ev = [
        (w.EV_GC_BEGIN, 0, 1, 3),
        (w.EV_GO_START, 10, 0, 5), (w.EV_GO_LABEL, 10, 0, 100),  # 40 ns on M0, then ...
        (w.EV_GO_START, 50, 1, 5),  # ... it runs on M1 (unlabelled: a mutator)
        (w.EV_GO_BLOCK, 60, 1, 0),
        (w.EV_GC_END, 200, 1, 4),
    ]
    assert run(ev).cycles().tolist() == [[3, 200, 40, 0, 0]]


def test_the_mutators_sweep_ranges():
    """GCSweepBegin .. GCSweepEnd on one M is one allocation-path sweep loop: its time and
    the bytes its end reports are summed (two Ms interleaved: 30 ns and 10 ns), an end with no
    begin on its M (begun before the trace) is counted apart and not timed, and a loop open
    at a generation's end is counted whole at its end in the next (30 ns). The span is the
    trace's, first to last event (10 to 90). No sweep event: no figure."""
    ev = [
        (w.EV_GC_SWEEP_BEGIN, 10, 0, 0),
        (w.EV_GC_SWEEP_BEGIN, 15, 1, 0),
        (w.EV_GC_SWEEP_END, 25, 1, 16384, 0, 8192),
        (w.EV_GC_SWEEP_END, 40, 0, 8192, 0, 0),
        (w.EV_GC_SWEEP_END, 50, 1, 8192, 0, 8192),  # its begin is not in the trace
        (w.EV_GC_SWEEP_BEGIN, 60, 0, 0),
    ]
    mark = run(ev)
    run([(w.EV_GC_SWEEP_END, 90, 0, 8192, 0, 8192)], mark)
    assert mark.sweep() == {"ranges": 3, "ns": 70, "swept_bytes": 32768,
                            "reclaimed_bytes": 16384, "unopened": 1, "span_ns": 80}
    assert run([(w.EV_GO_START, 10, 0, 4), (w.EV_GO_STOP, 20, 0, 0)]).sweep() is None
