"""`goalloc explain` (#17): a short account of where held memory goes and why, and what-ifs
replayed in the same run, each claim carrying the figures behind it as paths into the runs'
JSON reports (docs/json.md), so nothing is said that a report does not hold.

The runs: the trace as asked (with attribution), then GOGC=50, a GOMEMLIMIT at 80% of the
first run's peak held memory, the go-waste6.25 size-class table, and the newest modelled Go
release when the first run models an older one, each otherwise the same; in pacer mode on a
Go trace each also with the death-time range (engine/whatif.py), whose cycle range a
suggestion quotes. Every run attributes, so the sites holding most memory are followed through
each what-if (`by_site`).
"""

from __future__ import annotations

import dataclasses
import os

from goalloc.report.units import iec_bytes

SCHEMA = "goalloc-explain/1"
LIMIT_SHARE = 0.8  # the GOMEMLIMIT what-if: this share of the base run's peak held memory
WHATIF_TABLE = "go-waste6.25"
TOP = 3  # types / classes named per claim


def whatifs(config, peak_held: int, release: str | None = None) -> list[tuple[str, object]]:
    """(name, Config) of the suggestions to replay, from the base run's config, peak and
    modelled release."""
    from goalloc.releases import NEWEST

    out = []
    if config.gogc != 50:
        out.append(("GOGC=50", dataclasses.replace(config, gogc=50)))
    limit = int(peak_held * LIMIT_SHARE) >> 20 << 20
    if limit > 0 and config.memlimit is None:
        out.append((f"GOMEMLIMIT={limit >> 20}MiB",
                    dataclasses.replace(config, memlimit=limit)))
    if config.table != WHATIF_TABLE:
        out.append((f"size classes {WHATIF_TABLE}",
                     dataclasses.replace(config, table=WHATIF_TABLE)))
    if release is not None and release != NEWEST:
        out.append((f"Go {NEWEST}", dataclasses.replace(config, go_version=NEWEST)))
    return out


def run(trace, config, progress=None, header=None, keep: list | None = None) -> dict:
    """Replay the trace as asked (with attribution) and each what-if; the explain document.
    `keep`: gets the first run's (report, engine), for pictures only they give."""
    from goalloc.engine.replay import replay
    from goalloc.report.replay import to_dict

    def doc(cfg, first):
        engines: list = []
        r = replay(trace, cfg, attribute=True, progress=progress, death_range=True,
                   engine_out=engines if first and keep is not None else None,
                   peak_spans=True)
        if engines:
            keep.extend([r, engines[0]])
        return to_dict(r, trace, cfg, header=header)

    base = doc(config, True)
    runs = [{"name": "as asked", "report": base}]
    for name, cfg in whatifs(config, base["counters"]["peak_held"],
                             base["config"]["go_version"]):
        runs.append({"name": name, "report": doc(cfg, False)})
    return build(runs, os.fspath(trace))


def _cycles(doc) -> int:
    return sum(1 for c in doc["cycles"] if c.get("end_event") is not None)


def _fig(run: int, path: str, value) -> dict:
    return {"run": run, "path": path, "value": value}


def build(runs: list[dict], trace: str) -> dict:
    """Claims and suggestions from the runs' reports (runs[0]: the trace as asked)."""
    base = runs[0]["report"]
    claims = [_peak_held_claim(base["counters"])]
    claims += _attribution_claims(base.get("attribution"))
    claims += _fragmentation_claims(base)
    claims.append({
        "pattern": "GC cost",
        "text": "The replay ran {0} GC cycles.",
        "figures": [_fig(0, "cycles[*].end_event (count)", _cycles(base))],
    })
    focus = _focus_site(base)
    suggestions = [_suggestion(k, run, base, focus) for k, run in enumerate(runs[1:], 1)]
    return {"schema": SCHEMA, "trace": trace, "claims": claims, "suggestions": suggestions,
            "by_site": by_site(runs), "runs": runs}


def _peak_held_claim(c: dict) -> dict:
    return {
        "pattern": "peak held",
        "text": "Held memory peaked at {0} with {1} of objects live then.",
        "figures": [_fig(0, "counters.peak_held", c["peak_held"]),
                    _fig(0, "counters.live_at_peak_held", c["live_at_peak_held"])],
    }


