"""The synthetic-trace PRNG: xoshiro256** seeded by splitmix64, written out by hand.

Only integer ops and IEEE +, -, *, / are used (our own log, no libm), so a seed gives the same
stream under any numba or numpy version and with NUMBA_DISABLE_JIT=1. State is a uint64[4]
array the caller carries between kernel calls.
"""

from __future__ import annotations

import numpy as np

from goalloc.jit import hibit64, kernel

_M64 = (1 << 64) - 1
U7, U11, U17, U19, U32, U45, U57 = (np.uint64(k) for k in (7, 11, 17, 19, 32, 45, 57))
U5, U9 = np.uint64(5), np.uint64(9)
TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53
LN2 = 0.6931471805599453
SQRT1_2 = 0.7071067811865476
# 1/(2j+1) for j = 11..0: the atanh series for ln, evaluated by Horner's rule in ln_int.
_ATANH = tuple(1.0 / (2 * j + 1) for j in range(11, -1, -1))
# 2**-k for k = 0..63 (exact), and SQRT1_2 * 2**64 (an integer: SQRT1_2's 53-bit mantissa,
# shifted) for exp1's branch-free range reduction.
_POW2_NEG = np.array([2.0**-k for k in range(64)])
_SQRT1_2_U64 = np.uint64(int(SQRT1_2 * 2.0**64))


def seed_state(seed: int, stream: int = 0) -> np.ndarray:
    """xoshiro256** state from a user seed via splitmix64 (Python ints: exact everywhere)."""
    x = (int(seed) * 0x9E3779B97F4A7C15 + int(stream) * 0xD1B54A32D192ED03) & _M64
    out = []
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & _M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        out.append(z ^ (z >> 31))
    if not any(out):
        out[0] = 1  # the all-zero state is xoshiro's one fixed point
    return np.array(out, dtype=np.uint64)


@kernel(inline="always")
def next_u64(s):
    """The next 64 random bits (xoshiro256**)."""
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    r = s1 * U5
    r = ((r << U7) | (r >> U57)) * U9
    t = s1 << U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << U45) | (s3 >> U19)
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3
    return r


@kernel(inline="always")
def uniform(s):
    """A float in [0, 1) with 53 random bits."""
    return np.float64(next_u64(s) >> U11) * TWO_M53


@kernel(inline="always")
def below(s, n):
    """An int64 in [0, n) for 1 <= n < 2**53: the high 32 bits scaled by n when n <= 2**32
    (a multiply instead of a ~40-cycle divide; bias < n / 2**32), else a 53-bit modulo."""
    x = next_u64(s)
    if n <= 4294967296:
        return np.int64(((x >> U32) * np.uint64(n)) >> U32)
    return np.int64((x >> U11) % np.uint64(n))


@kernel(inline="always")
def exp1(s):
    """An Exp(1) variate -ln(u), u = k / 2**53 with k uniform in 1..2**53. ln is computed here
    from exact doublings and an atanh series (IEEE +, *, / only): ~1 ulp, no libm."""
    k = np.int64(next_u64(s) >> U11) + 1
    # Bring u = k / 2**53 into [sqrt(1/2), 1] by e exact doublings, without a loop (whose trip
    # count is random, so its branch mispredicted): with k in [2**(b-1), 2**b), k / 2**b is in
    # [1/2, 1), plus one more doubling when that is below sqrt(1/2), compared exactly in
    # integers (k scaled to 64 bits against SQRT1_2 * 2**64). u and e are those of the loop
    # `while u < SQRT1_2: u *= 2.0; e += 1`, bit for bit.
    b = hibit64(k) + 1
    below_half_sqrt2 = np.int64((np.uint64(k) << np.uint64(64 - b)) < _SQRT1_2_U64)
    u = np.float64(k) * _POW2_NEG[b - below_half_sqrt2]
    e = 53 - b + below_half_sqrt2
    t = (u - 1.0) / (u + 1.0)  # |t| <= 0.172, so 12 odd terms reach double precision
    t2 = t * t
    acc = 0.0
    for c in _ATANH:
        acc = acc * t2 + c
    return e * LN2 - 2.0 * t * acc
