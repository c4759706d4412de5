"""Event-level validation and summary of a trace, in one numba pass over each chunk.

The reader checks structure (msgpack, chunk framing, checksums); this module checks meaning:
frees of unknown ids, allocs of live ids, absurd sizes, ids that are not dense, time going
backwards on one P, unknown kinds. The replay engine runs the same checks before it replays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from goalloc.errors import TraceError
from goalloc.jit import kernel
from goalloc.trace import format as fmt
from goalloc.trace.reader import TraceReader

# Anomaly codes (index into the anomaly counters) and their messages.
A_FREE_UNKNOWN = 0
A_ALLOC_LIVE = 1
A_BAD_SIZE = 2
A_TS_BACKWARDS = 3
A_UNKNOWN_KIND = 4
A_BAD_ID = 5
A_BAD_P = 6
N_ANOMALIES = 7
ANOMALY_NAMES = (
    "free of an unknown or already-freed id",
    "alloc of an id that is still live",
    "negative or absurd size (> 1 TiB)",
    "timestamp goes backwards on its P",
    "unknown event kind",
    "id is negative or not dense (far beyond the events so far)",
    "invalid P (below -1)",
)
ANOMALY_KEYS = (
    "free_unknown",
    "alloc_live",
    "bad_size",
    "ts_backwards",
    "unknown_kind",
    "bad_id",
    "bad_p",
)

# Ids must stay below this much above the event index: dense ids never get near it, and it
# bounds the id -> state arrays by the trace's length whatever a corrupt file says.
ID_SLACK = 1 << 20
HIST_BUCKETS = 42  # log2 buckets: bucket b holds sizes with bit_length b (0 .. 2^41)
P_SLOTS = 1 << 15

# Layout of the scalar state vector `st`.
S_EVENTS = 0
S_ALLOC_BYTES = 1
S_FREE_BYTES = 2
S_LIVE_BYTES = 3
S_LIVE_OBJS = 4
S_PEAK_BYTES = 5
S_PEAK_OBJS = 6
S_PEAK_TS = 7
S_TS_MIN = 8
S_TS_MAX = 9
S_IMPLICIT_FREES = 10
S_FIRST_BAD = 11  # global event index of the first anomaly, -1 if none
S_FIRST_CODE = 12
S_ESTIMATED = 13  # allocs whose size is flagged as estimated
S_SNAPSHOT = 14  # allocs that existed at trace start
N_STATE = 16


@kernel
def _anomaly(k, t, last_t, pi, oid, index, n_ids, was_live, sz, sweep):
    """The anomaly code of one event (-1: valid), from scalars only (so the kernel holds no
    array across this call): `last_t` its P's last timestamp, `index` its global event
    index, `n_ids` the id arrays' length, `was_live` whether its id is live (0 when out of
    range)."""
    if k < 1 or k > fmt.MAX_KIND:
        return A_UNKNOWN_KIND
    if pi < -1:
        return A_BAD_P
    if pi >= 0 and t < last_t:
        return A_TS_BACKWARDS
    if k == fmt.STACK_ALLOC or k == fmt.STACK_FREE:
        # stack ids are dense too (the engine sizes its stack table by them)
        return A_BAD_ID if oid < 0 or oid >= index + ID_SLACK else -1
    if k != fmt.ALLOC and k != fmt.FREE:
        return -1
    if oid < 0 or oid >= index + ID_SLACK or oid >= n_ids:
        return A_BAD_ID
    if k == fmt.FREE:
        return A_FREE_UNKNOWN if not was_live else -1
    if sz < 0 or sz > fmt.MAX_SIZE:
        return A_BAD_SIZE
    if was_live and not sweep:
        return A_ALLOC_LIVE
    return -1


@kernel
def _size_bucket(sz):
    """The log2 bucket of a size: its bit length (0 for size 0)."""
    b = 0
    while sz > 0:
        b += 1
        sz >>= 1
    return b


@kernel
def _scan_chunk(kind, ts, p, ids, size, flags, start, st, live, live_size, last_ts,
                kind_counts, hist, p_seen, anomalies, strict, sweep):
    """Validate and summarise one chunk. Returns -1, or the chunk index of the anomaly that
    stopped a strict scan. Anomalous events are counted and otherwise skipped."""
    n_ids = live.shape[0]
    for i in range(kind.shape[0]):
        k = np.int64(kind[i])
        t = ts[i]
        pi = np.int64(p[i])
        oid = ids[i]
        last_t = last_ts[pi] if pi >= 0 else t
        was_live = 0 <= oid < n_ids and live[oid] != 0
        code = _anomaly(k, t, last_t, pi, oid, start + i, n_ids, was_live, size[i], sweep)
        if code >= 0:
            anomalies[code] += 1
            if st[S_FIRST_BAD] < 0:  # the first one is named in the error
                st[S_FIRST_BAD] = start + i
                st[S_FIRST_CODE] = code
            if strict:
                return i
            continue
        st[S_EVENTS] += 1
        kind_counts[k] += 1
        st[S_TS_MIN] = t if st[S_EVENTS] == 1 else min(st[S_TS_MIN], t)
        st[S_TS_MAX] = t if st[S_EVENTS] == 1 else max(st[S_TS_MAX], t)
        if pi >= 0:
            last_ts[pi] = t
            p_seen[pi] = True
        if k != fmt.ALLOC and k != fmt.FREE:
            continue
        if was_live:  # a free, or (sweep semantics) an alloc over an object that died unseen
            st[S_IMPLICIT_FREES] += k == fmt.ALLOC
            st[S_FREE_BYTES] += live_size[oid]
            st[S_LIVE_BYTES] -= live_size[oid]
            st[S_LIVE_OBJS] -= 1
        live[oid] = k == fmt.ALLOC
        if k == fmt.ALLOC:
            sz = size[i]
            live_size[oid] = sz
            st[S_ALLOC_BYTES] += sz
            st[S_LIVE_BYTES] += sz
            st[S_LIVE_OBJS] += 1
            st[S_ESTIMATED] += (flags[i] & fmt.FLAG_SIZE_ESTIMATED) != 0
            st[S_SNAPSHOT] += (flags[i] & fmt.FLAG_SNAPSHOT) != 0
            hist[_size_bucket(sz)] += 1
            if st[S_LIVE_BYTES] > st[S_PEAK_BYTES]:
                st[S_PEAK_BYTES] = st[S_LIVE_BYTES]
                st[S_PEAK_TS] = t
            st[S_PEAK_OBJS] = max(st[S_PEAK_OBJS], st[S_LIVE_OBJS])
    return -1


def scan_chunk(chunk, state: ScanState, *, strict: bool, sweep: bool) -> int:
    """Validate one chunk of a trace into `state` (which carries over between chunks; call
    state.reserve_ids(chunk) first): -1, or the chunk index of the first anomaly when
    `strict` (the scan stops there; otherwise anomalies are counted and skipped). `sweep`:
    the trace's frees are sweep frees, so an alloc over a live id is its earlier object's
    unobserved death, not an anomaly."""
    return _scan_chunk(chunk.kind, chunk.ts, chunk.p, chunk.id, chunk.size, chunk.flags,
                       chunk.start, state.st, state.live, state.live_size, state.last_ts,
                       state.kind_counts, state.hist, state.p_seen, state.anomalies, strict,
                       sweep)


@dataclass
class TraceSummary:
    """What `goalloc info` reports about a trace."""

    path: str
    header: dict
    file_bytes: int
    events: int = 0  # valid events
    kinds: dict[str, int] = field(default_factory=dict)
    ts_min: int = 0
    ts_max: int = 0
    procs: list[int] = field(default_factory=list)
    alloc_bytes: int = 0
    free_bytes: int = 0
    live_bytes_end: int = 0
    live_objects_end: int = 0
    peak_live_bytes: int = 0
    peak_live_objects: int = 0
    peak_live_ts: int = 0
    implicit_frees: int = 0
    estimated_sizes: int = 0
    snapshot_objects: int = 0
    size_histogram: list[tuple[int, int, int]] = field(default_factory=list)  # (lo, hi, count)
    anomalies: dict[str, int] = field(default_factory=dict)
    first_anomaly: tuple[int, str] | None = None  # (event index, message)


class ScanState:
    """The scan state carried between chunks (arrays the kernel updates in place)."""

    def __init__(self):
        self.st = np.zeros(N_STATE, np.int64)
        self.st[S_FIRST_BAD] = -1
        self.live = np.zeros(1 << 16, np.uint8)
        self.live_size = np.zeros(1 << 16, np.int64)
        self.last_ts = np.full(P_SLOTS, np.iinfo(np.int64).min, np.int64)
        self.kind_counts = np.zeros(fmt.MAX_KIND + 1, np.int64)
        self.hist = np.zeros(HIST_BUCKETS + 1, np.int64)
        self.p_seen = np.zeros(P_SLOTS, np.bool_)
        self.anomalies = np.zeros(N_ANOMALIES, np.int64)

    def reserve_ids(self, chunk) -> None:
        """Grow the id arrays to cover this chunk's (plausible) ids before the kernel runs."""
        objs = (chunk.kind == fmt.ALLOC) | (chunk.kind == fmt.FREE)
        if not objs.any():
            return
        top = int(chunk.id[objs].max())
        top = min(top, chunk.start + chunk.n + ID_SLACK)  # larger ids are anomalies anyway
        if top >= self.live.shape[0]:
            cap = self.live.shape[0]
            while cap <= top:
                cap *= 2
            self.live = _grow(self.live, cap)
            self.live_size = _grow(self.live_size, cap)


