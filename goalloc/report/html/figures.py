"""The report's figures, each an SVG string drawn from one replay's JSON report (docs/json.md)
and its picture data (goalloc.report.html.data), or from several runs of one trace:

- heap_timeline: Go's memory classes stacked over time (released on top), the heap goal, the
  live requested bytes, GC cycles as bands coloured by what started them, the cycles' STW
  pauses as ticks, and with --validate on a trace with runtime/metrics samples the runtime's
  own heap (the part not released, and its total) as dashed lines;
- overlay / small_multiples: several configurations of one trace on one timeline, and one
  small timeline per run on a shared scale;
- class_waste / util_hists: per size class what the held bytes hold (live, rounding, dead,
  free slots, tail), sorted by waste; span utilisation histograms;
- pause_hist / mmu_curve: pause distributions (recorded and the cycles') and MMU;
- lock_timeline: heap-lock acquisitions and modelled wait per operation over time;
- fidelity: model against recorded in-use heap at every mark start.

Marks too dense for a pixel are merged (cycles, pauses), and each merged mark says how many it
stands for (data-n), so counts still add up to the JSON's.
"""

from __future__ import annotations

from html import escape

from goalloc.report.html.svg import (
    PALETTE,
    Chart,
    a,
    data_attrs,
    fmt_bytes,
    fmt_count,
    fmt_ns,
    fmt_pct,
    n,
    svg_root,
)
from goalloc.report.units import duration_ns, iec_bytes

WIDTH = 960
MEM_CLASSES = (("objects", "#4e79a7"), ("unused", "#f28e2b"), ("free", "#76b7b2"),
               ("released", "#d3cfc9"))
CYCLE_KINDS = {"heap": "#e15759", "periodic": "#b07aa1", "forced": "#edc948",
               "recorded": "#59a14f"}
WASTE_PARTS = (("live", "#4e79a7", "live requested"), ("rounding", "#f28e2b", "rounding"),
               ("dead", "#9c755f", "dead, unswept"), ("free_slots", "#76b7b2", "free slots"),
               ("tail", "#bab0ac", "span tail"))
OP_COLOURS = dict(zip(("pcache-refill", "alloc", "grow", "free", "reclaim", "scavenge",
                       "mspan-cache"), PALETTE, strict=False))
TOP_CLASSES = 24


# -- axes shared by the timelines ----------------------------------------------------------


class XAxis:
    """x of the timelines: trace time since the first sample (ns), or the event index."""

    def __init__(self, series: dict):
        tl = series["timeline"]
        self.kind = series["x"]
        self.t0 = tl["ts"][0] if tl["ts"] else 0
        col = tl["ts"] if self.kind == "ns" else tl["event"]
        self.xs = [v - self.t0 for v in col] if self.kind == "ns" else list(col)
        self.hi = max(self.xs[-1] if self.xs else 1, 1)
        self.fmt = fmt_ns if self.kind == "ns" else fmt_count
        self.label = ("time since the trace's first event" if self.kind == "ns"
                      else "events (the trace has no clock)")

    def of(self, ts, event):
        """x of a point given its timestamp and event index (None stays None)."""
        if self.kind == "ns":
            return None if ts is None else ts - self.t0
        return event


def stacked(series: dict) -> tuple[list[str], list[list[int]]]:
    """Cumulative memory-class tops (objects, +unused, +free, +released) per timeline row."""
    tl = series["timeline"]
    tops, acc = [], [0] * len(tl["ts"])
    for name, _ in MEM_CLASSES:
        acc = [p + v for p, v in zip(acc, tl[name], strict=True)]
        tops.append(acc)
    return [name for name, _ in MEM_CLASSES], tops


