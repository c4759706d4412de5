"""Reading JSON from files safely: bounded size and nesting, UTF-8 checked, and shape checked
against a small schema that reports the first violation with its path
(`runs[0].metrics[270].name: expected a string`). Used for reports given to `compare`, JSON
size-class tables and JSON Lines traces (issue #18; limits in goalloc.limits)."""

from __future__ import annotations

import json
import math
import os

from goalloc import limits
from goalloc.errors import GoallocError


class JsonError(ValueError):
    """A JSON document that cannot be used; `str()` is the reason, without the file name."""


def _no_constant(name: str):
    raise JsonError(f"{name} is not a JSON number")


def loads(text: str | bytes, max_depth: int = limits.MAX_JSON_DEPTH):
    """json.loads that refuses NaN/Infinity, invalid UTF-8 and nesting deeper than max_depth.
    Raises JsonError with a one-line reason."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JsonError(f"not UTF-8 text (byte {e.start})") from None
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        where = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno} column {e.colno}"
        raise JsonError(f"invalid JSON ({e.msg} at {where})") from None
    except RecursionError:
        raise JsonError(f"JSON nested deeper than {max_depth} levels") from None
    deep = too_deep(obj, max_depth)
    if deep is not None:
        raise JsonError(f"{deep}: JSON nested deeper than {max_depth} levels")
    return obj


def load_file(path: str | os.PathLike, what: str,
              max_bytes: int = limits.MAX_JSON_FILE_BYTES):
    """The JSON document in `path`, or GoallocError "PATH: reason" (what: e.g. "JSON report")."""
    data = read_bounded(path, what, max_bytes)
    try:
        return loads(data)
    except JsonError as e:
        raise GoallocError(f"{os.fspath(path)}: {what}: {e}") from None


def read_bounded(path: str | os.PathLike, what: str, max_bytes: int) -> bytes:
    """The bytes of `path`, or GoallocError when it cannot be read or is over max_bytes."""
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise GoallocError(f"{os.fspath(path)}: cannot read {what}: {e.strerror}") from None
    if len(data) > max_bytes:
        raise GoallocError(f"{os.fspath(path)}: {what} larger than {max_bytes >> 20} MiB")
    return data


def too_deep(obj, max_depth: int) -> str | None:
    """The path of the first container nested deeper than max_depth, or None (iterative)."""
    if _depth_within(obj, max_depth):
        return None  # (the common case, without building a path per container)
    stack = [(obj, "", 1)]
    while stack:
        o, path, depth = stack.pop()
        if isinstance(o, dict):
            items = o.items()
        elif isinstance(o, list):
            items = enumerate(o)
        else:
            continue
        if depth > max_depth:
            return (path[:60] + "...") if len(path) > 63 else (path or "(top)")
        for k, v in items:
            if isinstance(v, dict | list):
                stack.append((v, join(path, k), depth + 1))
    return None


def _depth_within(obj, max_depth: int) -> bool:
    """Whether no container in obj is nested deeper than max_depth."""
    stack = [(obj, 1)]
    while stack:
        o, depth = stack.pop()
        if isinstance(o, dict):
            values = o.values()
        elif isinstance(o, list):
            values = o
        else:
            continue
        if depth > max_depth:
            return False
        stack.extend((v, depth + 1) for v in values if isinstance(v, dict | list))
    return True


def join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


# -- shapes ---------------------------------------------------------------------------------
# A shape is a Python type (str, int, float = any finite number, bool, dict, list), None (JSON
# null), a tuple of shapes (any of them), a list [shape] (a list of such items), or an
# Object(required={key: shape}, optional={key: shape}); unknown keys are allowed, as the JSON
# schemas promise consumers (docs/json.md).

ANY = object()


class Object:
    def __init__(self, required=None, optional=None):
        self.required = required or {}
        self.optional = optional or {}


_NAMES = {str: "a string", int: "a 64-bit integer", float: "a finite number", bool: "true or false",
          dict: "an object", list: "a list", None: "null"}


def describe(shape) -> str:
    if isinstance(shape, tuple):
        return " or ".join(describe(s) for s in shape)
    if isinstance(shape, list):
        return "a list"
    if isinstance(shape, Object):
        return "an object"
    return _NAMES.get(shape, "a value")


def check(value, shape, path: str = "") -> None:
    """Raise JsonError "path: expected ..." at the first place `value` does not fit `shape`."""
    if _fits(value, shape, path):
        return
    where = path or "(top)"
    raise JsonError(f"{where}: expected {describe(shape)}")


def _fits(value, shape, path) -> bool:
    if shape is ANY:
        return True
    if isinstance(shape, tuple):
        for s in shape:
            if _fits_here(value, s):
                return _fits(value, s, path)
        return False
    if isinstance(shape, list):
        if not isinstance(value, list):
            return False
        for i, item in enumerate(value):
            check(item, shape[0], join(path, i))
        return True
    if isinstance(shape, Object):
        if not isinstance(value, dict):
            return False
        for key, s in shape.required.items():
            if key not in value:
                raise JsonError(f"{join(path, key)}: missing (expected {describe(s)})")
            check(value[key], s, join(path, key))
        for key, s in shape.optional.items():
            if key in value:
                check(value[key], s, join(path, key))
        return True
    return _fits_here(value, shape)


def _fits_here(value, shape) -> bool:
    """Whether `value` has the outer type of `shape` (containers not looked into)."""
    if shape is ANY:
        return True
    if shape is None:
        return value is None
    if isinstance(shape, list):
        return isinstance(value, list)
    if isinstance(shape, Object) or shape is dict:
        return isinstance(value, dict)
    if isinstance(shape, tuple):
        return any(_fits_here(value, s) for s in shape)
    if shape is bool:
        return isinstance(value, bool)
    if shape is int:  # goalloc's integers are 64-bit
        return isinstance(value, int) and not isinstance(value, bool) and _int64(value)
    if shape is float:
        if isinstance(value, bool):
            return False
        return _int64(value) if isinstance(value, int) else (
            isinstance(value, float) and math.isfinite(value))
    return isinstance(value, shape)


def _int64(v: int) -> bool:
    return -(1 << 63) <= v < 1 << 64
