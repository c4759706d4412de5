"""What the recording machine's CPU tells the Go runtime that a trace does not carry: whether
Green Tea's packed span scan runs (internal/runtime/gc/scan, Go 1.26+: HasFastScanSpanPacked
is true on amd64 with AVX-512 VL, BW, DQ, VBMI and BITALG, GFNI and POPCNT; false on every
other architecture). With it, a densely marked span's objects count whole as scan work,
which changes how the pacer's assists pace (engine/mark.py heap_scan_work). `goalloc record`
runs the program here, so it notes the answer in the trace's header."""

from __future__ import annotations

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