def recorded_heap(doc: dict, x: XAxis) -> tuple[list, list, list] | None:
    """The runtime's heap at the metric samples the trace recorded (fidelity's
    memory_classes.recorded_series): xs, held (objects + unused + free) and total; None when
    the report has none or the timeline has no clock."""
    mc = (doc.get("fidelity") or {}).get("memory_classes") or {}
    rs = mc.get("recorded_series")
    if not rs or not rs["ts"] or x.kind != "ns":
        return None
    return [t - x.t0 for t in rs["ts"]], rs["held"], rs["total"]


def goal_steps(doc: dict, x: XAxis) -> tuple[list, list]:
    """The heap goal as a step function: cycle k's goal from the end of cycle k-1 (when the
    pacer set it) to the end of cycle k; the final goal after the last end."""
    xs, ys = [], []
    prev = 0
    for c in doc["cycles"]:
        xs.append(prev)
        ys.append(c["goal"])
        end = x.of(c["end_ts"], c["end_event"])
        if end is None:
            prev = None
            break
        prev = end
    if prev is not None and doc["counters"]["heap_goal"] is not None:
        xs.append(prev)
        ys.append(doc["counters"]["heap_goal"])
    if xs:
        xs.append(x.hi)
        ys.append(ys[-1])
    return xs, ys


def merged_spans(items, sx, min_px: float = 1.0):
    """Merge (x0, x1, key, payload) items, in x order, whose pixels touch and whose keys are
    equal: [(x0, x1, key, [payloads])]."""
    out = []
    for x0, x1, key, payload in items:
        if out and out[-1][2] == key and sx(x0) - sx(out[-1][1]) < min_px:
            last = out[-1]
            out[-1] = (last[0], max(last[1], x1), key, last[3] + [payload])
        else:
            out.append((x0, x1, key, [payload]))
    return out


def cycle_bands(c: Chart, doc: dict, x: XAxis) -> None:
    items = []
    for cy in doc["cycles"]:
        x0 = x.of(cy["start_ts"], cy["start_event"])
        x1 = x.of(cy["end_ts"], cy["end_event"])
        items.append((x0, x.hi if x1 is None else x1, cy.get("kind", "heap"), cy))
    for x0, x1, kind, group in merged_spans(items, c.sx):
        first, last = group[0], group[-1]
        title = (f"GC {first['n']} ({kind}): goal {iec_bytes(first['goal'])}, marked "
                 f"{iec_bytes(first['marked'])}" if len(group) == 1
                 else f"GC {first['n']}-{last['n']} ({kind}, {len(group)} cycles)")
        c.band(x0, x1, fill=CYCLE_KINDS.get(kind, "#999"), cls="cycle", title=title,
               data=data_attrs(n=len(group), first=first["n"], kind=kind))


def ticks(c: Chart, items: list[tuple[float, int]], *, colour: str, cls: str, what: str,
          row: int = 0) -> None:
    """(x, duration ns) pauses as ticks under the plot area's bottom edge (`row` 1: the row
    above), merged per pixel: each tick says how many pauses it stands for (data-n)."""
    spans = [(x0, x0, cls, d) for x0, d in sorted(items, key=lambda t: t[0]) if x0 is not None]
    base = c.mt + c.ph - 10 * row
    for x0, _x1, _k, durs in merged_spans(spans, c.sx):
        px = n(c.sx(x0))
        title = (f"{what} {duration_ns(durs[0])}" if len(durs) == 1
                 else f"{len(durs)} {what} pauses, longest {duration_ns(max(durs))}")
        c.add(f'<line class="{cls}" x1="{px}" x2="{px}" y1="{n(base - 9)}" y2="{base}" '
              f'stroke="{colour}" stroke-width="1.2"{data_attrs(n=len(durs), max_ns=max(durs))}>'
              f"<title>{escape(title)}</title></line>")