def _attribution_claims(attr: dict | None) -> list[dict]:
    """The sites that strand sparse spans, hold the most at the end and at the peak (or
    that the trace names none)."""
    if not attr:
        return []
    if not attr["sites_in_table"]:
        return [{"pattern": "attribution",
                 "text": "The trace records no types or call sites, so memory is not "
                         "attributed (record with goalloc record, docs/importers.md).",
                 "figures": []}]
    named = [r for r in attr["rows"] if r["site"] is not None]
    claims = []
    stranded = sorted((r for r in named if r["stranded_spans"]),
                      key=lambda r: (-r["stranded_bytes"], r["name"]))[:TOP]
    if stranded:
        claims.append(_sparse_spans_claim(attr, stranded))
    if any(r["held_bytes"] for r in named):  # (a trace whose sites hold nothing at the end)
        claims.append(_held_by_type_claim(attr, named))
    at_peak = sorted((r for r in named if r.get("peak_held_bytes")),
                     key=lambda r: (-r["peak_held_bytes"], r["name"]))[:TOP]
    if attr.get("peak_spans_consistent") and at_peak:
        claims.append({
            "pattern": "held by type at the peak",
            "text": "At the peak of held memory, the sites holding the most span memory: "
                    + ", ".join(f"{_literal(r['name'])} ({{{k}}}, {{{k + TOP}}} of it stranded)"
                                for k, r in enumerate(at_peak)) + ".",
            "figures": _row_figs(attr, at_peak, "peak_held_bytes")
            + _row_figs(attr, at_peak, "peak_stranded_bytes"),
        })
    return claims


def _sparse_spans_claim(attr: dict, stranded: list[dict]) -> dict:
    return {
        "pattern": "sparse spans",
        "text": "At the end, {0} of spans were kept alive only by a few objects of one "
                "type (at most {1} of their slots live); the most: "
                + ", ".join(f"{_literal(r['name'])} ({{{k + 2}}} in {{{k + 2 + TOP}}} spans)"
                            for k, r in enumerate(stranded)) + ".",
        "figures": [_fig(0, "attribution.sums.stranded_bytes",
                         attr["sums"]["stranded_bytes"]),
                    _fig(0, "attribution.stranded_fill", attr["stranded_fill"])]
        + _row_figs(attr, stranded, "stranded_bytes")
        + _row_figs(attr, stranded, "stranded_spans"),
    }


def _held_by_type_claim(attr: dict, named: list[dict]) -> dict:
    top = [r for r in named if r["held_bytes"]][:TOP]
    return {
        "pattern": "held by type",
        "text": "The sites holding the most span memory at the end: "
                + ", ".join(f"{_literal(r['name'])} ({{{k}}})" for k, r in enumerate(top))
        + "; spans of objects with no site recorded, or with no live object, hold {"
        + str(TOP) + "}.",
        "figures": _row_figs(attr, top, "held_bytes")
        + [_fig(0, "attribution.sums.held_bytes - named rows' held_bytes",
                attr["sums"]["held_bytes"] - sum(r["held_bytes"] for r in named))],
    }


def _fragmentation_claims(base: dict) -> list[dict]:
    """Free pages and free slots at the peak, rounding waste at the end (where there is
    some)."""
    peak_frag = base["fragmentation"]["peak"]
    claims = []
    if peak_frag.get("free_pages"):
        claims.append({
            "pattern": "free pages not yet released",
            "text": "At the peak, {0} of heap pages were free but not returned to the OS "
                    "(held by the heap; the scavenger had not released them).",
            "figures": [_fig(0, "fragmentation.peak.free_pages", peak_frag["free_pages"])],
        })
    if peak_frag.get("free_slots"):
        claims.append({
            "pattern": "free slots in in-use spans",
            "text": "At the peak, {0} sat in free slots of in-use spans and {1} in span tails.",
            "figures": [_fig(0, "fragmentation.peak.free_slots", peak_frag["free_slots"]),
                        _fig(0, "fragmentation.peak.tail", peak_frag["tail"])],
        })
    rounding = _rounding_claim(base)
    return claims + ([rounding] if rounding is not None else [])


