"""Static views of size-class tables: the per-class rows the runtime's generated
sizeclasses.go comment documents (mksizeclasses printComment, Go 1.19-1.26, here under a
chosen version profile), and side-by-side comparison of tables by power-of-two size range.
Pure numpy; pointer-free requests (no malloc header) throughout.
"""

from __future__ import annotations

import numpy as np

from goalloc.sizeclasses.profiles import ClassProfile, profile
from goalloc.sizeclasses.tables import SizeClassTable, max_waste


def class_rows(p: ClassProfile) -> list[dict]:
    """One dict per class 1..n, as the generated file's comment lists them. `objects`,
    `tail_waste` and `max_waste_pct` use pointer-free spans of the profile (for 1.19 and
    1.22-1.25 exactly the runtime's comment); `*_scan` the pointerful spans."""
    t = p.table
    size, span = t.class_size, t.class_span
    mw = max_waste(size, span, p.objs_noscan)
    mw_scan = max_waste(size, span, p.objs_scan)
    align = t.class_align
    rows = []
    for c in range(1, t.num_classes):
        rows.append({
            "class": c,
            "bytes_obj": int(size[c]),
            "bytes_span": int(span[c]),
            "pages": int(t.class_pages[c]),
            "objects": int(p.objs_noscan[c]),
            "tail_waste": int(span[c] - p.objs_noscan[c] * size[c]),
            "max_waste_pct": float(100 * mw[c]),
            "objects_scan": int(p.objs_scan[c]),
            "tail_waste_scan": int(span[c] - p.objs_scan[c] * size[c]),
            "max_waste_scan_pct": float(100 * mw_scan[c]),
            "min_align": int(align[c]),
        })
    return rows


def min_sizes_by_align(t: SizeClassTable) -> list[dict]:
    """The comment's second block: for each alignment 2^bits, the smallest object size from
    which every larger class is at least that aligned (0 if none)."""
    page_shift = t.page_size.bit_length() - 1
    mins = [0] * (page_shift + 1)
    for s in t.class_size[1:]:
        bits = min((int(s) & -int(s)).bit_length() - 1, page_shift)
        for i in range(len(mins)):
            if i > bits:
                mins[i] = 0
            elif mins[i] == 0:
                mins[i] = int(s)
    return [{"alignment": 1 << i, "bits": i, "min_obj_size": m} for i, m in enumerate(mins)]


def size_ranges(top: int) -> list[tuple[int, int]]:
    """(lo, hi] power-of-two ranges covering 1..top: (0, 8], (8, 16], (16, 32], ..."""
    out, lo, hi = [], 0, 8
    while lo < top:
        out.append((lo, min(hi, top)))
        lo, hi = hi, hi * 2
    return out


def _range_stats(t: SizeClassTable, objs: np.ndarray, n: np.ndarray, slot: np.ndarray,
                 lo: int, hi: int) -> dict:
    sel = (n > lo) & (n <= hi)
    waste = (slot[sel] - n[sel]) / slot[sel]
    in_range = (t.class_size > lo) & (t.class_size <= hi)
    span = t.class_span[in_range]
    tail = (span - objs[in_range] * t.class_size[in_range]) / np.where(span > 0, span, 1)
    return {
        "classes": int(in_range.sum()),
        "rounding_worst_pct": float(100 * waste.max()),
        "rounding_mean_pct": float(100 * waste.mean()),
        "rounding_mean_bytes": float((slot[sel] - n[sel]).mean()),
        "tail_worst_pct": float(100 * tail.max()) if tail.size else None,
        "tail_mean_pct": float(100 * tail.mean()) if tail.size else None,
    }


def compare(tables: list[SizeClassTable], go_version: str) -> dict:
    """Side-by-side comparison of two or more tables; the first is the baseline.

    Per power-of-two range of request sizes n (every integer n counted once, served as a
    pointer-free object; n above a table's largest class is a large object rounded to pages):
    rounding waste (slot - n) / slot, worst and mean; span tail waste tail / span over the
    classes whose size falls in the range, worst and mean; and the share of request sizes
    whose slot differs from the baseline's."""
    profs = [profile(t, go_version) for t in tables]
    top = max(t.max_small_size for t in tables)
    n = np.arange(1, top + 1, dtype=np.int64)
    slots = [t.slot_size(n) for t in tables]
    ranges = []
    for lo, hi in size_ranges(top):
        sel = (n > lo) & (n <= hi)
        row = {"lo": lo, "hi": hi, "tables": []}
        for t, p, slot in zip(tables, profs, slots, strict=True):
            st = _range_stats(t, p.objs_noscan, n, slot, lo, hi)
            st["differs_pct"] = float(100 * (slot[sel] != slots[0][sel]).mean())
            row["tables"].append(st)
        ranges.append(row)
    base = tables[0]
    diffs = []
    for t in tables[1:]:
        a = dict(zip(base.class_size[1:].tolist(), base.class_pages[1:].tolist(), strict=True))
        b = dict(zip(t.class_size[1:].tolist(), t.class_pages[1:].tolist(), strict=True))
        diffs.append({
            "table": t.name,
            "only_in_baseline": sorted(set(a) - set(b)),
            "only_in_table": sorted(set(b) - set(a)),
            "same_size_other_pages": [
                {"size": s, "pages_baseline": a[s], "pages_table": b[s]}
                for s in sorted(set(a) & set(b)) if a[s] != b[s]
            ],
            "slot_differs_pct": float(100 * (slots[0] != slots[len(diffs) + 1]).mean()),
        })
    return {
        "go_version": profs[0].go_version,
        "tables": [
            {"name": t.name, "description": t.description, "num_classes": t.num_classes,
             "max_small_size": t.max_small_size, "page_size": t.page_size}
            for t in tables
        ],
        "ranges": ranges,
        "differences": diffs,
    }
