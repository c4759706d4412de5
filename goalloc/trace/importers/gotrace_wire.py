"""Go execution trace wire format (trace v2: Go 1.22-1.27): header, batches, varints, and the
numba kernels that decode a generation's batches.

Reference: $GOROOT/src/internal/trace/event/go122/event.go (1.22/1.23 spec table),
internal/trace/tracev2/events.go (1.24+), internal/trace/batch.go and generation.go (batch
layout), runtime/traceallocfree.go (the alloc/free experiment's batches).

A trace is a 16-byte header `go 1.N trace\\0\\0\\0`, then batches:
  EvEventBatch (1)        gen, m, time, size varints, then `size` bytes of one M's events
  EvExperimentalBatch (49) one experiment byte, then gen, m, time, size and `size` raw bytes
Inside an event batch every event is one type byte and NARGS[type] LEB128 varints; the first
is dt, cumulative from the batch's `time`. Strings (4), stacks (2), CPU samples (6) and the
frequency (8; in 1.25 a sync batch starting with EvSync 50) come in batches of their own.
From 1.26 a lone EvEndOfGeneration byte (52) follows each generation's batches.
"""

from __future__ import annotations

import re

import numpy as np

from goalloc.jit import kernel, njit

HEADER_LEN = 16
HEADER_RE = re.compile(rb"go 1\.(\d+) trace\x00\x00\x00")
# Wire versions Go's own reader knows (internal/trace/version/version.go): the runtime writes
# `go 1.23 trace` from Go 1.23 and 1.24, `go 1.25 trace` from 1.25 and `go 1.26 trace` from
# 1.26 and 1.27, so the header does not name the release (see releases.py for how it is told).
SUPPORTED_VERSIONS = (22, 23, 25, 26)
NEWEST_RELEASE = 27  # newest Go release whose traces were checked against this reader
MAX_BATCH_SIZE = 64 << 10  # go122.MaxBatchSize

# Event types (go122/event.go, tracev2/events.go).
EV_EVENT_BATCH = 1
EV_STACKS = 2
EV_STACK = 3
EV_STRINGS = 4
EV_STRING = 5
EV_CPU_SAMPLES = 6
EV_FREQUENCY = 8
EV_PROCS_CHANGE = 9
EV_PROC_START = 10
EV_PROC_STOP = 11
EV_PROC_STEAL = 12
EV_PROC_STATUS = 13
EV_GO_START = 16
EV_GO_DESTROY = 17
EV_GO_STOP = 19
EV_GO_BLOCK = 20
EV_GO_SYSCALL_BEGIN = 22  # [dt, seq, stack]
EV_GO_SYSCALL_END = 23  # [dt]: back from the syscall with its P
EV_GO_SYSCALL_END_BLOCKED = 24  # [dt]: back without it (handed off or retaken meanwhile)
EV_GO_STATUS = 25  # [dt, g, m, gstatus]
EV_GO_SWITCH = 45
EV_GO_SWITCH_DESTROY = 46
EV_GO_STATUS_STACK = 48  # [dt, g, m, gstatus, stack]
EV_STW_BEGIN = 26
EV_STW_END = 27
EV_GC_BEGIN = 29
EV_GC_END = 30
EV_GC_SWEEP_BEGIN = 32  # [dt, stack]: a P starts sweeping (the first span of a sweep loop)
EV_GC_SWEEP_END = 33  # [dt, bytes swept, bytes reclaimed]
EV_GC_MARK_ASSIST_ACTIVE = 34  # [dt, g]: at a generation's start, g is in an assist
EV_GC_MARK_ASSIST_BEGIN = 35
EV_GC_MARK_ASSIST_END = 36
EV_HEAP_ALLOC = 37
EV_HEAP_GOAL = 38
EV_GO_LABEL = 39  # [dt, label string]: traceGoStart's mark worker mode
EV_USER_LOG = 44  # [dt, task, category string, message string, stack]
EV_EXPERIMENTAL_BATCH = 49
EV_SYNC = 50  # Go 1.25
EV_CLOCK_SNAPSHOT = 51  # Go 1.25
EV_END_OF_GENERATION = 52  # Go 1.26: one byte between batches, after each generation
EV_SPAN = 128
EV_SPAN_ALLOC = 129
EV_SPAN_FREE = 130
EV_HEAP_OBJECT = 131
EV_HEAP_OBJECT_ALLOC = 132
EV_HEAP_OBJECT_FREE = 133
EV_GOROUTINE_STACK = 134
EV_GOROUTINE_STACK_ALLOC = 135
EV_GOROUTINE_STACK_FREE = 136

EXPERIMENT_ALLOC_FREE = 1
EXP_TYPES_BATCH = 0  # runtime traceAllocFreeTypesBatch
EXP_INFO_BATCH = 1  # runtime traceAllocFreeInfoBatch