def _rounding_claim(base: dict) -> dict | None:
    """The classes wasting most live-slot bytes to rounding at the end (None: no waste)."""
    end_frag = base["fragmentation"]["end"]
    waste = sorted((cl for cl in base["classes"]
                    if cl.get("slot_size") and cl.get("live_slots")),
                   key=lambda cl: -(cl["live_slots"] * cl["slot_size"] - cl["live_requested"]))
    waste = [cl for cl in waste if cl["live_slots"] * cl["slot_size"] > cl["live_requested"]]
    if not (waste and end_frag.get("rounding")):
        return None
    w = waste[:TOP]
    return {
        "pattern": "rounding waste",
        "text": "Rounding up to size classes wastes {0} of live slots at the end; most in "
                + ", ".join(f"class {{{k + 1 + 3 * TOP}}} ({{{k + 1}}} live slots of "
                            f"{{{k + 1 + TOP}}} B holding {{{k + 1 + 2 * TOP}}})"
                            for k, cl in enumerate(w)) + ".",
        "figures": [_fig(0, "fragmentation.end.rounding", end_frag["rounding"])]
        + _class_figs(base, w, "live_slots") + _class_figs(base, w, "slot_size")
        + _class_figs(base, w, "live_requested") + _class_figs(base, w, "label"),
    }


def _suggestion(k: int, run: dict, base: dict, focus) -> dict:
    """What-if run k against the base: peak held and cycles (with the death-time range), and
    how the site that strands most spans (`focus`) responds."""
    doc = run["report"]
    base_held = base["counters"]["peak_held"]
    held, cycles = doc["counters"]["peak_held"], _cycles(doc)
    out = {
        "name": run["name"], "run": k,
        "peak_held": held,
        "peak_held_change": (held - base_held) / base_held if base_held else None,
        "cycles": cycles, "cycles_base": _cycles(base),
        "figures": [_fig(k, "counters.peak_held", held),
                    _fig(k, "cycles[*].end_event (count)", cycles)],
    }
    rng = (doc.get("death_range") or {}).get("cycles")
    if rng:  # how far the trace's death-time uncertainty moves the answer (#15)
        out["cycles_range"] = [_fig(k, "death_range.cycles.low", rng["low"]),
                               _fig(k, "death_range.cycles.high", rng["high"])]
        out["figures"] += out["cycles_range"]
    if focus is not None:
        rows = (doc.get("attribution") or {}).get("rows", [])
        at = [i for i, r in enumerate(rows) if r["name"] == focus[1]]
        if at:
            out["site"] = {
                "name": focus[1],
                "held_base": _fig(0, f"attribution.rows[{focus[0]}].held_bytes",
                                  base["attribution"]["rows"][focus[0]]["held_bytes"]),
                "held": _fig(k, f"attribution.rows[{at[0]}].held_bytes",
                             rows[at[0]]["held_bytes"])}
    return out


SITE_FIGURES = ("held_bytes", "peak_held_bytes", "peak_live_bytes", "stranded_bytes",
                "rounding_bytes")


def by_site(runs: list[dict]) -> list[dict]:
    """The named sites holding the most span memory in the first run, followed through every
    run: per figure of SITE_FIGURES, one figure per run (None where the run has no row for
    the site or withheld the figure)."""
    base = runs[0]["report"].get("attribution") or {}
    top = [r["name"] for r in base.get("rows", []) if r["site"] is not None
           and r["held_bytes"]][:TOP]
    out = []
    for name in top:
        entry = {"name": name}
        for key in SITE_FIGURES:
            entry[key] = []
            for k, run in enumerate(runs):
                rows = (run["report"].get("attribution") or {}).get("rows", [])
                at = [i for i, r in enumerate(rows) if r["name"] == name]
                v = rows[at[0]][key] if at else None
                entry[key].append(_fig(k, f"attribution.rows[{at[0]}].{key}", v)
                                  if v is not None else None)
        out.append(entry)
    return out


def _focus_site(doc) -> tuple[int, str] | None:
    """(row, name) of the named site stranding the most span bytes at the end, if any."""
    attr = doc.get("attribution") or {}
    best = None
    for i, r in enumerate(attr.get("rows", [])):
        if r["site"] is not None and r["stranded_bytes"] and (
                best is None or r["stranded_bytes"] > attr["rows"][best]["stranded_bytes"]):
            best = i
    return None if best is None else (best, attr["rows"][best]["name"])


