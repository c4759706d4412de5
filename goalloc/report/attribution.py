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
    spans = attribution.get("peak_spans_consistent")  # replay --peak-spans
    t = plain_table(f"Held memory by {_what(attribution)} at the end of the trace "
                    f"({len(rows)} of {len(attribution['rows'])})", tight=spans is not None)
    t.add_column("site", overflow="ellipsis", max_width=22 if spans is None else 17,
                 no_wrap=True)
    cols = ("held", "stranded", "live", "rounding", "peak live") if spans is None else (
        "held", "stranded", "live", "rounding", "pk live", "pk held")
    for col in cols:
        t.add_column(col, justify="right", no_wrap=True, min_width=8 if spans is None else 9)
    for r in rows:
        t.add_row(
            _short(r["name"], attribution.get("kind")), iec_bytes(r["held_bytes"]),
            f"{r['stranded_spans']} sp" if r["stranded_spans"] else "-",
            iec_bytes(r["live_bytes"]), iec_bytes(r["rounding_bytes"]),
            iec_bytes(r["peak_live_bytes"]) if peak else "-",
            *([iec_bytes(r["peak_held_bytes"]) if spans else "-"] if spans is not None
              else []))
    console.print(t)
    console.print(f"held: in-use spans whose live slots are mostly the site's; stranded: spans "
                  f"whose live slots are all the site's and fill at most "
                  f"{attribution['stranded_fill']:.0%} of them; "
                  + ("peak live" if spans is None else "pk live, pk held")
                  + ": at the event of peak held memory"
                  + (" (withheld: the replay stopped there did not agree)" if spans is False
                     else "") + ".")


def _short(name: str, kind: str | None) -> str:
    """A call site without its directory (`libc.so.6:(malloc+1c)[0x...]`): the part that tells
    sites apart fits the column."""
    return name.rsplit("/", 1)[-1] if kind == "call-site" else name


def _what(attribution: dict) -> str:
    kind = attribution.get("kind")
    return {"go-type": "Go type", "call-site": "call site"}.get(kind, "site (none recorded)")