PROC_RUNNING = 1
PROC_IDLE = 2
PROC_SYSCALL = 3
GO_RUNNING = 2  # tracev2.GoRunning
GO_SYSCALL = 3

EVENT_NAMES = {
    9: "ProcsChange", 10: "ProcStart", 11: "ProcStop", 12: "ProcSteal", 13: "ProcStatus",
    14: "GoCreate", 15: "GoCreateSyscall", 16: "GoStart", 17: "GoDestroy",
    18: "GoDestroySyscall", 19: "GoStop", 20: "GoBlock", 21: "GoUnblock",
    22: "GoSyscallBegin", 23: "GoSyscallEnd", 24: "GoSyscallEndBlocked", 25: "GoStatus",
    26: "STWBegin", 27: "STWEnd", 28: "GCActive", 29: "GCBegin", 30: "GCEnd",
    31: "GCSweepActive", 32: "GCSweepBegin", 33: "GCSweepEnd", 34: "GCMarkAssistActive",
    35: "GCMarkAssistBegin", 36: "GCMarkAssistEnd", 37: "HeapAlloc", 38: "HeapGoal",
    39: "GoLabel", 40: "UserTaskBegin", 41: "UserTaskEnd", 42: "UserRegionBegin",
    43: "UserRegionEnd", 44: "UserLog", 45: "GoSwitch", 46: "GoSwitchDestroy",
    47: "GoCreateBlocked", 48: "GoStatusStack", 51: "ClockSnapshot",
    128: "Span", 129: "SpanAlloc", 130: "SpanFree", 131: "HeapObject", 132: "HeapObjectAlloc",
    133: "HeapObjectFree", 134: "GoroutineStack", 135: "GoroutineStackAlloc",
    136: "GoroutineStackFree",
}

# decode_events reads an event's arguments into this many locals (dt included): a table
# entry past it would desynchronise the decoding (tests/test_import_gotrace.py checks them)
MAX_EVENT_ARGS = 5
# Arguments (dt included) of the timed events that may appear inside an event batch.
_NARGS_122 = {9: 3, 10: 3, 11: 1, 12: 4, 13: 3, 14: 4, 15: 2, 16: 3, 17: 1, 18: 1, 19: 3,
              20: 3, 21: 4, 22: 3, 23: 1, 24: 1, 25: 4, 26: 3, 27: 1, 28: 2, 29: 3, 30: 2,
              31: 2, 32: 2, 33: 3, 34: 2, 35: 2, 36: 1, 37: 2, 38: 2, 39: 2, 40: 5, 41: 3,
              42: 4, 43: 4, 44: 5}
_NARGS_123 = {45: 3, 46: 3, 47: 4, 48: 5, 128: 4, 129: 4, 130: 2, 131: 3, 132: 3, 133: 2,
              134: 3, 135: 3, 136: 2}
_NARGS_125 = {51: 4}

# Events that say which goroutine runs on an M (the importer follows a goroutine across Ms).
GO_EVENTS = (EV_GO_START, EV_GO_DESTROY, EV_GO_STOP, EV_GO_BLOCK, EV_GO_STATUS, EV_GO_SWITCH,
             EV_GO_SWITCH_DESTROY, EV_GO_STATUS_STACK)

# Events the importer keeps (the rest are decoded only to step over them).
KEPT = (EV_PROCS_CHANGE, EV_PROC_START, EV_PROC_STOP, EV_PROC_STEAL, EV_PROC_STATUS,
        EV_STW_BEGIN, EV_STW_END, EV_GC_BEGIN, EV_GC_END, EV_HEAP_ALLOC, EV_HEAP_GOAL,
        EV_USER_LOG, *GO_EVENTS, *range(EV_SPAN, EV_GOROUTINE_STACK_FREE + 1),
        # mark CPU per cycle (gomark.py): worker labels and assists; the goroutines' runs
        EV_GO_LABEL, EV_GC_MARK_ASSIST_ACTIVE, EV_GC_MARK_ASSIST_BEGIN, EV_GC_MARK_ASSIST_END,
        EV_GO_SYSCALL_BEGIN, EV_GO_SYSCALL_END, EV_GO_SYSCALL_END_BLOCKED,
        # the mutators' sweeping (gomark.py, the header's `sweep`)
        EV_GC_SWEEP_BEGIN, EV_GC_SWEEP_END)
# Kept events that only say how the scheduler ran (no goalloc row comes of them).
SCHED_ONLY = (*GO_EVENTS, EV_GO_LABEL, EV_GC_MARK_ASSIST_ACTIVE, EV_GC_MARK_ASSIST_BEGIN,
              EV_GC_MARK_ASSIST_END, EV_GO_SYSCALL_BEGIN, EV_GO_SYSCALL_END,
              EV_GO_SYSCALL_END_BLOCKED, EV_GC_SWEEP_BEGIN, EV_GC_SWEEP_END)


