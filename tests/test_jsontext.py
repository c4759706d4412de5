"""goalloc.report.jsontext writes exactly the json module's text (indent 2, sorted keys, no
ASCII escaping, no NaN): compared with json.dumps itself on generated documents, on the
values where the two could part (float reprs, escapes, empty containers, key types) and on
real replay reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goalloc.report.jsontext import dumps

REPO = Path(__file__).resolve().parents[1]


def reference(doc) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)


scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())
documents = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=5) | st.tuples(inner, inner)
                   | st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_same_text_as_json_dumps(doc):
    assert dumps(doc) == reference(doc)


@pytest.mark.parametrize("doc", [
    {}, [], {"a": {}, "b": []}, [[], [{}]],
    -0.0, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 123456789.0,
    "tab\tquote\"back\\slash\u0001 é ☃ \U0001f600 \u2028",
    {"é": 1, "e": 2, "E": 3, "": 4, "\x00": 5},
    True, False, None, 2**70, -(2**70),
])
def test_values_where_encoders_part(doc):
    assert dumps(doc) == reference(doc)


def test_other_types_and_keys_are_the_json_modules():
    class Label(str):
        pass

    for doc in ({1: "a", 2: "b"}, {None: 1}, [Label("x")], {"k": Label("v")}):
        assert dumps(doc) == reference(doc)


def test_non_finite_floats_are_refused_as_json_refuses_them():
    for bad in (float("nan"), float("inf"), [1.0, float("-inf")], {"x": float("nan")}):
        with pytest.raises(ValueError):
            reference(bad)
        with pytest.raises(ValueError):
            dumps(bad)


def test_a_replay_report_is_the_same_text():
    import goalloc
    from goalloc.engine.config import Config
    from goalloc.report.replay import to_dict

    trace = REPO / "traces" / "go126-parser.msgpack"
    cfg = Config(gc_mode="recorded")
    doc = to_dict(goalloc.replay(trace, cfg), str(trace), cfg)
    assert dumps(doc) == reference(doc)
