"""The zstd-shuffle codec's column transform (trace format 1.2, docs/trace-format.md, #14).

Before a column is compressed, `ts` (fmt.DELTA_COLUMNS) becomes each event's difference from
the previous one's (the first from 0, modulo 2**64), and a column wider than a byte is
byte-shuffled: every value's byte 0, then every value's byte 1, and so on (blosc's shuffle).
Timestamps, ids and sizes have mostly equal high bytes, which then form long runs: on
bench_import's Go recording the columns took 55% fewer bytes and zstd half the CPU time.

Kernels, not numpy transposes: numpy's strided byte copy undoes a 64 Ki-event int64 column in
~0.16 ms, five times this module's (2026-12-05), which would have made reading slower than
the smaller frames made it faster. The reader and writer import this module only for a file
that uses the codec (goalloc.trace imports no numba otherwise).
"""

from __future__ import annotations

import numpy as np

from goalloc.jit import kernel
from goalloc.trace import format as fmt

_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def shuffle_column(name: str, values: np.ndarray) -> np.ndarray:
    """Column `name`'s values (its format dtype, contiguous) as zstd-shuffle stores them
    before compression: bytes, in planes."""
    if values.itemsize == 1:
        return values.view(np.uint8)
    return _shuffle(values.view(_UNSIGNED[values.itemsize]), name in fmt.DELTA_COLUMNS)


def unshuffle_column(name: str, data, n: int) -> np.ndarray:
    """shuffle_column undone: `data` holds n values of the known column `name` as stored
    (its length checked by the caller); a new, read-only array of the column's dtype."""
    dtype = fmt.COLUMNS[name]
    raw = np.frombuffer(data, np.uint8)
    if dtype.itemsize == 1:
        return raw.view(dtype)
    like = np.empty(0, _UNSIGNED[dtype.itemsize])
    out = _unshuffle(raw, n, name in fmt.DELTA_COLUMNS, like).view(dtype)
    # read-only as every other codec's columns: numba types a writable array apart, and the
    # kernels reading chunks would be compiled again for it (a 20 s first replay)
    out.flags.writeable = False
    return out


# Each kernel allocates its output: LLVM vectorises the loops only when it knows the output
# cannot overlap the input (eight times faster than into a caller's array).


@kernel
def _shuffle(values, delta):
    """Byte k of value i (of its difference from value i - 1 when `delta`) at k * n + i.
    Arithmetic in uint64 (numba would take a signed and unsigned mix to floats)."""
    n = values.shape[0]
    width = values.itemsize
    out = np.empty(n * width, np.uint8)
    for k in range(width):
        shift = np.uint64(8 * k)
        base = k * n
        prev = np.uint64(0)  # the first value is kept whole
        for i in range(n):
            v = np.uint64(values[i])
            d = v - prev if delta else v
            out[base + i] = np.uint8((d >> shift) & np.uint64(0xFF))
            prev = v
    return out


@kernel
def _unshuffle(raw, n, delta, like):
    """_shuffle undone: n values of like's (unsigned) type; with `delta` the running sum of
    the differences, modulo 2**(8 * width) as they were taken."""
    width = like.itemsize
    out = np.empty(n, like.dtype)
    for i in range(n):
        out[i] = raw[i]
    for k in range(1, width):
        shift = np.uint64(8 * k)
        plane = raw[k * n:(k + 1) * n]  # a slice, where raw[k * n + i] kept LLVM from
        for i in range(n):  # vectorising (seven times slower)
            out[i] |= np.uint64(plane[i]) << shift
    if delta:
        total = np.uint64(0)
        for i in range(n):
            total += np.uint64(out[i])
            out[i] = total
    return out