def nargs_table(version: int) -> np.ndarray:
    """int8[256]: argument count of each event type valid in an event batch, -1 if invalid."""
    t = np.full(256, -1, np.int8)
    spec = dict(_NARGS_122)
    if version >= 23:
        spec.update(_NARGS_123)
    if version >= 25:
        spec.update(_NARGS_125)
    for k, v in spec.items():
        t[k] = v
    return t


def kept_table() -> np.ndarray:
    t = np.zeros(256, np.bool_)
    t[list(KEPT)] = True
    return t


def uvarint(buf, i: int, end: int) -> tuple[int, int]:
    """Python LEB128 decode (batch headers, a few per batch). Returns (value, next index);
    next index -1 when the data ends inside the number, -2 when it is longer than 10 bytes."""
    x = 0
    shift = 0
    while True:
        if i >= end:
            return 0, -1
        b = buf[i]
        i += 1
        x |= (b & 0x7F) << shift
        if b < 0x80:
            return x, i
        shift += 7
        if shift >= 70:
            return 0, -2


# -- numba kernels ---------------------------------------------------------------------------

# decode_events' `part`: the columns it writes
PART_TIMES = 1  # typ, key, m (and lastkey, tcount)
PART_ARGS = 2  # a1, a2, a3
PART_ALL = PART_TIMES | PART_ARGS

OK = 0
ERR_UNKNOWN_EVENT = 1  # detail = event type
ERR_TRUNCATED_EVENT = 2  # an event's varints run past its batch
ERR_BAD_VARINT = 3
ERR_BAD_STRING = 4
ERR_BAD_TYPE = 5
ERR_BAD_STACK = 6


@njit(cache=True, inline="always")
def _uvarint(buf, i, end):
    """(value as int64, next index); next index -1 past `end`, -2 for an over-long varint."""
    x = np.int64(0)
    s = np.int64(0)
    while True:
        if i >= end:
            return np.int64(0), np.int64(-1)
        b = np.int64(buf[i])
        i += 1
        x |= (b & 0x7F) << s
        if b < 0x80:
            return x, np.int64(i)
        s += 7
        if s >= 70:
            return np.int64(0), np.int64(-2)


@kernel
def decode_events(buf, bstart, bend, bm, btime, nspt, nargs, kept, lastkey, part,
                  o_typ, o_key, o_m, o_a1, o_a2, o_a3, tcount):
    """Decode the event batches [bstart[b], bend[b]) of one generation, in file order.

    An event's time in ns is its batch's `time` in ns plus each dt so far in ns, every tick
    count turned into ns (`nspt` ns per tick, float64) and truncated on its own, as Go's
    reader does (internal/trace batchcursor.go: freq.mul(tsdiff) + lastTs). On Linux a tick
    is a whole 64 (amd64) or 16 ns of nanotime and either way gives the same ns; where the
    runtime's clock is cputicks (osHasLowResClock) a tick has a fraction, and converting the
    summed ticks would drift from `go tool trace` by up to 1 ns an event. Each M's times are
    made strictly increasing (`lastkey`, by M index, carried across batches and generations;
    ts <= last -> last + 1 ns; Go's reader does that over the whole trace in the order it
    emits events, docs/importers.md), so a stable sort by time keeps every M's order: a new
    batch's base time can be below the previous batch's last event, whose times the runtime
    pushed ahead one tick per event when it wrote faster than its clock ticked.
    Kept event types are written to the o_* arrays `part` names (PART_TIMES: typ, key, m,
    with `lastkey` and `tcount`, which counts every event by type; PART_ARGS: a1, a2, a3;
    PART_ALL: both): two threads can decode one generation's batches at once, each writing
    its columns (both parse every byte; the writes, a page fault per fresh 4 KiB, are what
    they share out). Returns (status, events kept, byte index, detail), the same for every
    part.

    The arguments after dt are read into locals, one `_next_arg` per possible argument
    (MAX_EVENT_ARGS), not into an array in a loop: 33 instead of 53 ms for the 2.7 M
    events of bench_import's first generation (2026-12-04)."""
    n = 0
    for b in range(bstart.shape[0]):
        i = np.int64(bstart[b])
        end = np.int64(bend[b])
        m = bm[b]
        t = np.int64(btime[b] * nspt)
        lk = lastkey[m] if part & PART_TIMES else np.int64(0)  # (the other part: not read)
        while i < end:
            at = i
            ev = buf[i]
            i += 1
            na = nargs[ev]
            if na < 0:
                return ERR_UNKNOWN_EVENT, n, at, np.int64(ev)
            dt, i = _next_arg(buf, i, end, na, 0)
            a1, i = _next_arg(buf, i, end, na, 1)
            a2, i = _next_arg(buf, i, end, na, 2)
            a3, i = _next_arg(buf, i, end, na, 3)
            _a4, i = _next_arg(buf, i, end, na, 4)
            if i < 0:
                return (ERR_TRUNCATED_EVENT if i == -1 else ERR_BAD_VARINT), n, at, np.int64(ev)
            if part & PART_TIMES:
                t += np.int64(dt * nspt)
                k = t
                if k <= lk:
                    k = lk + 1
                lk = k
                tcount[ev] += 1
                if kept[ev]:
                    o_typ[n] = ev
                    o_key[n] = k
                    o_m[n] = m
            if kept[ev]:
                if part & PART_ARGS:
                    o_a1[n] = a1
                    o_a2[n] = a2
                    o_a3[n] = a3
                n += 1
        if part & PART_TIMES:
            lastkey[m] = lk
    return OK, n, np.int64(0), np.int64(0)


