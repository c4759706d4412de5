"""Go releases goalloc models, and the runtime facts each one switches.

One profile per release from 1.22 on (1.19 stands for 1.19-1.21). docs/model.md, "Go releases
modelled", has the same facts as a table with the runtime source file that shows each. The engine, the
size-class profiles and the Go trace importer read these facts from here, so a release is
described in one place. No goalloc imports: every layer may use this module.

Telling the release from a trace: the trace header names only the wire format, which 1.23 and
1.24 share (`go 1.23 trace`), as do 1.26 and 1.27 (`go 1.26 trace`). `goalloc record` writes
the exact `go version`; otherwise the importer infers it from what the runtime did (see
`infer_release`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from goalloc.errors import GoallocError


@dataclass(frozen=True)
class Release:
    key: str  # "1.23"
    code: int  # 123: the engine's P_GOVERSION (compared with >=)
    trace_format: int  # wire version its execution traces carry (0: no alloc/free events)
    layout: str  # span layout: "1.19" heap bitmap outside spans, "1.22" heap bits in small
    #               pointerful spans, "1.26" plus Green Tea's inline mark bits (see green_tea)
    green_tea: bool  # Green Tea GC on by default (inline mark bits in 16-512 B spans)
    malloc_header: bool  # 8 B header in pointerful objects > 512 B
    cons_mark_max4: bool  # consMark = max of the last 4 measurements (else the PI controller)
    scavenge_density_skip: bool  # background scavenger skips chunks >= 496/512 pages in use
    tiny_traced: bool  # a tiny request that fits the current block is traced
    trigger_alloc_after_gcbegin: bool  # the allocation that starts a cycle is traced after it
    randomized_heap_base: bool  # padding pages at the start of the first arena chunk
    cgroup_gomaxprocs: bool  # GOMAXPROCS follows the cgroup CPU limit, can change mid-run
    size_specialised_malloc: bool  # malloc_generated.go paths by default
    # the memory profiler's bucket hash table (1.44 MB, /memory/classes/profiling/buckets) is
    # mapped when the program starts rather than at the first sampled allocation (measured:
    # 2.4 KB at start on 1.23/1.24, 1.44 MB on 1.25-1.27; engine/mstats.py)
    eager_profiling_buckets: bool


_BASE = dict(green_tea=False, malloc_header=True, cons_mark_max4=True,
             scavenge_density_skip=True, tiny_traced=False, trigger_alloc_after_gcbegin=False,
             randomized_heap_base=False, cgroup_gomaxprocs=False,
             size_specialised_malloc=False, eager_profiling_buckets=False)


def _r(key, trace_format, layout, **facts) -> Release:
    major, minor = key.split(".")
    return Release(key=key, code=int(major) * 100 + int(minor), trace_format=trace_format,
                   layout=layout, **{**_BASE, **facts})


RELEASES: dict[str, Release] = {r.key: r for r in (
    _r("1.19", 0, "1.19", malloc_header=False, cons_mark_max4=False,
       scavenge_density_skip=False),
    _r("1.22", 22, "1.22"),
    _r("1.23", 23, "1.22"),
    _r("1.24", 23, "1.22", tiny_traced=True, trigger_alloc_after_gcbegin=True),
    _r("1.25", 25, "1.22", tiny_traced=True, trigger_alloc_after_gcbegin=True,
       cgroup_gomaxprocs=True, eager_profiling_buckets=True),
    _r("1.26", 26, "1.26", green_tea=True, tiny_traced=True,
       trigger_alloc_after_gcbegin=True, cgroup_gomaxprocs=True, randomized_heap_base=True,
       eager_profiling_buckets=True),
    _r("1.27", 26, "1.26", green_tea=True, tiny_traced=True,
       trigger_alloc_after_gcbegin=True, cgroup_gomaxprocs=True, randomized_heap_base=True,
       size_specialised_malloc=True, eager_profiling_buckets=True),
)}
PROFILES = tuple(RELEASES)
NEWEST = "1.27"

_VERSION_RE = re.compile(r"(?:go)?(\d+)\.(\d+)(?:\.\d+)?(?:(?:rc|beta)\d+)?")


def parse_version(text: str) -> tuple[int, int]:
    """(major, minor) of "1.23", "go1.24.3", "1.26rc1"; GoallocError if it is not one."""
    m = _VERSION_RE.fullmatch(str(text).strip())
    if not m:
        raise GoallocError(f"unknown Go version {text!r} (expected e.g. 1.26)")
    return int(m.group(1)), int(m.group(2))


def resolve(go_version: str) -> Release:
    """The profile of a Go version: 1.19 for 1.19-1.21, else the release itself (1.22-1.27).
    Anything else is a GoallocError naming the modelled range."""
    major, minor = parse_version(go_version)
    if major == 1 and 19 <= minor <= 21:
        return RELEASES["1.19"]
    key = f"{major}.{minor}"
    if key in RELEASES:
        return RELEASES[key]
    lo, hi = PROFILES[0], NEWEST
    if (major, minor) > parse_version(hi):
        raise GoallocError(f"Go {major}.{minor} is newer than goalloc models (Go {lo} to {hi}); "
                           f"the nearest profile is --go-version {hi}")
    raise GoallocError(f"Go {major}.{minor} is not modelled (Go {lo} to {hi})")


@dataclass(frozen=True)
class Evidence:
    """What a Go trace shows about the runtime that wrote it."""

    trace_format: int  # the header's wire version
    tiny_in_block: int = 0  # traced tiny requests inside a block (1.24+ only)
    split_malloc_frames: bool = False  # mallocgcTiny/Small*/Large on a stack (1.24+)
    generated_malloc_frames: bool = False  # malloc_generated.go paths on a stack (1.27)
    beyond_inline_marks: int = 0  # objects in slots Green Tea's layout does not have


def infer_release(ev: Evidence) -> tuple[str, str]:
    """(release key, how it was told) from a trace's own evidence."""
    f = ev.trace_format
    if f in (22, 25):
        return f"1.{f}", f"trace format go 1.{f}, which only Go 1.{f} writes"
    if f == 23:
        shared = "trace format go 1.23, which Go 1.23 and 1.24 write"
        if ev.tiny_in_block:
            return "1.24", (f"{shared}; {ev.tiny_in_block:,} tiny requests traced inside "
                            "their block, which only 1.24+ traces")
        if ev.split_malloc_frames:
            return "1.24", f"{shared}; mallocgc's split paths, new in 1.24, on a stack"
        return "1.23", f"{shared}; no tiny request traced inside a block, which 1.24 traces"
    if f == 26:
        shared = "trace format go 1.26, which Go 1.26 and 1.27 write"
        if ev.generated_malloc_frames:
            return "1.27", (f"{shared}; size-specialised malloc frames on a stack, the "
                            "default from 1.27")
        return "1.26", (f"{shared}; no size-specialised malloc frame, which 1.27's "
                        "heap-triggered GCs show")
    raise GoallocError(f"no Go release writes trace format {f}")


def green_tea(release: Release, experiment: str | None = None,
              beyond_inline_marks: int | None = None) -> tuple[bool, str]:
    """Whether the span layout has Green Tea's inline mark bits, and why: GOEXPERIMENT
    (greenteagc / nogreenteagc) when given, else a trace whose objects sit in slots that layout
    does not have, else the release's default."""
    if experiment is not None:
        on = experiment == "greenteagc"
        return on, f"GOEXPERIMENT={experiment}"
    if beyond_inline_marks:
        return False, (f"{beyond_inline_marks:,} objects in slots past Green Tea's span "
                       "layout (the trace)")
    if release.code < 125:
        return False, f"Go {release.key} has no Green Tea GC"
    return release.green_tea, (f"Go {release.key} default"
                               + ("" if release.green_tea else " (greenteagc is an experiment)"))
