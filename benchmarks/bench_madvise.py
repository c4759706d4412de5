"""What releasing memory to the OS costs on this machine: the background scavenger's per-page
cost (issue #20). The Go runtime's scavenger (runtime/mgcscavenge.go) times its own work
(pageAlloc.scavenge: find a free run, lock, madvise(MADV_DONTNEED) it on Linux, lock again)
and sleeps so that work holds 1% of GOMAXPROCS CPUs, so how fast it gives memory back is
set by the cost of madvise on pages the program touched.

This maps an anonymous region, touches every 4 KiB page, then releases it with
mmap.madvise(MADV_DONTNEED) top down in runs of 1..512 physical pages (the scavenger's
64 KiB quantum is 16), as the scavenger walks the heap, and fits
    time per call = call_ns + page_ns * pages
over the run lengths up to 16 pages (least squares; the background scavenger releases at most
one 64 KiB quantum per call, and longer runs come out cheaper per page than the line says). The Python call overhead (an madvise of length 0,
which the kernel returns from at once, minus nothing) is reported apart and taken out of
call_ns. Each run length is measured with transparent huge pages as the machine has them
and with MADV_NOHUGEPAGE (4 KiB pages only); the first is what a Go heap gets on a machine
with THP `always`, where the first release inside a 2 MiB huge page splits it; and once more
while another thread of the process runs on another CPU (a Go program always has several: the
TLB shootdown then costs more, and under load the figures vary 2-5x).

Also the cost of touching a released page again (`refault_ns_per_page`: the page fault and
the kernel's zeroing of a fresh page, less the same loop over resident pages), which the
goroutine that reuses released memory pays: below the live heap under GOMEMLIMIT the runtime
releases and reuses the same pages over and over (docs/model.md, "Where the time goes below
the live heap").

    python benchmarks/bench_madvise.py [--mib 256] [--repeat 3] [--json]

goalloc's scavenger cost model (Config.scavenge_page_ns, Config.scavenge_call_ns) takes its
per-call part from this benchmark and the 64 KiB quantum's total from the Go runtime's own
clock (benchmarks/bench_scavcost.py), the page part being the rest (this benchmark alone gave
310 ns per page, the default until 2026-12-04); pass the figures measured elsewhere with
--scavenge-page-ns / --scavenge-call-ns.
"""

from __future__ import annotations

import argparse
import json
import mmap
import statistics
import threading
import time

PAGE = 4096
RUNS = (1, 2, 4, 8, 16, 64, 512)
QUANTUM_PAGES = 16  # scavengeQuantum 64 KiB


def _touch(m: mmap.mmap, size: int) -> None:
    for off in range(0, size, PAGE):
        m[off] = 1


def _release_time(size: int, run_pages: int, nohuge: bool) -> float:
    """ns per madvise call releasing `size` bytes of touched memory in runs of run_pages."""
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        if nohuge and hasattr(mmap, "MADV_NOHUGEPAGE"):
            m.madvise(mmap.MADV_NOHUGEPAGE)
        _touch(m, size)
        run = run_pages * PAGE
        offs = list(range(size - run, -1, -run))  # top down, as the scavenger searches
        dontneed = mmap.MADV_DONTNEED
        t0 = time.perf_counter_ns()
        for off in offs:
            m.madvise(dontneed, off, run)
        t1 = time.perf_counter_ns()
        return (t1 - t0) / len(offs)
    finally:
        m.close()


def _refault_time(size: int, nohuge: bool) -> float:
    """ns per 4 KiB page to touch released memory again: the first touch of each page after
    MADV_DONTNEED, less a touch of the same pages resident (the loop's own cost)."""
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        if nohuge and hasattr(mmap, "MADV_NOHUGEPAGE"):
            m.madvise(mmap.MADV_NOHUGEPAGE)
        _touch(m, size)
        m.madvise(mmap.MADV_DONTNEED)
        t0 = time.perf_counter_ns()
        _touch(m, size)  # every page faults in, zeroed
        t1 = time.perf_counter_ns()
        _touch(m, size)  # resident
        t2 = time.perf_counter_ns()
        return ((t1 - t0) - (t2 - t1)) / (size // PAGE)
    finally:
        m.close()


class _Sibling:
    """Another thread of this process kept running on another CPU (numpy sums release the
    GIL), as a Go program's other threads are: madvise then has to shoot down that CPU's TLB
    entries too."""

    def __enter__(self):
        import numpy as np

        self.stop = False
        a = np.ones(1 << 22)

        def spin():
            while not self.stop:
                a.sum()

        self.t = threading.Thread(target=spin, daemon=True)
        self.t.start()
        time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.t.join()


def _python_overhead(n: int = 20000) -> float:
    m = mmap.mmap(-1, PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            m.madvise(mmap.MADV_NORMAL, 0, 0)
        return (time.perf_counter_ns() - t0) / n
    finally:
        m.close()


def _fit(xs, ys):
    mx = statistics.fmean(xs)
    my = statistics.fmean(ys)
    slope = (sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
             / sum((x - mx) ** 2 for x in xs))
    return my - slope * mx, slope


def measure(mib: int = 256, repeat: int = 3) -> dict:
    size = mib << 20
    out = {"region_mib": mib, "repeat": repeat}
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            out["thp"] = f.read().strip()
    except OSError:
        out["thp"] = None
    py = min(_python_overhead() for _ in range(repeat))
    out["python_call_ns"] = round(py, 1)
    for label, nohuge, busy in (("thp_as_set", False, False), ("nohugepage", True, False),
                                ("with_sibling_thread", False, True)):
        if busy:
            with _Sibling():
                per_call = {r: min(_release_time(size, r, nohuge) for _ in range(repeat))
                            for r in RUNS}
        else:
            per_call = {r: min(_release_time(size, r, nohuge) for _ in range(repeat))
                        for r in RUNS}
        # the fit over the runs the background scavenger makes (one 64 KiB quantum at most)
        quantum = [r for r in RUNS if r <= QUANTUM_PAGES]
        call, page = _fit(quantum, [per_call[r] for r in quantum])
        out[label] = {
            "ns_per_call": {str(r): round(v, 1) for r, v in per_call.items()},
            "ns_per_page_at_run": {str(r): round(v / r, 1) for r, v in per_call.items()},
            "page_ns": round(page, 1),
            "call_ns": round(max(call - py, 0.0), 1),
        }
        if busy:
            with _Sibling():
                refault = min(_refault_time(size, nohuge) for _ in range(repeat))
        else:
            refault = min(_refault_time(size, nohuge) for _ in range(repeat))
        out[label]["refault_ns_per_page"] = round(refault, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    r = measure(a.mib, a.repeat)
    if a.json:
        print(json.dumps(r, indent=1))
        return
    print(f"THP: {r['thp']}; Python call overhead {r['python_call_ns']} ns (taken out)")
    for label in ("thp_as_set", "nohugepage", "with_sibling_thread"):
        d = r[label]
        runs = ", ".join(f"{k}: {v}" for k, v in d["ns_per_page_at_run"].items())
        print(f"{label:>19}: {d['page_ns']} ns per 4 KiB page + {d['call_ns']} ns per call;"
              f" ns per page by run length (pages) {runs}; touching a released page again"
              f" {d['refault_ns_per_page']} ns")


if __name__ == "__main__":
    main()
