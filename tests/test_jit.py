"""The bit intrinsics the kernels use agree with Python's integer arithmetic."""

from __future__ import annotations

import random

import numpy as np

from goalloc.jit import ctz64, hibit64, kernel, popcount64


@kernel
def _bits(xs, out):
    for i in range(xs.shape[0]):
        out[i, 0] = ctz64(xs[i])
        out[i, 1] = hibit64(xs[i])
        out[i, 2] = popcount64(xs[i])


def test_intrinsics_match_python_ints():
    rnd = random.Random(5)
    vals = [1, 2, 3, 1 << 63, (1 << 64) - 1] + [rnd.getrandbits(rnd.randint(1, 64)) | 1 << rnd.randint(0, 63)
                                                   for _ in range(500)]
    xs = np.array(vals, dtype=np.uint64)
    out = np.zeros((len(vals), 3), np.int64)
    _bits(xs, out)
    for v, (tz, hi, pop) in zip(vals, out.tolist(), strict=True):
        assert tz == (v & -v).bit_length() - 1
        assert hi == v.bit_length() - 1
        assert pop == bin(v).count("1")
