"""goalloc.jsonread.too_deep: the path of the first container nested past the limit (headers
and JSON inputs are copied into reports, #18), worked by hand."""

from __future__ import annotations

import pytest

from goalloc.jsonread import too_deep


@pytest.mark.parametrize("obj, limit, path", [
    (1, 0, None),  # not a container
    ({}, 1, None),
    ({}, 0, "(top)"),
    ({"a": {}}, 1, "a"),
    ({"a": {}}, 2, None),
    ([[[[1]]]], 3, "[0][0][0]"),
    ([[[[1]]]], 4, None),
    ({"a": [{"b": [1]}]}, 3, "a[0].b"),
    ({"a": [{"b": [1]}]}, 2, "a[0]"),
    ({"x": 1, "y": [2, {"z": {}}]}, 2, "y[1]"),  # depth counts lists and maps alike
    ({"x": 1, "y": [2, {"z": {}}]}, 4, None),
])
def test_too_deep_by_hand(obj, limit, path):
    assert too_deep(obj, limit) == path


def test_too_deep_long_path_is_cut():
    obj: dict = {}
    node = obj
    for _ in range(40):
        node["key"] = {}
        node = node["key"]
    got = too_deep(obj, 30)
    assert got.endswith("...") and len(got) == 63 and got.startswith("key.key.")
