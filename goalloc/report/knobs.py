"""The Go runtime's knobs parsed as the runtime parses them, and spelled back as Go spells them.

GOGC follows `readGOGC` (runtime/mgcpacer.go): `off` or a decimal integer. GOMEMLIMIT follows
`parseByteCount` (runtime/string.go): plain decimal bytes, or a decimal followed by one of the
suffixes `B KiB MiB GiB TiB`; `off` (and, as a convenience, `math.MaxInt64` or the number
9223372036854775807) means no limit. GOMAXPROCS is a positive decimal integer.

Where the runtime silently falls back to a default on a malformed value (GOGC, GOMAXPROCS) or
throws (GOMEMLIMIT), goalloc stops with a one-line error naming the knob and the value: a
simulation run with a knob the user did not mean is worse than no run. No numba, no numpy.
"""

from __future__ import annotations

import re

from goalloc.errors import GoallocError

MAX_INT64 = (1 << 63) - 1
_DIGITS = re.compile(r"[0-9]+")
_POWERS = {"K": 1, "M": 2, "G": 3, "T": 4}


def _bad(knob: str, text: str, expected: str) -> GoallocError:
    return GoallocError(f"invalid {knob} value {text!r}: expected {expected}")


def parse_gogc(text: str, knob: str = "GOGC") -> int | None:
    """`off` -> None (no GC); a decimal integer >= 0 -> that percent; a negative one is off,
    as the runtime's setGCPercent makes any negative percent -1 (runtime/mgcpacer.go)."""
    s = str(text).strip()
    if s == "off":
        return None
    if not re.fullmatch(r"-?[0-9]+", s):
        raise _bad(knob, text, "an integer percent or off (e.g. 100, 50, off; negative = off)")
    n = int(s)
    if not -(1 << 31) <= n <= (1 << 31) - 1:  # atoi32
        raise _bad(knob, text, "a percent that fits in an int32")
    return None if n < 0 else n


def parse_memlimit(text: str, knob: str = "GOMEMLIMIT") -> int | None:
    """Bytes, with Go's suffixes; None = unlimited (`off`, `math.MaxInt64`, 2^63-1)."""
    s = str(text).strip()
    if s in ("off", "math.MaxInt64"):
        return None
    expected = "bytes with an optional suffix B, KiB, MiB, GiB or TiB (e.g. 512MiB), or off"
    m = re.fullmatch(r"([0-9]+)(B|[KMGT]iB)?", s)
    if not m:
        raise _bad(knob, text, expected)
    n = int(m.group(1))
    suffix = m.group(2)
    if suffix and suffix != "B":
        n *= 1024 ** _POWERS[suffix[0]]
    if n > MAX_INT64:
        raise _bad(knob, text, "a limit below 8 EiB (math.MaxInt64)")
    if n == MAX_INT64:
        return None
    return n


def parse_procs(text: str, knob: str = "GOMAXPROCS") -> int:
    s = str(text).strip()
    if not _DIGITS.fullmatch(s) or not 1 <= int(s) <= 1 << 15:
        raise _bad(knob, text, "an integer in 1..32768")
    return int(s)


def format_gogc(gogc: int | None) -> str:
    return "off" if gogc is None else str(gogc)


def format_memlimit(limit: int | None) -> str:
    """As a Go user would write it: the largest IEC suffix that divides exactly, else bytes."""
    if limit is None:
        return "off"
    for suffix, power in (("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1)):
        unit = 1024**power
        if limit >= unit and limit % unit == 0:
            return f"{limit // unit}{suffix}"
    return f"{limit}B"


def gogc_metric(gogc: int | None) -> int:
    """/gc/gogc:percent as the runtime reports it: -1 when GOGC=off."""
    return -1 if gogc is None else gogc


def memlimit_metric(limit: int | None) -> int:
    """/gc/gomemlimit:bytes as the runtime reports it: math.MaxInt64 when unlimited."""
    return MAX_INT64 if limit is None else limit