def _row_figs(attr, rows, key) -> list[dict | None]:
    return [_fig(0, f"attribution.rows[{attr['rows'].index(r)}].{key}", r[key]) for r in rows] \
        + [None] * (TOP - len(rows))


def _class_figs(doc, classes, key) -> list[dict | None]:
    return [_fig(0, f"classes[{doc['classes'].index(cl)}].{key}", cl[key]) for cl in classes] \
        + [None] * (TOP - len(classes))


def _literal(name: str) -> str:
    """A site name as literal text of a claim's template (claim_text fills it with
    str.format): Go type names carry braces, e.g. a closure's `struct { F uintptr; X0 chan
    struct {} }`, which str.format would take for fields (#18: a traceback on a Go trace)."""
    return name.replace("{", "{{").replace("}", "}}")


def _show(fig) -> str:
    v = fig["value"]
    p = fig["path"]
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return f"{v:.0%}"
    if any(s in p for s in ("bytes", "peak_held", "live_at_peak_held", "free_pages",
                            "free_slots", "tail", "rounding", "live_requested")):
        return iec_bytes(v)
    return f"{v:,}"


def claim_text(claim: dict) -> str:
    return claim["text"].format(*[_show(f) if f else "" for f in claim["figures"]])


def suggestion_text(s: dict) -> str:
    if s["peak_held_change"] is None:
        return f"{s['name']}: peak held {iec_bytes(s['peak_held'])}, {s['cycles']} GC cycles."
    verb = {-1: "cut", 0: "change", 1: "raise"}[(s["peak_held_change"] > 0)
                                               - (s["peak_held_change"] < 0)]
    rng = s.get("cycles_range")
    within = (f"; {rng[0]['value']}-{rng[1]['value']} as deaths move within what the trace "
              "admits" if rng else "")
    cost = (f"{s['cycles'] / s['cycles_base']:.2f}x the GC cycles ({s['cycles']} vs "
            f"{s['cycles_base']}{within})" if s["cycles_base"]
            else f"{s['cycles']} GC cycles{' (' + within[2:] + ')' if rng else ''}")
    site = ""
    if s.get("site"):
        site = (f"; {s['site']['name']} would hold {iec_bytes(s['site']['held']['value'])} of "
                f"spans at the end (was {iec_bytes(s['site']['held_base']['value'])})")
    return (f"{s['name']} would {verb} peak held by {abs(s['peak_held_change']):.1%} "
            f"(to {iec_bytes(s['peak_held'])}) at {cost}{site}.")


def site_text(entry: dict, runs: list[dict]) -> str:
    """One site through the runs: held at the end, held and live at the peak, per run."""
    def one(fig):
        return iec_bytes(fig["value"]) if fig else "-"

    parts = [f"{runs[k]['name']} {one(h)} held ({one(ph)} at peak, {one(p)} live then)"
             for k, (h, ph, p) in enumerate(zip(entry["held_bytes"], entry["peak_held_bytes"],
                                                entry["peak_live_bytes"], strict=True))]
    return f"{entry['name']}: " + "; ".join(parts) + "."


def lines(doc: dict) -> list[str]:
    """The account as plain lines: claims, the replayed what-ifs, the top sites through
    them."""
    return ([f"{cl['pattern']}: {claim_text(cl)}" for cl in doc["claims"]]
            + [f"what-if, replayed: {suggestion_text(s)}" for s in doc["suggestions"]]
            + [f"by site, each run: {site_text(e, doc['runs'])}"
               for e in doc.get("by_site", [])])


def render(doc: dict, console) -> None:
    console.print(f"[bold]Where held memory goes[/bold] ({doc['trace']}; figures from the "
                  "replay's JSON report, `--json` lists them)")
    for cl in doc["claims"]:
        console.print(f"- [bold]{cl['pattern']}[/bold]: {claim_text(cl)}")
    if doc["suggestions"]:
        console.print("[bold]Replayed what-ifs[/bold] (same trace, one knob changed):")
        for s in doc["suggestions"]:
            console.print(f"- {suggestion_text(s)}")
    if doc.get("by_site"):
        console.print("[bold]The sites holding most memory, in each run[/bold] (held: span "
                      "bytes at the end, and at the peak of held memory):")
        for e in doc["by_site"]:
            console.print(f"- {site_text(e, doc['runs'])}")
