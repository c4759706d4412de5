"""Grid documents (schema goalloc-grid/1, docs/json.md) and their presentation: the grid JSON of
many replays, the key naming a run by its configuration, and the grid table. Running the grid
is goalloc/grid.py."""

from __future__ import annotations

import json
import os

from goalloc.errors import GoallocError
from goalloc.report import jsontext

SCHEMA = "goalloc-grid/1"
GRID_COLUMNS = (
    ("unused", "/memory/classes/heap/unused:bytes", "bytes"),
    ("rounding", "/goalloc/frag/rounding:bytes", "bytes"),
    # held = in-use spans + free pages not released (J&W's H), as maxH/maxL beside it
    ("peak held", "/goalloc/frag/jw/peak-held:bytes", "bytes"),
    ("maxH/maxL", "/goalloc/frag/jw/max-h-over-max-l:ratio", "ratio"),
    ("GCs", "/gc/cycles/total:gc-cycles", "count"),
)


def trace_name(path: str) -> str:
    """A trace's short name: its file name without directories and extension(s)."""
    base = os.path.basename(os.fspath(path))
    for ext in (".msgpack", ".jsonl", ".json", ".gz", ".zst"):
        if base.endswith(ext) and len(base) > len(ext):
            base = base[: -len(ext)]
    return base


def table_name(spec: str) -> str:
    return trace_name(spec) if spec.endswith((".toml", ".json")) else spec


def grid_dict(texts: list[str]) -> dict:
    return {"schema": SCHEMA, "runs": [json.loads(t) for t in texts]}


def grid_json(texts: list[str]) -> str:
    """The grid document: deterministic text (sorted keys, 2-space indent, final newline)."""
    return jsontext.dumps(grid_dict(texts)) + "\n"


def run_key(doc: dict) -> dict:
    """A replay document's configuration as ordered (axis -> value) pairs: what names a run
    in tables and benchmark names and what `goalloc compare` matches runs by."""
    from goalloc.report.knobs import format_gogc, format_memlimit

    cfg = doc.get("config", {})
    procs = (cfg.get("gomaxprocs") or {}).get("modelled")
    key = {
        "trace": trace_name(doc.get("trace", {}).get("path", "?")),
        "go": str(cfg.get("go_version")),
        "table": table_name(str(cfg.get("table"))),
        "gogc": format_gogc(cfg.get("gogc")),
        "memlimit": format_memlimit(cfg.get("gomemlimit")),
        "procs": str(procs),
    }
    if cfg.get("gc_mode", "pacer") != "pacer":
        key["gc"] = str(cfg.get("gc_mode"))
    return key


def runs_of(doc: dict, what: str = "input") -> list[dict]:
    """The replay documents of a goalloc-replay/1 or goalloc-grid/1 document."""
    from goalloc.jsonread import JsonError
    from goalloc.report.docshape import check_report

    schema = str(doc.get("schema", "")) if isinstance(doc, dict) else ""
    grid = schema.startswith("goalloc-grid/")
    if grid or schema.startswith("goalloc-replay/"):
        try:
            check_report(doc, grid)  # every field compare reads has its documented type
        except JsonError as e:
            raise GoallocError(f"{what}: {e}") from None
        return doc["runs"] if grid else [doc]
    raise GoallocError(f"{what}: not a goalloc replay or grid JSON report (schema {schema!r})")


def fmt_value(value, kind: str) -> str:
    from goalloc.report.units import count, iec_bytes

    if value is None:
        return "-"
    if kind == "bytes":
        return iec_bytes(value)
    if kind == "ratio":
        return f"{value:.3f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return count(int(value))


def render_grid(docs: list[dict], console) -> None:
    """A table per trace, a row per configuration: the axes that vary, then key figures;
    then the runs' caveats by kind (the JSON and a single replay have their text)."""
    from goalloc.report.layout import print_table

    keys = [run_key(d) for d in docs]
    names = list(dict.fromkeys(k for key in keys for k in key if k != "trace"))
    varying = [k for k in names if len({key.get(k) for key in keys}) > 1]
    fixed = [f"{k}={keys[0][k]}" for k in names if k not in varying]
    console.print(f"[bold]goalloc replay[/bold] — {len(docs)} runs, modelled Go runtime heap "
                  "(figures are the model's; at the end unless marked peak)")
    if fixed:
        console.print("all runs: " + ", ".join(fixed))
    traces = list(dict.fromkeys(k["trace"] for k in keys))
    for trace in traces:
        paths = {d.get("trace", {}).get("path") for d, k in zip(docs, keys, strict=True)
                 if k["trace"] == trace}
        rows = []
        for key, doc in zip(keys, docs, strict=True):
            if key["trace"] != trace:
                continue
            values = {m["name"]: m["value"] for m in doc.get("metrics", [])}
            rows.append([*[key.get(k, "") for k in varying],
                         *[fmt_value(values.get(name), kind) for _, name, kind in GRID_COLUMNS]])
        # fits the terminal (goalloc.report.layout); the ratio goes first when it cannot
        print_table(console, f"{trace} ({', '.join(sorted(map(str, paths)))})",
                    [(k, "left") for k in varying] + [(label, "right")
                                                      for label, _, _ in GRID_COLUMNS],
                    rows, ("maxH/maxL",))
    codes: dict = {}
    for doc in docs:
        for c in doc.get("caveats") or []:
            codes[c.get("code")] = codes.get(c.get("code"), 0) + 1
    if codes:
        console.print("caveats: " + ", ".join(f"{c} ({n} of {len(docs)} runs)"
                                              for c, n in codes.items())
                      + " (their text: --json, or a single replay)")
    console.print("unused: in-use span bytes not holding objects; rounding: slot - requested "
                  "bytes of live objects; peak held: in-use spans + free pages at their peak; "
                  "maxH/maxL: Johnstone & Wilson's max held / max live. --json writes every "
                  "run's full report.")
