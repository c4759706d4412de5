"""numba set-up shared by every kernel module: the on-disk cache and bit intrinsics.

Import this module (not numba directly) from kernel modules. It points NUMBA_CACHE_DIR at a
directory keyed to a hash of goalloc's own sources: numba keys each cached function on its
defining file only, so an edit to a callee in another module would otherwise leave a stale
caller in the cache (design/numba-notes.md).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _source_hash() -> str:
    h = hashlib.sha256()
    for path in sorted(_PKG.rglob("*.py")):
        h.update(str(path.relative_to(_PKG)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "goalloc" / f"numba-{_source_hash()}"


def _prune_stale(current: Path, max_age_s: float = 86400.0) -> None:
    """Remove caches of other source versions unused for a day (best effort): each edit or
    upgrade leaves one. Recent ones stay, so two checkouts in use at once keep theirs."""
    import shutil
    import time

    if current.exists() or not current.parent.exists():
        return
    now = time.time()
    for old in current.parent.glob("numba-*"):
        try:
            if now - old.stat().st_mtime > max_age_s:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass


if "NUMBA_CACHE_DIR" not in os.environ:
    _dir = cache_dir()
    _prune_stale(_dir)
    os.environ["NUMBA_CACHE_DIR"] = str(_dir)

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import types  # noqa: E402
from numba.core import cgutils  # noqa: E402,F401
from numba.extending import intrinsic  # noqa: E402

njit = numba.njit
JIT_DISABLED = bool(numba.config.DISABLE_JIT)


def kernel(*args, **kwargs):
    """`numba.njit` with goalloc's defaults: cached, no Python fallback."""
    kwargs.setdefault("cache", True)
    kwargs.setdefault("nogil", True)
    if args and callable(args[0]):
        return numba.njit(**kwargs)(args[0])
    return numba.njit(*args, **kwargs)


@intrinsic
def _cttz64(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        (val,) = args
        return builder.cttz(val, context.get_constant(types.boolean, False))

    return sig, codegen


@intrinsic
def _ctlz64(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        (val,) = args
        return builder.ctlz(val, context.get_constant(types.boolean, False))

    return sig, codegen


@intrinsic
def _ctpop64(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        (val,) = args
        return builder.ctpop(val)

    return sig, codegen


if JIT_DISABLED:

    def ctz64(x):
        """Count trailing zeros of a uint64 (64 for 0), as sys.TrailingZeros64."""
        x = int(x)
        return 64 if x == 0 else (x & -x).bit_length() - 1

    def popcount64(x):
        return bin(int(x)).count("1")

    def hibit64(x):
        """Index of the highest set bit of a non-zero uint64, as 63 - sys.LeadingZeros64."""
        return int(x).bit_length() - 1

else:

    @numba.njit(cache=True, inline="always")
    def ctz64(x):
        """Count trailing zeros of a uint64 (64 for 0), as sys.TrailingZeros64."""
        return np.int64(_cttz64(np.uint64(x)))

    @numba.njit(cache=True, inline="always")
    def popcount64(x):
        return np.int64(_ctpop64(np.uint64(x)))

    @numba.njit(cache=True, inline="always")
    def hibit64(x):
        """Index of the highest set bit of a non-zero uint64, as 63 - sys.LeadingZeros64."""
        return 63 - np.int64(_ctlz64(np.uint64(x)))
