"""Custom size-class tables from TOML (stdlib tomllib) or JSON files, validated against the
rules the runtime's tables obey (sizes ascending multiples of 8 within the max small size,
spans of whole pages holding at least one object, under every Go version profile).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from goalloc import jsonread, limits
from goalloc.errors import GoallocError
from goalloc.sizeclasses.profiles import TINY_SIZE
from goalloc.sizeclasses.tables import PAGE_SIZE, SizeClassTable, make_table

MAX_SMALL_SIZE = 32768  # _MaxSmallSize: default bound for custom class sizes
# 4096 classes of ~30 bytes of TOML each; far beyond any real table, small enough to read whole
MAX_TABLE_BYTES = 1 << 20
_TOP_KEYS = {"name", "description", "page_size", "max_small_size", "class", "classes"}
_CLASS_KEYS = {"size", "pages", "span"}


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _parse(path: Path) -> dict:
    data = jsonread.read_bounded(path, "size-class table", MAX_TABLE_BYTES)
    try:
        if path.suffix.lower() == ".json":
            doc = jsonread.loads(data)
        else:
            doc = tomllib.loads(data.decode("utf-8"))
            deep = jsonread.too_deep(doc, limits.MAX_JSON_DEPTH)
            if deep is not None:
                raise ValueError(f"{deep}: nested deeper than {limits.MAX_JSON_DEPTH} levels")
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # JSON/TOMLDecodeError
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if isinstance(e, RecursionError):
            msg = f"nested deeper than {limits.MAX_JSON_DEPTH} levels"
        raise GoallocError(f"{path}: not a valid size-class table file: {msg}") from None
    if not isinstance(doc, dict):
        raise GoallocError(f"{path}: expected a table/object at the top level")
    return doc


def load_table(path: str | Path) -> SizeClassTable:
    """Read and validate a custom table. Errors name the file and the class (numbered from 1,
    as the runtime numbers classes; class 0 is implicit)."""
    path = Path(path)
    doc = _parse(path)

    def fail(msg: str) -> GoallocError:
        return GoallocError(f"{path}: {msg}")

    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise fail(f"unknown key {_show(unknown[0])} (expected {', '.join(sorted(_TOP_KEYS))})")
    page = doc.get("page_size", PAGE_SIZE)
    if not _int(page) or page < 8 or page % 8 or page > limits.MAX_PAGE_SIZE:
        raise fail(f"page_size {_show(page)} must be a multiple of 8 in 8..{limits.MAX_PAGE_SIZE}")
    limit = doc.get("max_small_size", MAX_SMALL_SIZE)
    if not _int(limit) or not 8 <= limit <= limits.MAX_CLASS_SIZE:
        raise fail(f"max_small_size {_show(limit)} must be an integer in 8..{limits.MAX_CLASS_SIZE}")
    rows = doc.get("class", doc.get("classes"))
    if not isinstance(rows, list) or not rows:
        raise fail("no classes: expected [[class]] entries with size and pages")
    if len(rows) > limits.MAX_CLASSES:
        raise fail(f"{len(rows)} classes, more than {limits.MAX_CLASSES}")
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise fail("name must be a non-empty string")

    classes = []
    prev = 0
    for i, row in enumerate(rows, start=1):
        classes.append(_check_class(row, i, prev, page, limit, fail))
        prev = classes[-1][0]
    if prev < TINY_SIZE:  # the engine's tiny allocator puts its blocks in such a class
        raise fail(f"the largest class is {prev} B: the tiny allocator needs a class of at "
                   f"least {TINY_SIZE} B (the runtime's maxTinySize)")
    desc = doc.get("description", f"custom table from {path}")
    return make_table(name, classes, page_size=page, description=str(desc))


def _show(value, width: int = 40) -> str:
    """A value from the file as an error message quotes it: its repr, cut to `width`
    characters (a hostile table's value can be megabytes of nested lists)."""
    r = repr(value)
    return r if len(r) <= width else r[: width - 3] + "..."


def _check_class(row, i: int, prev: int, page: int, limit: int, fail) -> tuple[int, int]:
    if not isinstance(row, dict):
        raise fail(f"class {i}: expected a table with size and pages")
    where = f"class {i}" + (f" (size {_show(row['size'])})" if "size" in row else "")
    unknown = sorted(set(row) - _CLASS_KEYS)
    if unknown:
        raise fail(f"{where}: unknown key {_show(unknown[0])} (expected size and pages or span)")
    size = row.get("size")
    if not _int(size) or size <= 0:
        raise fail(f"{where}: size must be a positive integer")
    if size % 8:
        raise fail(f"{where}: size is not a multiple of 8")
    if size <= prev:
        raise fail(f"{where}: sizes must be strictly increasing (previous class is {prev})")
    if size > limit:
        raise fail(f"{where}: size exceeds the max small size {limit}")
    if ("pages" in row) == ("span" in row):
        raise fail(f"{where}: give exactly one of pages or span (bytes)")
    if "span" in row:
        span = row["span"]
        if not _int(span) or span <= 0 or span % page:
            raise fail(f"{where}: span {_show(span)} is not a whole number of {page}-byte pages")
        pages = span // page
    else:
        pages = row["pages"]
        if not _int(pages) or pages <= 0:
            raise fail(f"{where}: pages must be a positive integer")
    if pages > limits.MAX_CLASS_PAGES:
        raise fail(f"{where}: {pages} pages per span, more than {limits.MAX_CLASS_PAGES}")
    # The tightest span any profile builds: Go 1.26 pointerful spans of <= 512 B slots give up
    # span/64 for heap bits plus 128 B of inline mark bits.
    span = pages * page
    usable = span - (span // 64 + 128 if size <= 512 else 0)
    if span // size < 1 or usable // size < 1:
        raise fail(f"{where}: a {pages}-page span holds no object of this size")
    if span // size > limits.MAX_SPAN_OBJECTS:
        raise fail(f"{where}: a {pages}-page span holds {span // size} objects, more than the "
                   f"model's {limits.MAX_SPAN_OBJECTS} per span")
    return size, pages
