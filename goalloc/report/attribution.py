"""The attribution table (#17) as text: the sites holding the most memory at the end of the
trace, with what keeps their spans (engine/attribution.py says how each figure is counted)."""

from __future__ import annotations

from goalloc.report.units import iec_bytes

TOP = 15  # rows shown; the JSON and pprof output have them all


def top_rows(attribution: dict, n: int = TOP) -> list[dict]:
    return attribution["rows"][:n]


def render(attribution: dict, console, n: int = TOP) -> None:
    from goalloc.report.layout import plain_table

    rows = top_rows(attribution, n)
    peak = attribution.get("peak_consistent")
    t = plain_table(f"Held memory by {_what(attribution)} at the end of the trace "
                    f"({len(rows)} of {len(attribution['rows'])})")
    t.add_column("site", overflow="ellipsis", max_width=22, no_wrap=True)
    for col in ("held", "stranded", "live", "rounding", "peak live"):
        t.add_column(col, justify="right", no_wrap=True, min_width=8)
    for r in rows:
        t.add_row(
            _short(r["name"], attribution.get("kind")), iec_bytes(r["held_bytes"]),
            f"{r['stranded_spans']} sp" if r["stranded_spans"] else "-",
            iec_bytes(r["live_bytes"]), iec_bytes(r["rounding_bytes"]),
            iec_bytes(r["peak_live_bytes"]) if peak else "-")
    console.print(t)
    console.print(f"held: in-use spans whose live slots are mostly the site's; stranded: spans "
                  f"whose live slots are all the site's and fill at most "
                  f"{attribution['stranded_fill']:.0%} of them; peak live: at the event of peak "
                  "held memory.")


def _short(name: str, kind: str | None) -> str:
    """A call site without its directory (`libc.so.6:(malloc+1c)[0x...]`): the part that tells
    sites apart fits the column."""
    return name.rsplit("/", 1)[-1] if kind == "call-site" else name


def _what(attribution: dict) -> str:
    kind = attribution.get("kind")
    return {"go-type": "Go type", "call-site": "call site"}.get(kind, "site (none recorded)")
