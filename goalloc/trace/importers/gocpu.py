"""What the recording machine's CPU tells the Go runtime that a trace does not carry: whether
Green Tea's packed span scan runs (internal/runtime/gc/scan, Go 1.26+: HasFastScanSpanPacked
is true on amd64 with AVX-512 VL, BW, DQ, VBMI and BITALG, GFNI and POPCNT; false on every
other architecture). With it, a densely marked span's objects count whole as scan work,
which changes how the pacer's assists pace (engine/mark.py heap_scan_work). `goalloc record`
runs the program here, so it notes the answer in the trace's header, and the CPUs the
program could run on (cpus_here)."""

from __future__ import annotations

import os
import platform

# the CPU features avx512ScanPackedReqsMet needs, as /proc/cpuinfo names them
PACKED_SCAN_FLAGS = frozenset({"avx512vl", "avx512bw", "gfni", "avx512_bitalg", "avx512dq",
                               "avx512vbmi", "popcnt"})


def packed_span_scan_from(machine: str, cpuinfo: str) -> bool:
    """Whether a Go 1.26+ program on this CPU scans dense spans packed: x86-64 with every
    feature of PACKED_SCAN_FLAGS on the first "flags" line of `cpuinfo` (/proc/cpuinfo's
    text); any other architecture has no packed scan."""
    if machine.lower() not in ("x86_64", "amd64"):
        return False
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return PACKED_SCAN_FLAGS <= set(value.split())
    return False


def packed_span_scan_here() -> bool | None:
    """packed_span_scan_from for this machine; None when it cannot tell (no /proc/cpuinfo)."""
    machine = platform.machine()
    if machine.lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return packed_span_scan_from(machine, f.read())
    except OSError:
        return None


def cpus_from(affinity: int, cpu_max: str | None) -> int:
    """The CPUs a program's threads can run on at once: the scheduler affinity's count, capped
    by a cgroup v2 CPU quota (`cpu.max`'s "QUOTA PERIOD", rounded up; "max": none)."""
    n = affinity
    if cpu_max:
        quota, _, period = cpu_max.strip().partition(" ")
        if quota.isdigit() and period.isdigit() and int(period) > 0:
            n = min(n, max(1, -(-int(quota) // int(period))))
    return max(1, n)


def cpus_here() -> int | None:
    """cpus_from for this process (which `goalloc record` runs the program from): more Ps than
    CPUs means the OS time-slices the runtime's threads, which stretches its marks past the
    work they do (docs/model.md, "Ps beyond the CPUs"). None when it cannot tell."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count()
        if n is None:
            return None
        affinity = n
    return cpus_from(affinity, _own_cpu_max())


def _own_cpu_max() -> str | None:
    """This process's cgroup v2 `cpu.max` ("QUOTA PERIOD"), None when there is none to read."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            for line in f:
                if line.startswith("0::"):
                    rel = line[3:].strip().lstrip("/")
                    with open(os.path.join("/sys/fs/cgroup", rel, "cpu.max"),
                              encoding="utf-8") as g:
                        return g.read()
    except OSError:
        return None
    return None