def _grow(a: np.ndarray, cap: int) -> np.ndarray:
    b = np.zeros(cap, a.dtype)
    b[: a.shape[0]] = a
    return b


def scan(path: str | os.PathLike, *, lenient: bool = False, progress=None) -> TraceSummary:
    """Validate and summarise a trace. Strict by default: the first anomaly raises TraceError
    naming the file, the chunk's byte offset and the event index; `lenient` counts and skips."""
    with TraceReader(path) as reader:
        header = reader.header
        s = ScanState()
        sweep = header.frees == "sweep"
        for chunk in reader:
            s.reserve_ids(chunk)
            bad = scan_chunk(chunk, s, strict=not lenient, sweep=sweep)
            if bad >= 0:
                raise anomaly_error(reader.path, chunk, bad, s,
                                    hint=" (use --lenient to skip such events)")
            if progress is not None:
                progress(chunk.n)
        return _summary(reader, s)


def check_allocs(chunk, path) -> None:
    """The checks a kernel that tolerates other anomalies still needs (#18): every alloc's id
    dense (0 <= id < its event index + ID_SLACK, so arrays indexed by id stay bounded) and its
    size in 0..MAX_SIZE. Raise TraceError at the first alloc that fails."""
    allocs = chunk.kind == fmt.ALLOC
    limit = chunk.start + np.arange(chunk.n, dtype=np.int64) + ID_SLACK
    bad_id = allocs & ((chunk.id < 0) | (chunk.id >= limit))
    bad_size = allocs & ((chunk.size < 0) | (chunk.size > fmt.MAX_SIZE))
    if bad_id.any() or bad_size.any():
        i = int(np.argmax(bad_id | bad_size))
        code = A_BAD_ID if bad_id[i] else A_BAD_SIZE
        raise TraceError(path, describe(code, chunk, i), offset=chunk.offset,
                         event=chunk.start + i)