@njit(cache=True, inline="always")
def _next_arg(buf, i, end, na, k):
    """An event's k-th varint (0: dt) when it has more than k, else 0; a failed read before
    (i < 0) carries on, so an event needs one check."""
    if na > k and i >= 0:
        return _uvarint(buf, i, end)
    return np.int64(0), i


@kernel
def decode_strings(buf, start, end, ids, offs, lens, n0):
    """A strings batch: EvStrings, then {EvString, id, len, bytes}*. Appends to ids/offs/lens
    from index n0 (capacity: one entry per 3 bytes). Returns (status, count, byte index)."""
    return _decode_table(buf, start, end, ids, offs, lens, n0, EV_STRING, 0, ERR_BAD_STRING)


@kernel
def decode_stacks(buf, start, end, ids, offs, nframes, n0):
    """A stacks batch: EvStacks, then {EvStack, id, nframes, {pc, func string id, file string
    id, line}*nframes}*. Appends each stack's id, the byte index of its first frame and its
    frame count to ids/offs/nframes from index n0 (capacity: one entry per 3 bytes). Returns
    (status, count, byte index)."""
    return _decode_table(buf, start, end, ids, offs, nframes, n0, EV_STACK, 4, ERR_BAD_STACK)


@kernel(inline="always")
def _decode_table(buf, start, end, ids, offs, counts, n0, marker, varints, err):
    """The entries of a strings or stacks batch: {marker, id, count, body}* after the batch's
    first byte, where the body is `count` bytes (varints == 0) or count * varints varints.
    Appends each entry's id, the byte index of its body and its count from index n0."""
    n = n0
    i = np.int64(start) + 1
    while i < end:
        at = i
        if buf[i] != marker:
            return err, n, at
        eid, i = _uvarint(buf, i + 1, end)
        if i < 0:
            return err, n, at
        cnt, i = _uvarint(buf, i, end)
        # no body runs past the batch; compared as cnt against the bytes left, since i + cnt
        # wraps negative for a count near 2^63 (and each varint takes a byte at least)
        if i < 0 or cnt < 0 or cnt > (end - i if varints == 0 else (end - i) // varints):
            return err, n, at
        ids[n] = eid
        offs[n] = i
        counts[n] = cnt
        n += 1
        if varints == 0:
            i += cnt
        for _ in range(varints * cnt):
            _v, i = _uvarint(buf, i, end)
            if i < 0:
                return err, n, at
    return OK, n, np.int64(0)


@njit(cache=True, inline="always")
def _then_uvarint(buf, i, end):
    """_uvarint after a read that may have failed (i < 0): the failure carries on, so a run
    of reads needs one check."""
    if i < 0:
        return np.int64(0), i
    return _uvarint(buf, i, end)


@kernel
def decode_types(buf, start, end, ids, sizes, ptrbytes, name_at, n0):
    """A types batch of the alloc/free experiment: a 0 byte, then {id, type address, size,
    ptr_bytes, name_len, name}*; name_at[k] is where the k-th name's length varint starts.
    Returns (status, count, byte index)."""
    n = n0
    i = np.int64(start) + 1
    while i < end:
        at = i
        tid, i = _uvarint(buf, i, end)
        _addr, i = _then_uvarint(buf, i, end)
        sz, i = _then_uvarint(buf, i, end)
        pb, i = _then_uvarint(buf, i, end)
        if i < 0:
            return ERR_BAD_TYPE, n, at
        name_at[n] = i
        ln, i = _uvarint(buf, i, end)
        if i < 0 or ln < 0 or ln > end - i:  # (i + ln wraps for a length near 2^63)
            return ERR_BAD_TYPE, n, at
        ids[n] = tid
        sizes[n] = sz
        ptrbytes[n] = pb
        n += 1
        i += ln
    return OK, n, np.int64(0)