def cycle_pause_items(doc: dict, x: XAxis) -> list[tuple[float, int]]:
    """The cycles' STW pauses: sweep termination at the cycle's start, mark termination at its
    end (where goalloc.report.pauses places them)."""
    p = doc.get("pauses")
    if not p:
        return []
    by_n = {cy["n"]: cy for cy in doc["cycles"]}
    items = []
    for pc in p["cycles"]:
        cy = by_n[pc["n"]]
        items.append((x.of(cy["start_ts"], cy["start_event"]), pc["sweep_termination_ns"]))
        if pc["mark_termination_ns"] is not None:
            items.append((x.of(cy["end_ts"], cy["end_event"]), pc["mark_termination_ns"]))
    return items


def heap_timeline(doc: dict, series: dict, *, id: str, width: int = WIDTH,
                  height: int = 300, ymax: float | None = None, compact: bool = False) -> str:
    x = XAxis(series)
    names, tops = stacked(series)
    gx, gy = goal_steps(doc, x)
    rec = recorded_heap(doc, x)
    top = max([max(tops[-1], default=0)] + [v for v in gy if v is not None]
              + (rec[2] if rec is not None else [])) or 1
    c = Chart(width=width, height=height, x=(0, x.hi), y=(0, ymax or top * 1.05),
              xfmt=x.fmt, yfmt=fmt_bytes, yunit=1024, xlabel="" if compact else x.label,
              margin=(8, 10, 54 if not compact else 22, 64))
    cycle_bands(c, doc, x)
    low = [0] * len(x.xs)
    for (name, colour), high in zip(MEM_CLASSES, tops, strict=True):
        c.area(x.xs, low, high, fill=colour, cls=f"mem {name}",
               data=data_attrs(layer=name, last=high[-1] - low[-1] if high else None))
        low = high
    c.line(gx, gy, stroke="#000", dash="5 3", cls="goal", step=True,
           data=data_attrs(points=len(gx)))
    if rec is not None:  # the runtime's own readings (--validate with metric samples, #20)
        c.line(rec[0], rec[1], stroke="#7a5c00", width=1.5, dash="2 2", cls="recorded-held",
               data=data_attrs(points=len(rec[0])))
        c.line(rec[0], rec[2], stroke="#555", width=1, dash="2 2", cls="recorded-total",
               data=data_attrs(points=len(rec[0])))
    if not compact:
        c.line(x.xs, series["timeline"]["live_requested"], stroke="#222", width=1,
               cls="live", data=data_attrs(points=len(x.xs)))
        p = doc.get("pauses")
        if p:
            ticks(c, cycle_pause_items(doc, x), colour="#c00", cls="pause",
                  what=f"STW ({p['source']})")
        rec = series.get("recorded_pauses") or []
        if rec and x.kind == "ns":  # every recorded stop-the-world, GC or not
            ticks(c, [(t - x.t0, d) for t, d, _kind in rec], colour="#59a14f",
                  cls="recorded-pause", what="recorded STW", row=1)
        for name, colour in MEM_CLASSES:
            c.legend(name, colour)
        c.legend("heap goal", "#000", "dash")
        c.legend("live requested", "#222", "line")
        if rec is not None:
            c.legend("runtime: not released (released above, to its total)", "#7a5c00",
                     "dash")
        for kind in sorted({cy.get("kind", "heap") for cy in doc["cycles"]}):
            c.legend(f"GC {kind}", CYCLE_KINDS.get(kind, "#999"))
        if doc.get("pauses"):
            c.legend(f"STW pause ({doc['pauses']['source']})", "#c00", "line")
        if series.get("recorded_pauses") and x.kind == "ns":
            c.legend("recorded STW", "#59a14f", "line")
    return c.render(id=id, chart="heap-timeline",
                    title="Heap memory classes over time (modelled), heap goal, GC cycles")


# -- several runs of one trace -----------------------------------------------------------------


