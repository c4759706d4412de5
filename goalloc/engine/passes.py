"""One replay() call's passes over a trace: the look-ahead plan of a recorded Go trace (made
once: it reads the whole trace) and the decoded chunks kept for the later passes (the scan-rate
pass, the replay, the death-time range), each chunk validated on a second thread ahead of the
replay kernel, and the kernel's internal event kinds put in place of the format's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from goalloc.engine import lookahead
from goalloc.engine.kernel import FLUSH_MCACHES, FORCED_GC, MANUAL_ALLOC
from goalloc.trace import format as fmt
from goalloc.trace import validate
from goalloc.trace.prefetch import prefetched

# Decoded chunks kept for the passes of one replay() call over a trace that is planned
# (lookahead.plan reads it whole first): a pacer-mode replay of a Go trace passes over it two to
# four times more (the scan-rate pass, the replay, the death-time range), each decompressing and
# validating it again. Kept when they fit in this many bytes (about 7 M events), else streamed.
KEEP_CHUNKS_BYTES = 256 << 20


class Passes:
    """lookahead.plan of one trace, made once (it reads the whole trace) and handed out as a
    fresh copy to each replay of it (build and the timed-death cursor change a plan); the
    chunks the planning pass read, and the first replay's validation of them, kept for the
    later passes (`chunks`)."""

    def __init__(self, path):
        self.path = path
        self.made = False
        self.plan = None
        self.kept: list | None = None  # decoded chunks, in order, when they fit
        self.kept_bytes = 0
        self.validated = None  # (first bad event per chunk, validator state) of a whole pass

    def get(self, header, death_time: str):
        if not self.made:
            self.kept = []
            self.plan = lookahead.plan(self.path, header, self._keep)
            if self.plan is None:
                self.kept = None  # not planned: one pass per replay, nothing to share
            self.made = True
        if self.plan is None:
            return None
        if death_time == "lifetimes":
            self.plan.estimate_lifetimes()
        return self.plan.replay_copy()

    def _keep(self, chunk) -> None:
        if self.kept is None:
            return
        self.kept_bytes += sum(getattr(chunk, f.name).nbytes for f in dataclasses.fields(chunk)
                               if isinstance(getattr(chunk, f.name), np.ndarray))
        if self.kept_bytes > KEEP_CHUNKS_BYTES:
            self.kept = None
        else:
            self.kept.append(chunk)

    def chunks(self, reader, sweep: bool):
        """(chunk, first bad event or -1) for every chunk of the trace, and the validator's
        state once the iteration ends: from the kept chunks and their validation when there
        are, else read (and validated) ahead from `reader`."""
        if self.validated is not None:
            return zip(self.kept, self.validated[0], strict=True), self.validated[1]
        vs = validate.ScanState()
        if self.kept is None:
            return read_ahead(reader, vs, sweep), vs
        return self._validate_kept(vs, sweep), vs

    def _validate_kept(self, vs, sweep: bool):
        bads = []
        for chunk, bad in read_ahead(self.kept, vs, sweep):
            bads.append(bad)
            yield chunk, bad
        if len(bads) == len(self.kept) and max(bads, default=-1) < 0:
            self.validated = (bads, vs)


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


def engine_kinds(chunk, forced: bool):
    """The chunk with the kernel's internal kinds in place: every stw_begin whose reason
    flushes the mcaches (ReadMemStats) becomes FLUSH_MCACHES, and, when `forced` (pacer mode,
    Config.replay_forced_gcs), every gc_start the trace marks as forced (runtime.GC) becomes
    FORCED_GC; a span_alloc of a manual span (aux -1: stacks, GC work buffers) becomes
    MANUAL_ALLOC. A metric event's value index (aux) goes into its flags, which the kernel reads
    (a metric event has no flags of its own). A gc_start's size, which the format leaves
    unused, is cleared: the kernel reads the recording's stacks + globals there (put in by
    snapshot.Plan.run_chunk after this); so is a gc_mark_term's, where the kernel reads the
    Ps whose mcache flush came late (the same). The chunk itself if there is none."""
    reason = chunk.aux.clip(0, len(fmt.STW_REASONS) - 1)
    flush = ((chunk.kind == fmt.STW_BEGIN) & fmt.FLUSH_REASON[reason]
             & (chunk.aux < len(fmt.STW_REASONS)))
    gcs = (chunk.kind == fmt.GC_START) & (chunk.aux == fmt.GC_TRIGGER_FORCED) & forced
    met = chunk.kind == fmt.METRIC
    sized = ((chunk.kind == fmt.GC_START) | (chunk.kind == fmt.GC_MARK_TERM)) & (chunk.size != 0)
    manual = (chunk.kind == fmt.SPAN_ALLOC) & (chunk.aux < 0)
    if not (flush.any() or gcs.any() or met.any() or sized.any() or manual.any()):
        return chunk
    kind = chunk.kind.copy()
    kind[flush] = FLUSH_MCACHES
    kind[gcs] = FORCED_GC
    kind[manual] = MANUAL_ALLOC
    flags = chunk.flags
    if met.any():
        flags = flags.copy()
        flags[met] = chunk.aux[met].clip(0, len(fmt.METRIC_NAMES))
    size = chunk.size
    if sized.any():
        size = size.copy()
        size[sized] = 0
    return dataclasses.replace(chunk, kind=kind, flags=flags, size=size)
