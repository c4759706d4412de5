"""One replay() call's passes over a trace: the look-ahead plan of a recorded Go trace (made
once: it reads the whole trace) and the chunks kept, as the file stores them, for the later
passes (the scan-rate pass, the replay, the death-time range), each chunk decoded and
validated on a second thread ahead of the replay kernel, and the kernel's internal event kinds
put in place of the format's. A grid
shares one Passes among its runs of a trace (`shared`): the plan is made once for all of them,
and the chunks are decoded and validated once, also for a trace that is not planned.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from goalloc.engine import lookahead, snapshot
from goalloc.engine.kernel import FLUSH_MCACHES, FORCED_GC, MANUAL_ALLOC
from goalloc.jit import kernel
from goalloc.trace import format as fmt
from goalloc.trace import validate
from goalloc.trace.prefetch import prefetched
from goalloc.trace.reader import StoredChunk

# Chunks kept for the passes of one replay() call over a trace that is planned (lookahead.plan
# reads it whole first): a pacer-mode replay of a Go trace passes over it two to four times
# more (the scan-rate pass, the replay, the death-time range), each reading and validating it
# again. Kept when they fit in this many bytes, else streamed. A chunk is kept as its file
# stores it (reader.StoredChunk: zstd-shuffle holds a Go trace's 44 bytes of columns per event
# in about 3) and the validation's results with it, and each later pass decodes it again on
# its read-ahead thread, beside the kernel. Kept decoded (until 2026-12-05), an 11.2 M-event
# recording held ~440 MB of columns, ~105 K first-touched pages (0.2-0.6 s of system time on
# the 2-core test VM, the planning pass's decoding thread waiting on them); stored, ~30 MB.
KEEP_CHUNKS_BYTES = 512 << 20


class Passes:
    """lookahead.plan of one trace, made once (it reads the whole trace) and handed out as a
    fresh copy to each replay of it (build and the timed-death cursor change a plan); the
    chunks the planning pass read (stored, or decoded where a chunk has no stored form), and
    the first replay's validation of them, kept for the later passes (`chunks`). `shared`:
    handed to several replays of the trace, on threads (a grid's runs): the chunks of a trace
    that is not planned are kept too, by the first pass that reads it whole."""

    def __init__(self, path, *, shared: bool = False):
        self.path = path
        self.shared = shared
        self.made = False
        self.plan = None
        self.kept: list | None = None  # the chunks, in order, when they fit (_kept_form)
        self.kept_bytes = 0
        self.validated = None  # (first bad event per chunk, validator state) of a whole pass
        self.reading = False  # (shared, not planned) a pass is reading the chunks to keep
        self.lock = threading.Lock()  # the replays of a shared Passes run on threads

    def get(self, header, death_time: str, tail: bool = False):
        """A copy of the trace's plan (None: not planned) for a replay whose deaths follow
        Config.death_time `death_time` and, with `tail`, place the tail's (both read the
        deaths' intervals)."""
        with self.lock:
            spans = death_time in snapshot.SPAN_RULES or tail
            if not self.made:
                self.kept = []
                self.plan = lookahead.plan(self.path, header, self._keep, spans=spans)
                if self.plan is None:
                    self.kept = None  # not planned: one pass per replay (unless shared)
                self.made = True
            if self.plan is None:
                return None
            if spans and self.plan.lookahead and self.plan.death_span is None:
                # planned without them for an earlier replay of this Passes under another
                # rule: again, with them
                self.plan = lookahead.plan(self.path, header, spans=True)
            self.plan.place_deaths(death_time, tail)
            return self.plan.replay_copy()

    def _keep(self, chunk) -> None:
        if self.kept is None:
            return
        form = _kept_form(chunk)
        self.kept_bytes += _nbytes(form)
        if self.kept_bytes > KEEP_CHUNKS_BYTES:
            self.kept = None
        else:
            self.kept.append(form)

    def chunks(self, reader, sweep: bool):
        """(chunk, first bad event or -1) for every chunk of the trace, and the validator's
        state once the iteration ends: from the kept chunks and their validation when there
        are, else read (and validated) ahead from `reader`."""
        with self.lock:
            if self.validated is not None:
                return zip(prefetched(_decoded(self.kept)), self.validated[0],
                           strict=True), self.validated[1]
            vs = validate.ScanState()
            if self.kept is not None:
                return self._validate_kept(vs, sweep), vs
            if self.shared and self.made and not self.reading and self.kept_bytes == 0:
                self.reading = True  # this pass keeps what it reads for the others
                return self._read_and_keep(reader, vs, sweep), vs
        return read_ahead(reader, vs, sweep), vs

    def validating_kept(self) -> bool:
        """Whether a pass that stops early should still let the kept chunks be validated to
        the end (the later passes then reuse that validation; a streamed trace is validated
        by every pass anyway)."""
        return self.kept is not None and self.validated is None

    def _validate_kept(self, vs, sweep: bool):
        bads = []
        for chunk, bad in read_ahead(_decoded(self.kept), vs, sweep):
            bads.append(bad)
            yield chunk, bad
        if len(bads) == len(self.kept) and max(bads, default=-1) < 0:
            with self.lock:
                self.validated = self.validated or (bads, vs)

    def _read_and_keep(self, reader, vs, sweep: bool):
        """read_ahead's chunks, kept with their validation for the later passes once the
        whole trace is read, valid and within KEEP_CHUNKS_BYTES. A trace too large or not
        valid is read by every later pass; after a pass that stopped early, the next one
        tries to keep it again."""
        kept, bads, size = [], [], 0
        try:
            for chunk, bad in read_ahead(reader, vs, sweep):
                form = _kept_form(chunk)
                size += _nbytes(form)
                if size <= KEEP_CHUNKS_BYTES:
                    kept.append(form)
                    bads.append(bad)
                yield chunk, bad
            with self.lock:
                if size <= KEEP_CHUNKS_BYTES and max(bads, default=-1) < 0:
                    self.kept, self.validated = kept, (bads, vs)
                self.kept_bytes = max(size, 1)  # whole: kept, or never to be
        finally:
            with self.lock:
                self.reading = False


def _kept_form(chunk):
    """What a pass keeps of a chunk it read: its stored form when it has one."""
    return chunk.stored if chunk.stored is not None else chunk


def _decoded(kept):
    """The kept chunks, decoded as they are reached (on the thread iterating this)."""
    for k in kept:
        yield k.decode() if isinstance(k, StoredChunk) else k


def _nbytes(kept) -> int:
    if isinstance(kept, StoredChunk):
        return kept.nbytes
    return sum(getattr(kept, f.name).nbytes for f in dataclasses.fields(kept)
               if isinstance(getattr(kept, f.name), np.ndarray))


def read_ahead(reader, vs, sweep, depth: int = 2):
    """Yield (chunk, first bad event or -1) for every chunk of `reader` (a trace reader or
    kept chunks), in order, stopping after a bad chunk. Reading (decompression) and the
    validation kernel run on a second thread up to `depth` chunks ahead of the replay kernel
    (trace/prefetch.py). The caller raises, so errors and their order are as without
    read-ahead."""

    def scanned():
        for chunk in reader:
            vs.reserve_ids(chunk)
            bad = _scan(vs, chunk, sweep)
            yield chunk, bad
            if bad >= 0:
                return

    return prefetched(scanned(), depth)


def head(chunk, n: int):
    """The chunk's first n events."""
    return dataclasses.replace(chunk, n=n, **{k: v[:n] for k, v in chunk.columns().items()})


def _scan(vs, chunk, sweep: bool) -> int:
    """The validator's kernel over one chunk: the first bad event, or -1."""
    return validate.scan_chunk(chunk, vs, strict=True, sweep=sweep)


# chunk_facts, by index: the rewrites engine_kinds needs (REWRITE_* bits), the index of the
# chunk's last gc_start (-1: none), its first and last timestamps (min / max), its stw_begin and
# stw_end events, the index of the gc_start before its last one (-1: none) and whether its last
# gc_start was forced (runtime.GC)
(FACT_REWRITES, FACT_LAST_GC_START, FACT_TS_MIN, FACT_TS_MAX, FACT_STW_EVENTS,
 FACT_PREV_GC_START, FACT_LAST_GC_FORCED) = range(7)
N_FACTS = 7
REWRITE_KIND, REWRITE_FLAGS, REWRITE_SIZE = 1, 2, 4


@kernel(inline="always")
def _flushes(aux, i, flush_reason):
    """A stw_begin whose reason (aux) is one that flushes the mcaches (a reason out of the
    table's range is none; a negative one reads as the table's first, as a clip to it does)."""
    a = aux[i]
    return a < flush_reason.shape[0] and flush_reason[a if a > 0 else 0]


@kernel
def chunk_facts(kind, aux, size, ts, forced, flush_reason):
    """One pass over a chunk for what the replay's driver asks of it before the kernel runs
    (N_FACTS, above): per event in Python-side numpy these were a dozen passes holding the GIL,
    which the other threads of a grid waited on."""
    out = np.zeros(N_FACTS, np.int64)
    out[FACT_LAST_GC_START] = -1
    out[FACT_PREV_GC_START] = -1
    n = kind.shape[0]
    if n == 0:
        return out
    lo = ts[0]
    hi = ts[0]
    need = 0
    stw = 0
    for i in range(n):
        t = ts[i]
        if t < lo:
            lo = t
        if t > hi:
            hi = t
        k = kind[i]
        if k == fmt.STW_BEGIN:
            stw += 1
            if _flushes(aux, i, flush_reason):
                need |= REWRITE_KIND
        elif k == fmt.STW_END:
            stw += 1
        elif k == fmt.GC_START:
            out[FACT_PREV_GC_START] = out[FACT_LAST_GC_START]
            out[FACT_LAST_GC_START] = i
            out[FACT_LAST_GC_FORCED] = 1 if aux[i] == fmt.GC_TRIGGER_FORCED else 0
            if forced and aux[i] == fmt.GC_TRIGGER_FORCED:
                need |= REWRITE_KIND
            if size[i] != 0:
                need |= REWRITE_SIZE
        elif k == fmt.GC_MARK_TERM:
            if size[i] != 0:
                need |= REWRITE_SIZE
        elif k == fmt.METRIC:
            need |= REWRITE_FLAGS
        elif k == fmt.SPAN_ALLOC:
            if aux[i] < 0:
                need |= REWRITE_KIND
    out[FACT_REWRITES] = need
    out[FACT_TS_MIN] = lo
    out[FACT_TS_MAX] = hi
    out[FACT_STW_EVENTS] = stw
    return out


@kernel
def _rewrite(kind, flags, size, aux, forced, flush_reason, n_metrics):
    """engine_kinds' rewrites, in place on copies of the chunk's kind, flags and size."""
    for i in range(kind.shape[0]):
        k = kind[i]
        if k == fmt.STW_BEGIN:
            if _flushes(aux, i, flush_reason):
                kind[i] = FLUSH_MCACHES
        elif k == fmt.GC_START:
            if forced and aux[i] == fmt.GC_TRIGGER_FORCED:
                kind[i] = FORCED_GC
            size[i] = 0
        elif k == fmt.GC_MARK_TERM:
            size[i] = 0
        elif k == fmt.METRIC:
            v = aux[i]
            flags[i] = 0 if v < 0 else (n_metrics if v > n_metrics else v)
        elif k == fmt.SPAN_ALLOC:
            if aux[i] < 0:
                kind[i] = MANUAL_ALLOC


def facts(chunk, forced: bool) -> np.ndarray:
    """chunk_facts of a chunk (N_FACTS)."""
    return chunk_facts(chunk.kind, chunk.aux, chunk.size, chunk.ts, forced, fmt.FLUSH_REASON)


def read_only(chunk):
    """The chunk with its columns read-only, as the reader gives them: engine_kinds' copies
    (written by it and by snapshot.Plan before the replay) become read-only views, so the
    kernels that take a chunk's columns are compiled for one mix of array types, not two
    (#14: each variant of replay_chunk is a compile at install and a load at first use)."""
    cols = {}
    for name in ("kind", "size", "flags"):
        a = getattr(chunk, name)
        if a.flags.writeable:
            a = a.view()
            a.flags.writeable = False
            cols[name] = a
    return dataclasses.replace(chunk, **cols) if cols else chunk


def engine_kinds(chunk, forced: bool, need: int):
    """The chunk with the kernel's internal kinds in place: every stw_begin whose reason
    flushes the mcaches (ReadMemStats) becomes FLUSH_MCACHES, and, when `forced` (pacer mode,
    Config.replay_forced_gcs), every gc_start the trace marks as forced (runtime.GC) becomes
    FORCED_GC; a span_alloc of a manual span (aux -1: stacks, GC work buffers) becomes
    MANUAL_ALLOC. A metric event's value index (aux) goes into its flags, which the kernel reads
    (a metric event has no flags of its own). A gc_start's size, which the format leaves
    unused, is cleared: the kernel reads the recording's stacks + globals there (put in by
    snapshot.Plan.run_chunk after this); so is a gc_mark_term's, where the kernel reads the
    Ps whose mcache flush came late (the same). The chunk itself if there is none. `need`:
    the chunk's facts()[FACT_REWRITES] (which of these it has)."""
    if not need:
        return chunk
    # all three are copied when any changes; the engine reads them as read-only views
    # (read_only), so the replay kernel has one compiled variant
    kind, flags, size = chunk.kind.copy(), chunk.flags.copy(), chunk.size.copy()
    _rewrite(kind, flags, size, chunk.aux, forced, fmt.FLUSH_REASON, len(fmt.METRIC_NAMES))
    return dataclasses.replace(chunk, kind=kind, flags=flags, size=size)