def overlay(runs: list[dict], *, id: str, labels: list[str]) -> str:
    """Held heap (objects + unused + free: in-use spans and free pages not released) and the
    heap goal of several configurations of one trace on one timeline."""
    xs_all = [XAxis(r["series"]) for r in runs]
    top = 1
    held = []
    for r in runs:
        tl = r["series"]["timeline"]
        h = [o + u + f for o, u, f in zip(tl["objects"], tl["unused"], tl["free"], strict=True)]
        held.append(h)
        top = max(top, max(h, default=0))
    hi = max(x.hi for x in xs_all)
    c = Chart(width=WIDTH, height=320, x=(0, hi), y=(0, top * 1.08), xfmt=xs_all[0].fmt,
              yfmt=fmt_bytes, yunit=1024, xlabel=xs_all[0].label, margin=(8, 10, 54, 64))
    for i, (r, x, h, label) in enumerate(zip(runs, xs_all, held, labels, strict=True)):
        colour = PALETTE[i % len(PALETTE)]
        gx, gy = goal_steps(r["doc"], x)
        c.line(gx, gy, stroke=colour, width=1, dash="5 3", cls="goal", step=True)
        c.line(x.xs, h, stroke=colour, width=1.8, cls="held",
               data=data_attrs(run=i, last=h[-1] if h else None, peak=max(h, default=0)))
        c.legend(label, colour, "line")
    c.legend("heap goal (dashed)", "#000", "dash")
    return c.render(id=id, chart="overlay",
                    title="What-if: held heap (in-use spans + free pages) per configuration")


def small_multiples(runs: list[dict], *, id_prefix: str, labels: list[str],
                    width: int = 310, height: int = 170, shared: bool = True) -> list[str]:
    """One small heap timeline per run, on a shared y scale when `shared` (runs of one
    trace), else each on its own."""
    top = 1
    for r in runs:
        _, tops = stacked(r["series"])
        top = max(top, max(tops[-1], default=0), *(cy["goal"] for cy in r["doc"]["cycles"]))
    return [heap_timeline(r["doc"], r["series"], id=f"{id_prefix}-{i}", width=width,
                          height=height, ymax=top * 1.05 if shared else None, compact=True)
            .replace("<title>Heap memory", f"<title>{a(label)}: heap memory", 1)
            for i, (r, label) in enumerate(zip(runs, labels, strict=True))]


# -- size classes ---------------------------------------------------------------------------


def class_name(cl: dict) -> str:
    if cl["size_class"] == 0:
        return "large"
    return f"{cl['label']} · {cl['slot_size']:,} B"


def waste_parts(cl: dict) -> dict[str, int]:
    """What a class's held bytes hold: live requested + rounding + dead unswept + free slots +
    tail = bytes_held (docs/json.md). Rounding is the rest (slot - requested of live objects;
    large spans: the span's bytes beyond the object)."""
    dead = (cl["allocated_slots"] - cl["live_slots"]) * cl["slot_size"]
    parts = {"live": cl["live_requested"], "dead": dead, "free_slots": cl["free_slots"],
             "tail": cl["tail"]}
    parts["rounding"] = max(0, cl["bytes_held"] - sum(parts.values()))
    return {k: parts[k] for k, _, _ in WASTE_PARTS}


