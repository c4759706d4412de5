"""What a fresh page costs on this machine (docs/model.md, "Memory touched is time"): an
anonymous mapping of --mib MiB is written one byte per 4 KiB page (each write a page fault:
the kernel, and on a VM the host, back and zero the page), or populated first with
madvise(MADV_POPULATE_WRITE) (Linux 5.14+: one call, no fault per page), from one thread or
two threads each taking half. Milliseconds and microseconds per page, the median of --runs;
each run maps fresh memory.

    python benchmarks/bench_first_touch.py [--mib N] [--runs N]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import statistics
import sys
import threading
import time

import numpy as np

PAGE = 4096
MADV_POPULATE_WRITE = 23  # linux/mman.h


def _madvise():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc.madvise


def one_run(how: str, nbytes: int) -> float:
    """Seconds to make every page of a fresh mapping of nbytes present and written."""
    m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    a = np.frombuffer(m, np.uint8)
    addr = a.ctypes.data
    madvise = _madvise()
    t = time.perf_counter()
    if how == "touch":
        a[::PAGE] = 1
    elif how == "populate":
        if madvise(addr, nbytes, MADV_POPULATE_WRITE) != 0:
            raise OSError(ctypes.get_errno(), "madvise(MADV_POPULATE_WRITE)")
    else:  # populate, two threads
        half = nbytes // 2
        other = threading.Thread(target=madvise, args=(addr + half, nbytes - half,
                                                       MADV_POPULATE_WRITE))
        other.start()
        madvise(addr, half, MADV_POPULATE_WRITE)
        other.join()
    dt = time.perf_counter() - t
    assert int(a[::PAGE].sum()) in (0, nbytes // PAGE)  # (the pages are there to read)
    del a
    m.close()
    return dt


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    nbytes = args.mib << 20
    res: dict = {"first_touch_mib": args.mib}
    for how in ("touch", "populate", "populate_two_threads"):
        try:
            times = [one_run(how, nbytes) for _ in range(args.runs)]
        except OSError as e:  # an older kernel: no MADV_POPULATE_WRITE
            res[f"first_{how}"] = f"not available: {e}"
            continue
        med = statistics.median(times)
        res[f"first_{how}_ms"] = round(med * 1e3, 1)
        res[f"first_{how}_us_per_page"] = round(med * 1e6 * PAGE / nbytes, 2)
    return res


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=1))
