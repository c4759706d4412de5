"""heapSetType's scanSize (runtime/mbitmap.go, Go 1.22-1.27; 1.27 source read): the bytes one
pointerful allocation adds to heapScan (mcache.scanAlloc, then gcControllerState.update),
the pacer's estimate of the scannable heap (engine/mark.py revise).

An object of at most 512 bytes (heapBitsInSpan: no malloc header) adds its pointer prefix,
writeHeapBitsSmall's scanSize: typ.PtrBytes, plus typ.Size_ for each array element before the
last. A larger object adds its whole slot (heapSetTypeSmallHeader and heapSetTypeLarge return
span.elemsize). A Go trace's types batch gives each type's size and PtrBytes (the header's
`sites` table, kind "go-type"); an allocation whose type the trace does not give adds its
slot, as the model counts scan work when it does not follow Green Tea's packed span scan
(gc.mark_start, engine/mark.py heap_scan_work): then heapScan and the work are in one unit.
"""

from __future__ import annotations

import numpy as np

from goalloc.jit import kernel
from goalloc.trace import format as fmt

MAX_NO_HEADER = 512  # minSizeForMallocHeader: heapBitsInSpan(size) is size <= 512


def site_types(sites) -> tuple[np.ndarray, np.ndarray] | None:
    """(size, ptr_bytes) per site id (id 0: none) of a trace's Go types, or None when the
    trace has no Go type table."""
    if sites is None or sites.kind != "go-type" or not sites.names:
        return None
    size = np.zeros(len(sites.names) + 1, np.int64)
    ptr = np.zeros(len(sites.names) + 1, np.int64)
    size[1:] = sites.size
    ptr[1:] = sites.ptr_bytes
    return size, ptr


_NO_TYPES = (np.zeros(0, np.int64), np.zeros(0, np.int64))


def scan_sizes(kind: np.ndarray, size: np.ndarray, site: np.ndarray,
               types: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Per event, the bytes heapScan grows by when it is a pointerful allocation of at most
    512 bytes of a known type: (n - 1) x typ.Size_ + typ.PtrBytes for n = size / typ.Size_
    elements; -1 (its slot) for every other event."""
    tsize, tptr = _NO_TYPES if types is None else types
    out = np.empty(kind.shape[0], np.int64)
    _scan_sizes(kind, size, site, tsize, tptr, out)
    return out


@kernel
def _scan_sizes(kind, size, site, tsize, tptr, out):
    """scan_sizes in one pass without the GIL (tsize empty: no types, every event -1)."""
    nt = tsize.shape[0]
    for i in range(kind.shape[0]):
        out[i] = -1
        if nt == 0 or kind[i] != fmt.ALLOC:
            continue
        sid = site[i] if 0 < site[i] < nt else 0
        ts = tsize[sid]
        tp = tptr[sid]
        sz = size[i]
        if ts > 0 and tp > 0 and sz > 0 and sz <= MAX_NO_HEADER:
            n = sz // ts
            if n < 1:
                n = 1
            out[i] = (n - 1) * ts + tp
