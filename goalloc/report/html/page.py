"""The HTML report: one self-contained file (inline CSS, inline SVG, a few lines of inline
script, a Content-Security-Policy that forbids every fetch), deterministic for given runs.

Layout: the knobs, the traces' provenance and the caveats at the top; then, per trace with
several configurations, the what-if overlay, a summary table and small multiples; then each
run: heap timeline, size classes, GC (cycle table, pause distribution, MMU), heap lock,
fidelity. Each run's JSON report (exactly `goalloc replay --json`'s text) is embedded
gzip-compressed (base64) with the picture data; the page's "JSON report" link and
`goallocReport(i)` give it back.
"""

from __future__ import annotations

import base64
import gzip
import json
from html import escape

from goalloc.report.html import figures as F
from goalloc.report.knobs import format_gogc, format_memlimit
from goalloc.report.units import count, duration_ns, iec_bytes

SCHEMA = "goalloc-html/1"
CYCLE_ROWS = 60  # cycle table: the first and last CYCLE_ROWS rows when longer
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;
max-width:1000px;padding:12px 20px 40px;color:#222}
h1{font-size:22px;margin:8px 0 0}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ccc}
h3{font-size:15px;margin:18px 0 4px}.sub{color:#555;margin:0 0 10px}
table{border-collapse:collapse;font-size:12.5px;margin:4px 0}
td,th{padding:1px 8px;text-align:right;border-bottom:1px solid #eee;white-space:nowrap}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
table.kv td{text-align:left;white-space:normal}.mono{font-family:ui-monospace,monospace;font-size:12px}
ul.caveats li{margin:2px 0}.note{color:#555;font-size:12.5px}
.grid{display:flex;flex-wrap:wrap;gap:6px}.pair{display:flex;gap:12px;flex-wrap:wrap}
.scroll{max-height:420px;overflow:auto}svg.chart{display:block;margin:2px 0}
details>summary{cursor:pointer}details>summary h2{display:inline}
.bad{color:#b00}.ok{color:#070}.wide{overflow-x:auto}table.knobs td{white-space:normal}
"""

# a few lines: decode an embedded JSON report (gzip, base64) with the browser's own
# DecompressionStream, and offer it as a download; nothing else runs
SCRIPT = """
const goallocData = JSON.parse(document.getElementById('goalloc-data').textContent);
async function goallocReport(i) {
  const bytes = Uint8Array.from(atob(goallocData.runs[i].report_gzip_base64), c => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return await new Response(stream).text();
}
for (const link of document.querySelectorAll('a.json')) {
  link.addEventListener('click', async (ev) => {
    ev.preventDefault();
    const text = await goallocReport(Number(link.dataset.run));
    const url = URL.createObjectURL(new Blob([text], {type: 'application/json'}));
    const a = document.createElement('a');
    a.href = url; a.download = link.dataset.name; a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
}
"""


def e(v) -> str:
    return escape(str(v), quote=True)


# -- labels ------------------------------------------------------------------------------------


def knob_values(doc: dict) -> dict[str, str]:
    c = doc["config"]
    return {"trace": doc["trace"]["path"], "Go": c["go_version"], "classes": c["table"],
            "GOGC": format_gogc(c["gogc"]), "GOMEMLIMIT": format_memlimit(c["gomemlimit"]),
            "GOMAXPROCS": str(c["gomaxprocs"]["modelled"]), "GC mode": c["gc_mode"]}


def run_labels(docs: list[dict]) -> list[str]:
    """Each run named by the knobs that differ between the runs (all knobs for one run)."""
    vals = [knob_values(d) for d in docs]
    keys = [k for k in vals[0] if len({v[k] for v in vals}) > 1] if len(docs) > 1 else []
    keys = keys or [k for k in vals[0] if k != "trace"]
    return [" ".join(f"{k}={v[k]}" if k != "trace" else v[k] for k in keys) for v in vals]


# -- caveats -----------------------------------------------------------------------------------


def caveats(doc: dict, series: dict, label: str = "") -> list[str]:
    """What the figures of one run cannot say, in words (docs/model.md has the details);
    run-specific ones name the run (`label`) when there are several."""
    who = f"{label}: " if label else ""
    c = doc["config"]
    out = [f"Every figure is the model's: a replay of the trace through goalloc's model of the "
           f"Go {c['go_version']} runtime (docs/model.md), not a measurement of a process."]
    if series["x"] == "event":
        out.append("The trace has no clock (its timestamps do not advance): timelines are "
                   "drawn against the event index; the heap-lock timeline and the MMU curve "
                   "need a clock and are left out.")
    if c["sizes"] == "slot":
        out.append("The trace records slot sizes, not requested sizes: rounding waste is "
                   "unknown (counted as live).")
    if c["free_semantics"] == "sweep" and c["gc_mode"] == "pacer":
        out.append("Frees are recorded when the runtime swept the object: its death is known "
                   "only to within a GC cycle, so the model's cycles can differ from the "
                   "recorded ones (docs/model.md, look-ahead deaths).")
    p = doc.get("pauses")
    if p:
        out.append(f"GC pauses of the cycles are {p['source']}"
                   + (" (fixed + per-P model, docs/concurrency.md)" if p["source"] == "modelled"
                      else "") + "; MMU counts stop-the-world pauses only (assists and mark "
                   "workers are not modelled).")
    if doc.get("locks"):
        out.append("Heap-lock acquisition counts are exact for the model; waits come from a "
                   "FIFO lock with estimated hold times (an order-of-magnitude estimate).")
    from goalloc.report.html.data import MAX_POINTS

    out.append(f"Timelines show at most {MAX_POINTS:,} points per run (each bucket's lowest "
               "and highest total kept, so peaks survive); the JSON report has the exact end "
               "and peak figures.")
    f = doc.get("fidelity")
    if f is not None and not f.get("ok", True):
        missed = [k for k, t in f.get("targets", {}).items() if not t.get("ok")]
        out.append(f"{who}fidelity targets missed: " + ", ".join(missed) + ".")
    for cv in doc.get("caveats") or []:  # the JSON report's own, where it has them
        text = cv if isinstance(cv, str) else str(cv.get("text") or cv.get("message") or cv)
        out.append(who + text)
    return out


# -- tables ------------------------------------------------------------------------------------


def table(head: list[str], rows: list[list], cls: str = "", attrs: list[str] | None = None) -> str:
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    body = []
    for i, r in enumerate(rows):
        extra = attrs[i] if attrs else ""
        body.append(f"<tr{extra}>" + "".join(f"<td>{v}</td>" for v in r) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def knobs_table(docs: list[dict], labels: list[str]) -> str:
    head = ["run", "trace", "Go", "classes", "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GC mode",
            "events"]
    rows = []
    for i, (d, label) in enumerate(zip(docs, labels, strict=True)):
        k = knob_values(d)
        src = d["config"].get("sources", {})
        rows.append([f'<a href="#run-{i}">{e(label)}</a>', e(k["trace"]),
                     e(k["Go"]) + _src(src.get("go_version")), e(k["classes"]),
                     e(k["GOGC"]) + _src(src.get("gogc")),
                     e(k["GOMEMLIMIT"]) + _src(src.get("gomemlimit")),
                     e(k["GOMAXPROCS"]) + _src(src.get("gomaxprocs")), e(k["GC mode"]),
                     count(d["trace"]["events"])])
    return table(head, rows, "knobs")


def _src(s) -> str:
    return f' <span class="note">({e(s)})</span>' if s else ""


def provenance(docs: list[dict]) -> str:
    seen = {}
    for d in docs:
        seen.setdefault(d["trace"]["path"], d["trace"])
    rows = []
    for path, tr in seen.items():
        h = tr.get("header", {})
        src = h.get("source") or {}
        what = [f"{count(tr['events'])} events", f"sizes {h.get('sizes')}",
                f"frees {h.get('frees')}", f"GOMAXPROCS {h.get('gomaxprocs')}",
                f"producer {h.get('producer')}"]
        if src.get("recorder"):
            what.append(f"recorder {src['recorder']}")
        if src.get("go_version"):
            what.append(f"recorded with Go {src['go_version']}")
        if tr.get("format"):
            what.append(f"imported from a {tr['format']} file")
        rows.append([e(path), f'<span class="mono">{e(tr["sha256"])}</span>',
                     e(", ".join(str(w) for w in what))])
    return table(["trace", "sha256", "recorded"], rows, "kv")


def cycle_table(doc: dict) -> str:
    cycles = doc["cycles"]
    if not cycles:
        return '<p class="note">no GC cycle</p>'
    pauses = {p["n"]: p for p in (doc.get("pauses") or {}).get("cycles", [])}
    shown = cycles
    if len(cycles) > 2 * CYCLE_ROWS:
        shown = cycles[:CYCLE_ROWS] + [None] + cycles[-CYCLE_ROWS:]
    head = ["gc", "@", "kind", "heap at trigger", "trigger", "goal", "marked", "heap at end",
            "sweep term", "mark term"]
    rows, attrs = [], []
    for c in shown:
        if c is None:
            rows.append([f"… {len(cycles) - 2 * CYCLE_ROWS:,} more (in the JSON report)"]
                        + [""] * (len(head) - 1))
            attrs.append(' class="gap"')
            continue
        p = pauses.get(c["n"], {})
        rows.append([str(c["n"]), duration_ns(c["start_ts"]), e(c.get("kind", "")),
                     iec_bytes(c["heap_at_trigger"]),
                     "-" if c["trigger"] is None else iec_bytes(c["trigger"]),
                     iec_bytes(c["goal"]) + (" (limit)" if c["limit_bound"] else ""),
                     iec_bytes(c["marked"]),
                     "marking" if c["heap_at_end"] is None else iec_bytes(c["heap_at_end"]),
                     _pause(p, "sweep_termination"), _pause(p, "mark_termination")])
        attrs.append(f' class="cycle-row" data-n="{c["n"]}" data-goal="{c["goal"]}" '
                     f'data-marked="{c["marked"]}"')
    return ('<div class="scroll">' + table(head, rows, "cycles", attrs) + "</div>")


def _pause(p: dict, key: str) -> str:
    v = p.get(f"{key}_ns")
    if v is None:
        return "-"
    return f"{duration_ns(v)} <span class=\"note\">{e(p.get(f'{key}_source', ''))}</span>"


def lock_table(doc: dict) -> str:
    lk = (doc.get("locks") or {}).get("mheap")
    if not lk:
        return ""
    c = lk["contention"]
    rows = []
    for op, acq in lk["by_op"].items():
        if acq:
            s = c["ops"][op]
            rows.append([e(op), count(acq), duration_ns(s["wait_ns"]),
                         "-" if s["contended_share"] is None else f"{100 * s['contended_share']:.1f}%"])
    rows.append(["<b>total</b>", count(lk["acquisitions"]), duration_ns(c["total"]["wait_ns"]),
                 "-" if c["total"]["contended_share"] is None
                 else f"{100 * c['total']['contended_share']:.1f}%"])
    return table(["op", "acquisitions (exact)", "wait (modelled)", "contended"], rows, "locks")


def fidelity_table(doc: dict) -> str:
    f = doc.get("fidelity")
    if not f:
        return ""
    rows = []
    for name, t in f.get("targets", {}).items():
        v, lim = t.get("value"), t.get("limit")
        rows.append([e(name), _target(v), _target(lim),
                     '<span class="ok">ok</span>' if t.get("ok") else '<span class="bad">missed</span>'])
    return table(["target", "value", "limit", ""], rows, "fidelity")


def _target(x) -> str:
    """A fidelity target's value or limit: a ratio as a percentage, a count as it is."""
    if x is None:
        return "-"
    return f"{100 * x:.2f}%" if isinstance(x, float) else str(x)


def whatif_table(runs: list[dict], labels: list[str]) -> str:
    head = ["run", "peak held", "held at end", "GC cycles", "STW total", "MMU 10 ms",
            "heap-lock wait"]
    rows, attrs = [], []
    for r, label in zip(runs, labels, strict=True):
        m = {x["name"]: x["value"] for x in r["doc"]["metrics"]}
        peak = r["doc"]["counters"]["peak_held"]
        end = r["doc"]["memory"]["end"]
        held_end = end["objects"] + end["unused"] + end["free"]
        mmu = m.get("/goalloc/gc/mmu/10ms:ratio")
        wait = m.get("/goalloc/lock/mheap/wait:seconds")
        rows.append([f'<a href="#run-{r["index"]}">{e(label)}</a>', iec_bytes(peak),
                     iec_bytes(held_end), count(m.get("/gc/cycles/total:gc-cycles", 0)),
                     "-" if m.get("/goalloc/gc/pauses/total:seconds") is None
                     else duration_ns(m["/goalloc/gc/pauses/total:seconds"] * 1e9),
                     "-" if mmu is None else f"{100 * mmu:.1f}%",
                     "-" if wait is None else duration_ns(wait * 1e9)])
        attrs.append(f' class="whatif-row" data-run="{r["index"]}" data-peak-held="{peak}"')
    return table(head, rows, "whatif", attrs)


# -- the page ----------------------------------------------------------------------------------


def attribution_table(doc: dict) -> str:
    """The sites holding the most memory at the end (#17; report/attribution.py's rows)."""
    from goalloc.report.attribution import TOP, top_rows

    a = doc["attribution"]
    peak = a.get("peak_consistent")
    spans = a.get("peak_spans_consistent")  # --peak-spans (goalloc explain has them)
    head = ["site", "held", "spans", "stranded spans", "stranded", "live", "objects",
            "rounding", "allocated", "live at peak"] + (
        ["held at peak", "stranded at peak"] if spans is not None else [])
    rows = [[e(r["name"]), iec_bytes(r["held_bytes"]), count(r["spans"]),
             count(r["stranded_spans"]), iec_bytes(r["stranded_bytes"]),
             iec_bytes(r["live_bytes"]), count(r["live_objects"]), iec_bytes(r["rounding_bytes"]),
             iec_bytes(r["alloc_bytes"]), iec_bytes(r["peak_live_bytes"]) if peak else "-"]
            + ([iec_bytes(r["peak_held_bytes"]) if spans else "-",
                iec_bytes(r["peak_stranded_bytes"]) if spans else "-"]
               if spans is not None else [])
            for r in top_rows(a, TOP)]
    note = (f'<p class="note">{min(TOP, len(a["rows"]))} of {len(a["rows"])} sites (the JSON '
            "report has all). held: in-use spans whose live slots are mostly the site's; "
            "stranded: spans whose live slots are all the site's and fill at most "
            f'{a["stranded_fill"]:.0%} of them.</p>')
    return table(head, rows, "attribution") + note


def explain_list(lines: list[str]) -> str:
    """`goalloc explain`'s text (#17): claims, then the what-ifs it replayed."""
    return '<ul class="explain">' + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>"


def embed(text: str) -> str:
    """A JSON report's text, gzip (no timestamp: deterministic) then base64."""
    return base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=0)).decode()


def run_section(i: int, r: dict, label: str) -> str:
    doc, s = r["doc"], r["series"]
    rid = f"run{i}"
    name = f"goalloc-report-{i}.json"
    out = [f'<section class="run" id="run-{i}"><details open><summary><h2>{e(label)}</h2>'
           f'</summary><p class="note">{e(doc["trace"]["path"])} · '
           f'<a class="json" href="#" data-run="{i}" data-name="{e(name)}">JSON report</a></p>']
    out.append("<h3>Heap timeline</h3>")
    out.append(F.heap_timeline(doc, s, id=f"{rid}-heap"))
    out.append("<h3>Size classes</h3>")
    out.append(F.class_waste(doc, id=f"{rid}-classes"))
    out.append(F.util_hists(doc, id=f"{rid}-util"))
    out.append("<h3>GC</h3>")
    out.append(cycle_table(doc))
    gc = [x for x in (F.pause_hist(doc, id=f"{rid}-pauses"),
                      F.mmu_curve(doc, s, id=f"{rid}-mmu")) if x]
    if gc:
        out.append('<div class="pair">' + "".join(gc) + "</div>")
    if doc.get("locks"):
        out.append("<h3>Heap lock</h3>")
        out.append(lock_table(doc))
        for what in ("acquisitions", "wait_ns"):
            fig = F.lock_timeline(doc, s, id=f"{rid}-lock-{what.split('_')[0]}", what=what)
            if fig:
                out.append(fig)
    if doc.get("attribution"):
        out.append("<h3>Where held memory goes, by site</h3>")
        out.append(attribution_table(doc))
    if r.get("explain"):
        out.append("<h3>Explanation</h3>")
        out.append(explain_list(r["explain"]))
    fid = F.fidelity(doc, id=f"{rid}-fidelity")
    if fid:
        out.append("<h3>Fidelity (recorded Go trace)</h3>")
        out.append(fidelity_table(doc))
        out.append(fid)
    out.append("</details></section>")
    return "".join(out)


def page(runs: list[dict]) -> str:
    """The HTML text for runs [{"json": the JSON report's text, "series": picture data}]."""
    for i, r in enumerate(runs):
        r.setdefault("doc", json.loads(r["json"]))
        r["index"] = i
    docs = [r["doc"] for r in runs]
    labels = run_labels(docs)
    traces = list(dict.fromkeys(d["trace"]["path"] for d in docs))
    title = "goalloc report: " + ", ".join(traces)
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
             "<header><h1>goalloc report</h1>",
             '<p class="sub">Modelled Go runtime heap: every figure is the model\'s.</p>',
             "<h3>Knobs</h3>", '<div class="wide">', knobs_table(docs, labels), "</div>",
             "<h3>Traces</h3>", '<div class="wide">', provenance(docs), "</div>", '<h3 id="caveats">Caveats</h3>']
    seen = []
    for r, label in zip(runs, labels, strict=True):
        for cv in caveats(r["doc"], r["series"], label if len(runs) > 1 else ""):
            if cv not in seen:
                seen.append(cv)
    parts.append('<ul class="caveats">' + "".join(f"<li>{e(c)}</li>" for c in seen) + "</ul>")
    parts.append("</header>")
    for t, trace in enumerate(traces):
        group = [r for r in runs if r["doc"]["trace"]["path"] == trace]
        if len(group) < 2:
            continue
        glabels = run_labels([r["doc"] for r in group])
        parts.append(f'<section class="whatif" id="whatif-{t}"><h2>What-if: {e(trace)}</h2>')
        parts.append(F.overlay(group, id=f"whatif{t}-overlay", labels=glabels))
        parts.append(whatif_table(group, glabels))
        parts.append("<h3>Small multiples</h3><div class=\"grid\">")
        parts += F.small_multiples(group, id_prefix=f"whatif{t}-multiple", labels=glabels)
        parts.append("</div></section>")
    if len(traces) > 1:  # a grid over traces: every run small, each on its own scale
        parts.append('<section class="multiples" id="grid"><h2>Grid: every run</h2>'
                     '<div class="grid">')
        parts += F.small_multiples(runs, id_prefix="grid-multiple", labels=labels,
                                   shared=False)
        parts.append("</div></section>")
    for i, (r, label) in enumerate(zip(runs, labels, strict=True)):
        parts.append(run_section(i, r, label))
    data = {"schema": SCHEMA,
            "runs": [{"label": label, "report_gzip_base64": embed(r["json"]),
                      "series": r["series"]} for r, label in zip(runs, labels, strict=True)]}
    blob = json.dumps(data, separators=(",", ":"), sort_keys=True).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="goalloc-data">{blob}</script>')
    parts.append(f"<script>{SCRIPT}</script></body></html>\n")
    return "".join(parts)


def embedded_reports(html: str) -> list[str]:
    """The JSON reports embedded in a page written by `page` (for tests and tools)."""
    start = html.index('<script type="application/json" id="goalloc-data">')
    start = html.index(">", start) + 1
    end = html.index("</script>", start)
    data = json.loads(html[start:end].replace("<\\/", "</"))
    return [gzip.decompress(base64.b64decode(r["report_gzip_base64"])).decode()
            for r in data["runs"]]
