"""Size-class tables for the allocator model: the Go runtime's table (mksizeclasses, Go
1.19-1.26), alternatives to compare against, custom tables from files, and per-version
profiles (objects per span, malloc header, small limit).

Nothing here imports numba: the numba lookup lives in `goalloc.sizeclasses.lookup`; import it
explicitly. The `classes --trace` bill reads traces, so it sits above them (goalloc/engine/bill.py).
"""

from __future__ import annotations

from pathlib import Path

from goalloc.errors import GoallocError
from goalloc.sizeclasses.generator import GeneratorParams, make_classes
from goalloc.sizeclasses.profiles import (
    DEFAULT_GO_VERSION,
    PROFILES,
    ClassProfile,
    profile,
    resolve_version,
)
from goalloc.sizeclasses.tables import BUILTIN, SizeClassTable, builtin, make_table

__all__ = [
    "BUILTIN",
    "DEFAULT_GO_VERSION",
    "PROFILES",
    "ClassProfile",
    "GeneratorParams",
    "SizeClassTable",
    "get_table",
    "make_classes",
    "make_table",
    "profile",
    "resolve_version",
]


def get_table(spec: str) -> SizeClassTable:
    """A built-in table by name (`go`, `jemalloc`, `pow2`, `go-waste<P>`) or a .toml/.json
    file. Raises GoallocError with a one-line message on bad input."""
    table = builtin(spec)
    if table is not None:
        return table
    path = Path(spec)
    if path.suffix.lower() in (".toml", ".json") or path.exists():
        from goalloc.sizeclasses.custom import load_table

        return load_table(path)
    names = ", ".join(BUILTIN)
    raise GoallocError(f"unknown size-class table {spec!r} (built-in: {names}; or a .toml/.json file)")