def class_waste(doc: dict, *, id: str, top: int = TOP_CLASSES) -> str:
    classes = [cl for cl in doc["classes"] if cl["bytes_held"] > 0][:top]
    row = 18
    height = 30 + 40 + row * max(1, len(classes))
    hi = max([cl["bytes_held"] for cl in classes] + [1])
    c = Chart(width=WIDTH, height=height, x=(0, hi * 1.02), y=(0, max(1, len(classes))),
              xfmt=fmt_bytes, xunit=1024, yticks=False, margin=(8, 16, 50, 150))
    for i, cl in enumerate(classes):
        y1 = len(classes) - i
        y0 = y1 - 0.8
        acc = 0
        parts = waste_parts(cl)
        c.add(f'<g class="class-bar"{data_attrs(label=cl["label"], held=cl["bytes_held"], slot=cl["slot_size"], frag=cl["frag_bytes"])}>')
        c.add(f'<text x="{c.ml - 6}" y="{n((c.sy(y0) + c.sy(y1)) / 2)}" text-anchor="end" '
              f'dominant-baseline="middle">{a(class_name(cl))}</text>')
        for key, colour, label in WASTE_PARTS:
            v = parts[key]
            if v > 0:
                c.rect(acc, acc + v, y0, y1, fill=colour, cls=f"part {key}",
                       title=f"{class_name(cl)}: {label} {iec_bytes(v)}",
                       data=data_attrs(part=key, bytes=v))
            acc += v
        c.add("</g>")
    for _key, colour, label in WASTE_PARTS:
        if label != "rounding" or doc["config"]["sizes"] == "requested":
            c.legend(label, colour)
    more = len([cl for cl in doc["classes"] if cl["bytes_held"] > 0]) - len(classes)
    title = ("Size classes by waste (held − live requested), modelled at the end"
             + (f"; {more} more classes in the JSON" if more > 0 else ""))
    return c.render(id=id, chart="class-waste", title=title)


