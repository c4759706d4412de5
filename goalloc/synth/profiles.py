"""Allocation size profiles for `goalloc synth profile`: CSV files and the built-in ones.

A profile is `size,weight` rows, or tcmalloc's `size,alloc_rate,num_live` rows (the ten
`tcmalloc:NAME` profiles shipped in profiles/, see profiles/README.md). Any problem is a
GoallocError naming the file and line.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from goalloc.errors import GoallocError

BUILTIN_PREFIX = "tcmalloc:"
MAX_SIZE = 1 << 40  # the trace format's limit on one allocation (1 TiB)


@dataclass
class Profile:
    name: str  # what the user gave: a path or tcmalloc:NAME
    sizes: np.ndarray  # int64, ascending, unique
    alloc_rate: np.ndarray  # float64 weights (relative allocation rates)
    num_live: np.ndarray | None  # float64 mean live objects per size (3-column form only)
    sha256: str


def builtin_names() -> list[str]:
    files = resources.files("goalloc.synth") / "profiles"
    return sorted(BUILTIN_PREFIX + f.name[:-4] for f in files.iterdir() if f.name.endswith(".csv"))


def load(spec: str) -> Profile:
    """Load a profile from a CSV path or a built-in name such as `tcmalloc:beta`."""
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX) :]
        path = resources.files("goalloc.synth") / "profiles" / f"{name}.csv"
        if not name.isidentifier() or not path.is_file():
            raise GoallocError(
                f"unknown profile {spec!r}; built-in ones: {', '.join(builtin_names())}"
            )
        data = path.read_bytes()
    else:
        try:
            data = Path(spec).read_bytes()
        except OSError as e:
            raise GoallocError(f"{spec}: cannot read profile: {e.strerror}") from None
    return parse(spec, data)


def parse(name: str, data: bytes) -> Profile:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise GoallocError(f"{name}: not a UTF-8 CSV file") from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    cols = [c.strip().lower() for c in header] if header else []
    if cols not in (["size", "weight"], ["size", "alloc_rate", "num_live"]):
        raise GoallocError(
            f"{name}:1: expected a header 'size,weight' or 'size,alloc_rate,num_live', "
            f"got {','.join(header or [])!r}"
        )
    merged: dict[int, list[float]] = {}
    for lineno, row in enumerate(rows, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        size, values = _row(name, lineno, row, len(cols))
        acc = merged.setdefault(size, [0.0] * len(values))
        for k, v in enumerate(values):
            acc[k] += v  # a repeated size adds its rates and live counts
    if not merged:
        raise GoallocError(f"{name}: profile has no rows")
    sizes = np.array(sorted(merged), dtype=np.int64)
    table = np.array([merged[s] for s in sizes.tolist()], dtype=np.float64)
    if not table[:, 0].sum() > 0:
        raise GoallocError(f"{name}: every weight is zero")
    return Profile(
        name=name,
        sizes=sizes,
        alloc_rate=table[:, 0].copy(),
        num_live=table[:, 1].copy() if len(cols) == 3 else None,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _row(name: str, lineno: int, row: list[str], ncols: int) -> tuple[int, list[float]]:
    where = f"{name}:{lineno}"
    if len(row) != ncols:
        raise GoallocError(f"{where}: expected {ncols} columns, got {len(row)}")
    try:
        size_f = float(row[0])
    except ValueError:
        raise GoallocError(f"{where}: size {row[0].strip()!r} is not a number") from None
    if not size_f.is_integer() or not 1 <= size_f <= MAX_SIZE:
        raise GoallocError(f"{where}: size {row[0].strip()} is not an integer in 1..1 TiB")
    values = []
    for cell, what in zip(
        row[1:], ("weight" if ncols == 2 else "alloc_rate", "num_live"), strict=False
    ):
        try:
            v = float(cell)
        except ValueError:
            raise GoallocError(f"{where}: {what} {cell.strip()!r} is not a number") from None
        if not math.isfinite(v) or v < 0:
            raise GoallocError(f"{where}: {what} {cell.strip()} must be finite and >= 0")
        values.append(v)
    if ncols == 3 and values[0] > 0 and values[1] == 0:
        raise GoallocError(f"{where}: num_live is 0 for a size that is allocated (alloc_rate > 0)")
    return int(size_f), values
