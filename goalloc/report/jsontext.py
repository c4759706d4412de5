"""goalloc's deterministic JSON text: exactly what `json.dumps(doc, indent=2, sort_keys=True,
ensure_ascii=False, allow_nan=False)` writes, about twice as fast.

With an indent the json module encodes in pure Python (its C encoder serves only the compact
form), and a replay's document takes ~45 ms of a 1 M-event replay's ~150 ms there, all of it
holding the GIL that a grid's threads share (benchmarks/bench_grid.py). This writer handles the
plain types a report is made of (dict with str keys, list, tuple, str, int, float, bool, None)
by their exact types, with the json module's own C string escaper and the reprs it uses, and
hands anything else (subclasses, other key types) back to json.dumps whole, so the text is
always the json module's. tests/test_jsontext.py compares the two on generated documents.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring as _quote  # the C escaper json.dumps uses


class _Other(Exception):
    """A value this writer leaves to the json module."""


def dumps(doc) -> str:
    """json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)."""
    out: list[str] = []
    try:
        _value(doc, out, "\n")
    except _Other:
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return "".join(out)


def _value(o, out: list[str], nl: str) -> None:
    t = type(o)
    if t is str:
        out.append(_quote(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif t is int:
        out.append(int.__repr__(o))
    elif t is float:
        if not math.isfinite(o):
            raise ValueError("Out of range float values are not JSON compliant: " + repr(o))
        out.append(float.__repr__(o))
    elif t is dict:
        _object(o, out, nl)
    elif t is list or t is tuple:
        _array(o, out, nl)
    else:
        raise _Other


def _object(o: dict, out: list[str], nl: str) -> None:
    if not o:
        out.append("{}")
        return
    inner = nl + "  "
    sep = "{" + inner
    for k in sorted(o):  # a TypeError on mixed key types, as json.dumps gives
        if type(k) is not str:
            raise _Other
        out.append(sep)
        out.append(_quote(k))
        out.append(": ")
        _value(o[k], out, inner)
        sep = "," + inner
    out.append(nl + "}")


def _array(o, out: list[str], nl: str) -> None:
    if not o:
        out.append("[]")
        return
    inner = nl + "  "
    sep = "[" + inner
    for v in o:
        out.append(sep)
        _value(v, out, inner)
        sep = "," + inner
    out.append(nl + "]")