def anomaly_error(path, chunk, bad: int, state: ScanState, hint: str = "") -> TraceError:
    """The TraceError for the anomaly that stopped a strict scan at chunk index `bad`, naming
    the file, the chunk's byte offset and the event; `hint` is appended (`info` suggests
    --lenient, which only it has)."""
    code = int(state.st[S_FIRST_CODE])
    return TraceError(path, describe(code, chunk, bad) + hint, offset=chunk.offset,
                      event=chunk.start + bad)


def describe(code: int, chunk, i: int) -> str:
    """What is wrong with event `i` of the chunk (anomaly `code`), in words."""
    kind = fmt.KIND_NAMES.get(int(chunk.kind[i]), str(int(chunk.kind[i])))
    detail = {
        A_FREE_UNKNOWN: f"id {int(chunk.id[i])}",
        A_ALLOC_LIVE: f"id {int(chunk.id[i])}",
        A_BAD_SIZE: f"size {int(chunk.size[i])}",
        A_TS_BACKWARDS: f"P {int(chunk.p[i])}, ts {int(chunk.ts[i])}",
        A_UNKNOWN_KIND: f"kind {int(chunk.kind[i])}",
        A_BAD_ID: f"id {int(chunk.id[i])}",
        A_BAD_P: f"P {int(chunk.p[i])}",
    }[code]
    return f"{ANOMALY_NAMES[code]} ({kind}, {detail})"


def _summary(reader: TraceReader, s: ScanState) -> TraceSummary:
    st = s.st
    hist = []
    for b, count in enumerate(s.hist):
        if count:
            lo = 0 if b == 0 else 1 << (b - 1)
            hi = 0 if b == 0 else (1 << b) - 1
            hist.append((lo, hi, int(count)))
    first = None
    if st[S_FIRST_BAD] >= 0:
        first = (int(st[S_FIRST_BAD]), ANOMALY_NAMES[int(st[S_FIRST_CODE])])
    return TraceSummary(
        path=str(reader.path),
        header=reader.header.to_map(),
        file_bytes=reader.file_size,
        events=int(st[S_EVENTS]),
        kinds={fmt.KIND_NAMES[k]: int(c) for k, c in enumerate(s.kind_counts) if c},
        ts_min=int(st[S_TS_MIN]),
        ts_max=int(st[S_TS_MAX]),
        procs=[int(i) for i in np.flatnonzero(s.p_seen)],
        alloc_bytes=int(st[S_ALLOC_BYTES]),
        free_bytes=int(st[S_FREE_BYTES]),
        live_bytes_end=int(st[S_LIVE_BYTES]),
        live_objects_end=int(st[S_LIVE_OBJS]),
        peak_live_bytes=int(st[S_PEAK_BYTES]),
        peak_live_objects=int(st[S_PEAK_OBJS]),
        peak_live_ts=int(st[S_PEAK_TS]),
        implicit_frees=int(st[S_IMPLICIT_FREES]),
        estimated_sizes=int(st[S_ESTIMATED]),
        snapshot_objects=int(st[S_SNAPSHOT]),
        size_histogram=hist,
        anomalies={ANOMALY_KEYS[c]: int(v) for c, v in enumerate(s.anomalies) if v},
        first_anomaly=first,
    )