def util_hists(doc: dict, *, id: str, top: int = TOP_CLASSES, cols: int = 6) -> str:
    """Span utilisation (live slots / slots per span) histograms, one small panel per class."""
    classes = [cl for cl in doc["classes"] if cl.get("util_hist") and cl["spans"] > 0][:top]
    cw, ch = WIDTH // cols, 92
    rows = max(1, -(-len(classes) // cols))
    parts = []
    for i, cl in enumerate(classes):
        ox, oy = (i % cols) * cw + 8, (i // cols) * ch + 4
        hist = cl["util_hist"]
        hmax = max(hist) or 1
        bw = (cw - 24) / len(hist)
        parts.append(f'<g class="util-hist" transform="translate({ox},{oy})"'
                     f'{data_attrs(label=cl["label"], spans=sum(hist))}>')
        mean = cl.get("util_mean")
        parts.append(f'<text x="0" y="10">{a(class_name(cl))}</text>'
                     f'<text x="0" y="22" fill="#555">{cl["spans"]:,} spans, mean '
                     f'{"-" if mean is None else fmt_pct(mean)}</text>')
        base = ch - 22
        for j, h in enumerate(hist):
            bh = (base - 28) * h / hmax
            parts.append(f'<rect x="{n(j * bw)}" y="{n(base - bh)}" width="{n(bw - 1)}" '
                         f'height="{n(bh)}" fill="#4e79a7" data-spans="{h}"><title>'
                         f"{j * 10}-{j * 10 + 10}%: {h} spans</title></rect>")
        parts.append(f'<line x1="0" x2="{n(len(hist) * bw)}" y1="{base}" y2="{base}" '
                     f'stroke="#555"/><text x="0" y="{base + 11}" fill="#555">0%</text>'
                     f'<text x="{n(len(hist) * bw)}" y="{base + 11}" text-anchor="end" '
                     f'fill="#555">100%</text></g>')
    body = "".join(parts) or '<text x="8" y="20">no spans in use</text>'
    return svg_root(WIDTH, rows * ch + 8, body, id=id, chart="util-hists", marks=len(classes),
                    title="Span utilisation (live slots / slots per span) per size class, "
                          "at the end")


# -- GC --------------------------------------------------------------------------------------


def _hist_bars(c: Chart, hist: dict, colour: str, cls: str, half: int) -> None:
    edges = hist["buckets"]
    for i, count in enumerate(hist["counts"]):
        if not count:
            continue
        lo = edges[i] * 1e9
        hi = edges[i + 1] * 1e9 if edges[i + 1] is not None else lo * 1.25
        lo, hi = max(lo, 1.0), max(hi, 2.0)
        mid = (lo * hi) ** 0.5
        x0, x1 = (lo, mid) if half == 0 else (mid, hi)
        c.rect(x0, x1, 0, count, fill=colour, cls=cls,
               title=f"{duration_ns(lo)}-{duration_ns(hi)}: {count}",
               data=data_attrs(count=count, lo_s=edges[i]))


def pause_hist(doc: dict, *, id: str) -> str | None:
    """The runtime's pause histogram (/sched/pauses/total/gc:seconds buckets): the trace's
    recorded GC pauses and the cycles' pauses (recorded or modelled), with the pause model's
    values as lines."""
    p = doc.get("pauses")
    if not p:
        return None
    rec, cyc = p["recorded"]["gc_histogram"], p["gc"]["histogram"]
    edges = [e for h in (rec, cyc) for e in h["buckets"] if e is not None]
    if not edges:
        return None
    lo = max(min(edges) * 1e9, 1.0)
    hi = max(max(edges) * 1e9 * 1.3, lo * 10)
    top = max(rec["counts"] + cyc["counts"] + [1])
    m = p["model"]["ns"]
    procs = p["model"]["gomaxprocs"]
    model = {"sweep termination": m["sweep-term-fixed"] + m["per-p"] * procs,
             "mark termination": m["mark-term-fixed"] + m["per-p"] * procs}
    lo = min([lo] + [v * 0.8 for v in model.values() if v > 0])
    hi = max([hi] + [v * 1.25 for v in model.values()])
    c = Chart(width=WIDTH // 2 - 8, height=260, x=(lo, hi), y=(0, top * 1.1), xlog=True,
              xfmt=fmt_ns, xlabel="pause", ylabel="pauses", margin=(8, 12, 54, 48))
    _hist_bars(c, rec, "#59a14f", "recorded", 0)
    _hist_bars(c, cyc, "#e15759", "cycles", 1)
    for i, (label, v) in enumerate(model.items()):
        if v > 0:
            c.line([v, v], [0, top * 1.1], stroke="#000", width=1, dash="2 3" if i else "6 3",
                   cls="model", data=data_attrs(ns=v, kind=label))
    c.legend("recorded GC pauses", "#59a14f")
    c.legend(f"the cycles' ({p['source']})", "#e15759")
    c.legend("model", "#000", "dash")
    return c.render(id=id, chart="pause-hist", title="GC stop-the-world pause distribution")


def mmu_curve(doc: dict, series: dict, *, id: str) -> str | None:
    """MMU against window length (log x), as `go tool trace` draws it, STW pauses only; the
    JSON's four windows as dots."""
    mm = series.get("mmu")
    p = doc.get("pauses")
    if not mm or not p:
        return None
    ws = mm["windows_ns"]
    c = Chart(width=WIDTH // 2 - 8, height=260, x=(ws[0], ws[-1]), y=(0, 1), xlog=True,
              xfmt=fmt_ns, yfmt=fmt_pct, xlabel="window", ylabel="min mutator utilisation",
              margin=(8, 12, 54, 48))
    from goalloc.engine.pauses import WINDOWS_NS

    for key, colour, label in (("recorded", "#59a14f", "recorded GC pauses"),
                               ("cycles", "#e15759", "the cycles' pauses (modelled)")):
        if key in mm:
            c.line(ws, mm[key], stroke=colour, width=1.8, cls=f"mmu {key}")
            c.legend(label, colour, "line")
    for src, colour in (("gc", "#e15759"), ("recorded", "#59a14f")):
        table = p[src]["mmu"] if src == "gc" else p["recorded"]["mmu"]
        for w, v in (table or {}).items():
            if v is not None and ws[0] <= WINDOWS_NS[w] <= ws[-1]:
                c.dot(WINDOWS_NS[w], v, fill=colour, cls=f"mmu-point {src}",
                      title=f"{w}: {100 * v:.1f}% ({src})",
                      data=data_attrs(window=w, value=v, source=src))
    return c.render(id=id, chart="mmu", title="Minimum mutator utilisation (STW pauses only)")


# -- heap lock -------------------------------------------------------------------------------


def lock_timeline(doc: dict, series: dict, *, id: str, what: str) -> str | None:
    """Acquisitions (`what` "acquisitions") or modelled wait ("wait_ns") per op per time bin,
    stacked."""
    lk = series.get("locks")
    if not lk or not lk["ops"]:
        return None
    x = XAxis(series)
    nb = max(len(v[what]) for v in lk["ops"].values())
    acc = [0] * nb
    layers = []
    for op, v in lk["ops"].items():
        vals = v[what] + [0] * (nb - len(v[what]))
        new = [p + q for p, q in zip(acc, vals, strict=True)]
        layers.append((op, acc, new, sum(vals)))
        acc = new
    if not any(acc):
        return None  # nothing to draw (e.g. no modelled wait: the table says 0)
    top = max(acc)
    t0 = lk["t0"] - x.t0
    w = lk["bin_ns"]
    c = Chart(width=WIDTH, height=220, x=(0, max(x.hi, t0 + nb * w)), y=(0, top * 1.08),
              xfmt=fmt_ns, yfmt=fmt_ns if what == "wait_ns" else fmt_count,
              xlabel=x.label, ylabel=("modelled wait per bin" if what == "wait_ns"
                                      else f"acquisitions per {duration_ns(w)}"),
              margin=(8, 10, 54, 64))
    for op, low, high, total in layers:
        xs = [t0 + (i + k) * w for i in range(nb) for k in (0, 1)]  # each bin's two edges
        lows = [v for v in low for _ in (0, 1)]
        highs = [v for v in high for _ in (0, 1)]
        c.area(xs, lows, highs, fill=OP_COLOURS.get(op, "#999"), cls=f"lock {op}",
               data=data_attrs(op=op, total=total))
        c.legend(op, OP_COLOURS.get(op, "#999"))
    title = ("Heap lock: modelled wait per operation over time" if what == "wait_ns"
             else "Heap lock: acquisitions per operation over time (exact)")
    return c.render(id=id, chart=f"lock-{'wait' if what == 'wait_ns' else 'acquisitions'}",
                    title=title)


# -- fidelity --------------------------------------------------------------------------------


def fidelity(doc: dict, *, id: str) -> str | None:
    """Model against recorded in-use heap span bytes at every mark start."""
    f = doc.get("fidelity")
    if not f or not f.get("cycles"):
        return None
    rows = f["cycles"]
    vals = [v for r in rows for v in (r["recorded_inuse"], r["model_inuse"]) if v is not None]
    top = max(vals + [1])
    xs = [r["n"] for r in rows]
    c = Chart(width=WIDTH, height=260, x=(min(xs) - 0.5, max(xs) + 0.5), y=(0, top * 1.1),
              yfmt=fmt_bytes, yunit=1024, xlabel="GC cycle (mark start)",
              ylabel="in-use heap span bytes", margin=(8, 10, 54, 64))
    for key, colour, label in (("recorded_inuse", "#59a14f", "recorded"),
                               ("model_inuse", "#4e79a7", "model")):
        c.line(xs, [r[key] for r in rows], stroke=colour, width=1.5, cls=f"fid {key}")
        if len(rows) <= 400:
            for r in rows:
                if r[key] is not None:
                    err = r.get("inuse_error")
                    c.dot(r["n"], r[key], fill=colour, r=2.5, cls=f"fid-point {key}",
                          title=f"GC {r['n']}: {label} {iec_bytes(r[key])}"
                          + ("" if err is None else f" (error {100 * err:+.2f}%)"),
                          data=data_attrs(n=r["n"], bytes=r[key]))
        c.legend(label, colour, "line")
    return c.render(id=id, chart="fidelity",
                    title="Fidelity: in-use heap at every mark start, model vs recorded")
