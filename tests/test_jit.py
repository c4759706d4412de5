"""The bit intrinsics the kernels use agree with Python's integer arithmetic; a compile shows
its progress on a terminal."""

from __future__ import annotations

import io
import random
import re
import time

import numba
import numba.core.event
import numpy as np

from goalloc.jit import ctz64, hibit64, install_progress, kernel, popcount64


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


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_compile_progress_names_what_compiles_and_the_time():
    # a fresh (uncached) function: compiling it fires numba's compile event
    stream = _Tty()
    listener = install_progress(stream)
    try:
        f = numba.njit(lambda x: x + 1)
        assert f(1) == 2
        time.sleep(listener.tick * 3)  # the ticker draws at least once while idle-waiting
        listener.finish()
    finally:
        numba.core.event.unregister("numba:compile", listener)
    out = stream.getvalue()
    assert "test_jit" in out  # the function's module names what compiled
    last = out.rsplit("\r\x1b[K", 1)[-1]
    assert re.fullmatch(r"compiled 1 numba functions in \d+\.\d s \(cached for later runs\)\n", last)


def test_no_progress_when_not_a_terminal():
    assert install_progress(io.StringIO()) is None
