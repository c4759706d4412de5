"""Deterministic synthetic allocation traces (`goalloc synth`), streamed to disk chunk by chunk.

    goalloc.synth.generate("steady", 10_000_000, "t.msgpack", procs=8, seed=3, live=50_000)

Workloads and their size and lifetime distributions: docs/synth.md. This module stays free of
numba (the CLI's --help reads WORKLOADS); the kernels are imported when a trace is generated.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from goalloc.errors import GoallocError

# workload -> {option: default}; every workload takes `noscan` (probability an allocation is
# pointer-free) and `gap_ns` (mean ns between events). `profile` has no default: it is required.
WORKLOADS: dict[str, dict[str, Any]] = {
    "steady": {
        "live": 100_000,
        "request_objects": 32.0,
        "replace": 0.01,
        "noscan": 0.5,
        "gap_ns": 25,
    },
    "batch": {"phases": 4, "keep_fraction": 0.5, "window": 256, "noscan": 0.5, "gap_ns": 25},
    "fragmenter": {"keep_every": 8, "window": 1024, "noscan": 0.5, "gap_ns": 25},
    "large": {"live": 512, "noscan": 0.9, "gap_ns": 1000},
    "profile": {"profile": None, "scale": 1.0, "live": 10_000, "noscan": 0.5, "gap_ns": 25},
}

DESCRIPTIONS = {
    "steady": "server: stable cache plus request-scoped garbage on every P",
    "batch": "batch job: live heap builds up, then is released, phase after phase",
    "fragmenter": "small objects, every k-th kept to the end (strands sparse spans)",
    "large": "large-object churn (32 KiB..4 MiB, random lifetimes)",
    "profile": "sizes (and lifetimes) from a size profile CSV or tcmalloc:NAME",
}


def resolve_options(workload: str, options: dict[str, Any]) -> dict[str, Any]:
    """The workload's effective options: defaults overridden by `options` (None = default)."""
    if workload not in WORKLOADS:
        raise GoallocError(f"unknown workload {workload!r}; expected one of {', '.join(WORKLOADS)}")
    spec = WORKLOADS[workload]
    given = {k: v for k, v in options.items() if v is not None}
    stray = sorted(set(given) - set(spec))
    if stray:
        names = ", ".join("--" + s.replace("_", "-") for s in stray)
        raise GoallocError(f"option {names} does not apply to workload {workload}")
    eff = dict(spec)
    eff.update(given)
    return eff


def generate(
    workload: str,
    n_events: int,
    out: str | os.PathLike,
    *,
    procs: int = 4,
    seed: int = 1,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Write an `n_events`-event trace of `workload` to `out`; return a small summary dict.

    Same arguments give a byte-identical file. `progress(k)` is called as k more events are
    written. Raises GoallocError for bad options or an existing `out` without `force`.
    """
    from goalloc.synth.driver import run

    return run(
        workload,
        n_events,
        out,
        procs=procs,
        seed=seed,
        force=force,
        progress=progress,
        options=resolve_options(workload, options),
    )
