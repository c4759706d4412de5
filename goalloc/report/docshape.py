"""The shape of the JSON reports `goalloc compare` reads back (docs/json.md: goalloc-replay/1
and goalloc-grid/1), checked before any field is used so a damaged or foreign report gets one
line naming the first field that is wrong (issue #18). Only the fields compare and the
benchmark formats read are checked; others are ignored, as the schema's stability rules ask
of consumers."""

from __future__ import annotations

from goalloc.jsonread import Object, check

METRIC = Object(required={"name": str, "unit": str, "value": (float, None, dict)})
REPLAY = Object(
    required={"schema": str, "metrics": [METRIC]},
    optional={
        "trace": Object(optional={"path": str, "sha256": (str, None)}),
        "config": Object(optional={
            "go_version": (str, None), "table": (str, None), "gogc": (int, None),
            "gomemlimit": (int, None), "gc_mode": (str, None),
            "gomaxprocs": Object(optional={"recorded": (int, None), "modelled": (int, None)}),
        }),
        "tool": Object(optional={"name": str, "version": str}),
    },
)
GRID = Object(required={"schema": str, "runs": [REPLAY]},
              optional={"tool": Object(optional={"name": str, "version": str})})


def check_report(doc, grid: bool) -> None:
    """Raise jsonread.JsonError at the first field of `doc` that does not fit its schema."""
    check(doc, GRID if grid else REPLAY)
