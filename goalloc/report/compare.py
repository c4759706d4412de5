"""`goalloc compare`: two sets of replay results side by side, metric by metric, with gates.

Replays are deterministic, so a difference is exact: no samples, no p-values, no "~". A gate
(`--fail-on`) turns a difference into exit status 1 (docs/ci.md):

    GATE      := METRIC OP THRESHOLD
    METRIC    := a metric name (`/memory/classes/heap/unused:bytes`) or a glob (`*` matches
                 any run of characters, e.g. `/goalloc/sizeclass/*/frag:bytes`)
    OP        := `>` | `<` | `>=` | `<=`
    THRESHOLD := [+|-]NUMBER `%`           relative change (head - base) / |base| * 100
               | [+|-]NUMBER [SUFFIX]      absolute change head - base, in the metric's unit;
                                           SUFFIX B KiB MiB GiB TiB (bytes metrics) or
                                           ns us µs ms s (seconds metrics)

The gate is crossed when CHANGE OP THRESHOLD holds, e.g. `unused:bytes>+5%` when unused bytes
grew by more than 5%, `...<-2%` when they shrank by more than 2%. A threshold is always a
change from base to head, never a level. With base 0 the relative change is 0 (head 0) or
±inf. No numba, no numpy.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
from dataclasses import dataclass, field

from goalloc.errors import GoallocError
from goalloc.report import jsontext
from goalloc.report.grid import run_key

SCHEMA = "goalloc-compare/1"
PER_CLASS = "/goalloc/sizeclass/"

_BYTE_SUFFIX = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_SEC_SUFFIX = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
_GATE = re.compile(
    r"\s*(?P<metric>[^<>=\s]+)\s*(?P<op>>=|<=|>|<)\s*"
    r"(?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<suffix>%|[A-Za-zµ]+)?\s*")
_OPS = {">": lambda a, b: a > b, "<": lambda a, b: a < b,
        ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}


@dataclass
class Gate:
    text: str
    metric: str
    op: str
    number: float  # as written (percent for relative gates, before the suffix's scale)
    relative: bool
    suffix: str | None = None

    def threshold(self, unit: str) -> float:
        """The threshold in percent (relative) or in the metric's unit (absolute)."""
        if self.relative or not self.suffix:
            return self.number
        table = {"bytes": _BYTE_SUFFIX, "seconds": _SEC_SUFFIX}.get(unit, {})
        if self.suffix not in table:
            raise GoallocError(f"--fail-on {self.text!r}: suffix {self.suffix!r} does not fit "
                               f"the unit {unit!r} of the metric")
        return self.number * table[self.suffix]

    def shown(self) -> str:
        sign = "+" if self.number >= 0 else ""
        num = _plain_num(self.number)
        return f"{self.op}{sign}{num}{'%' if self.relative else (self.suffix or '')}"

    def matches(self, name: str) -> bool:
        if "*" in self.metric or "?" in self.metric or "[" in self.metric:
            return fnmatch.fnmatchcase(name, self.metric)
        return name == self.metric


def _plain_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def parse_gate(text: str) -> Gate:
    m = _GATE.fullmatch(text)
    if not m:
        raise GoallocError(
            f"--fail-on {text!r}: expected METRIC OP THRESHOLD, OP one of > < >= <=, THRESHOLD "
            "a relative change (+5%) or an absolute one in the metric's unit (+1048576, +1MiB)")
    suffix = m.group("suffix")
    if suffix and suffix != "%" and suffix not in _BYTE_SUFFIX and suffix not in _SEC_SUFFIX:
        raise GoallocError(f"--fail-on {text!r}: unknown suffix {suffix!r} (use %, B, KiB, MiB, "
                           "GiB, TiB, or ns, us, ms, s)")
    return Gate(text=text.strip(), metric=m.group("metric"), op=m.group("op"),
                number=float(m.group("num")), relative=suffix == "%",
                suffix=None if suffix == "%" else suffix)


# -- pairing runs ------------------------------------------------------------------------------


@dataclass
class Pair:
    key: dict  # the run's configuration (base side's), as grid.run_key
    differs: dict  # axis -> (base value, head value) where the two sides' configurations differ
    base: dict
    head: dict


def pair_runs(base: list[dict], head: list[dict], *, allow_different_traces: bool = False,
              check_traces: bool = True) -> tuple[list[Pair], list[dict], list[dict]]:
    """Match base runs to head runs by configuration. An axis that has one value on each side
    but not the same one (e.g. table go vs pow2) is what is being compared: it is left out of
    the match. Returns (pairs, base-only keys, head-only keys)."""
    bkeys = [run_key(d) for d in base]
    hkeys = [run_key(d) for d in head]
    axes = list(dict.fromkeys([k for key in bkeys + hkeys for k in key]))
    compared = []
    for axis in axes:
        bv = {k.get(axis) for k in bkeys}
        hv = {k.get(axis) for k in hkeys}
        if len(bv) == 1 and len(hv) == 1 and bv != hv:
            compared.append(axis)
    match = [a for a in axes if a not in compared]

    def mk(key):
        return tuple((a, key.get(a)) for a in match)

    hidx: dict = {}
    for i, k in enumerate(hkeys):
        if mk(k) in hidx:
            raise GoallocError("HEAD has two runs with the same configuration "
                               + _label(k))
        hidx[mk(k)] = i
    pairs, only_base, seen = [], [], set()
    for bdoc, bk in zip(base, bkeys, strict=True):
        j = hidx.get(mk(bk))
        if j is None:
            only_base.append(bk)
            continue
        if j in seen:
            raise GoallocError("BASE has two runs with the same configuration " + _label(bk))
        seen.add(j)
        hdoc = head[j]
        differs = {a: (bk.get(a), hkeys[j].get(a)) for a in axes if bk.get(a) != hkeys[j].get(a)}
        # same trace name, same knobs, other bytes: two recordings of one program (before and
        # after a code change), compared as such; anything else needs the user's say-so
        if check_traces and not allow_different_traces and differs:
            bs = str(bdoc.get("trace", {}).get("sha256"))
            hs = str(hdoc.get("trace", {}).get("sha256"))
            if bs != hs:
                raise GoallocError(f"BASE and HEAD replay different traces (sha256 {bs[:12]}…/"
                                   f"{hs[:12]}…); pass --allow-different-traces to compare anyway")
        pairs.append(Pair(bk, differs, bdoc, hdoc))
    only_head = [k for j, k in enumerate(hkeys) if j not in seen]
    if not pairs:
        raise GoallocError("BASE and HEAD have no runs with matching configurations "
                           f"(base: {', '.join(_label(k) for k in bkeys[:3])}; head: "
                           f"{', '.join(_label(k) for k in hkeys[:3])})")
    return pairs, only_base, only_head


# -- rows and gates ----------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    unit: str
    base: float | int | None
    head: float | int | None
    crossed: list[str] = field(default_factory=list)  # gate texts crossed on this row

    @property
    def delta(self):
        if self.base is None or self.head is None:
            return None
        return self.head - self.base

    @property
    def pct(self) -> float | None:
        """Relative change in percent (0 when both are 0, ±inf from a base of 0)."""
        d = self.delta
        if d is None:
            return None
        if self.base == 0:
            return 0.0 if d == 0 else math.copysign(math.inf, d)
        return 100.0 * d / abs(self.base)


@dataclass
class Crossing:
    gate: Gate
    pair: Pair
    row: Row
    change: float  # percent or absolute, as the gate measures it

    def message(self) -> str:
        where = "" if not self.pair.key else f" [{_label(self.pair.key)}]"
        if self.gate.relative:
            change = _fmt_pct(self.change)
        else:
            change = _fmt_delta(self.change, self.row.unit)
        return (f"gate crossed: {self.row.name} changed {change} "
                f"({_fmt_value(self.row.base, self.row.unit)} -> "
                f"{_fmt_value(self.row.head, self.row.unit)}), "
                f"{self.gate.shown()} fails (--fail-on '{self.gate.text}'){where}")


@dataclass
class Comparison:
    pairs: list[Pair]
    rows: list[list[Row]]  # per pair, per metric (sorted by name)
    gates: list[Gate]
    crossings: list[Crossing]
    only_base: list[dict]
    only_head: list[dict]

    @property
    def crossed(self) -> bool:
        return bool(self.crossings)


def _values(doc: dict) -> dict:
    # scalar metrics only: histogram objects (/sched/pauses/total/gc:seconds) have no delta
    return {m["name"]: m.get("value") for m in doc.get("metrics", [])
            if not isinstance(m.get("value"), dict)}


def _units(doc: dict) -> dict:
    return {m["name"]: m.get("unit", "") for m in doc.get("metrics", [])}


def valid_names(names) -> list[str]:
    """Metric names for an error message: per-class names collapsed to `<c>` patterns."""
    out = []
    for n in sorted(names):
        if n.startswith(PER_CLASS):
            rest = n[len(PER_CLASS):].split("/", 1)
            n = PER_CLASS + "<c>/" + (rest[1] if len(rest) > 1 else "")
        if n not in out:
            out.append(n)
    return out


def unknown_metric(name: str, names) -> str:
    """One line for a metric name that is not in the report: the closest names (up to 3)."""
    candidates = sorted(set(names) | set(valid_names(names)))
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not close:  # e.g. a wrong prefix: match on the last path segment
        tail = name.rsplit("/", 1)[-1]
        close = difflib.get_close_matches(tail, [n.rsplit("/", 1)[-1] for n in candidates],
                                          n=3, cutoff=0.6)
        close = [n for n in candidates if n.rsplit("/", 1)[-1] in close][:3]
    hint = ("closest: " + ", ".join(close)) if close else "no close name"
    return f"no metric {name!r}; {hint} (goalloc compare --all lists every name)"


def compare(base: list[dict], head: list[dict], gates: list[Gate] = (), *,
            allow_different_traces: bool = False, check_traces: bool = True) -> Comparison:
    """Pair the runs, line up every metric and evaluate the gates. GoallocError (exit 2) on a
    gate naming no metric, or one no run pair has a known value for on both sides."""
    pairs, only_base, only_head = pair_runs(base, head,
                                            allow_different_traces=allow_different_traces,
                                            check_traces=check_traces)
    names: set = set()
    for p in pairs:
        names |= set(_values(p.base)) | set(_values(p.head))
    for g in gates:
        if not any(g.matches(n) for n in names):
            raise GoallocError(f"--fail-on {g.text!r}: " + unknown_metric(g.metric, names))
    all_rows, crossings = [], []
    evaluated = {id(g): False for g in gates}
    for p in pairs:
        bv, hv = _values(p.base), _values(p.head)
        units = {**_units(p.head), **_units(p.base)}
        rows = []
        for name in sorted(set(bv) | set(hv)):
            row = Row(name, units.get(name, ""), bv.get(name), hv.get(name))
            for g in gates:
                if not g.matches(name) or row.delta is None:
                    continue
                evaluated[id(g)] = True
                change = row.pct if g.relative else row.delta
                if _OPS[g.op](change, g.threshold(row.unit)):
                    row.crossed.append(g.text)
                    crossings.append(Crossing(g, p, row, change))
            rows.append(row)
        all_rows.append(rows)
    for g in gates:
        if not evaluated[id(g)]:
            raise GoallocError(f"--fail-on {g.text!r}: {g.metric} has no value on both sides "
                               "of any compared run (null or missing), so the gate cannot be "
                               "evaluated")
    return Comparison(pairs, all_rows, list(gates), crossings, only_base, only_head)


# -- output ------------------------------------------------------------------------------------

DEFAULT_THRESHOLD = 1.0  # percent: smaller changes count as unchanged in the default view
# Groups of the default view, by name prefix (first match wins); the rest is "other".
GROUPS = (
    ("locks", ("/goalloc/lock/", "/sync/", "/goalloc/heap/span-allocs")),
    ("memory", ("/memory/", "/goalloc/memory/", "/goalloc/peak/memory/", "/goalloc/heap/")),
    ("fragmentation", ("/goalloc/frag/", "/goalloc/peak/frag/", PER_CLASS)),
    ("GC", ("/gc/", "/goalloc/gc/", "/sched/pauses/", "/goalloc/sweep/", "/goalloc/scavenge/")),
)
GROUP_ORDER = ("memory", "fragmentation", "GC", "locks", "other")
MAX_INT64 = (1 << 63) - 1
NO_GOAL = 1 << 62  # the engine's "no goal" (GOGC=off): never printed as a size


def group_of(name: str) -> str:
    for group, prefixes in GROUPS:
        if name.startswith(prefixes):
            return group
    return "other"


def _fmt_value(v, unit: str, name: str = "") -> str:
    from goalloc.report.units import duration_ns, iec_bytes

    if v is None:
        return "-"
    if name == "/gc/gomemlimit:bytes" and v >= MAX_INT64:
        return "off"
    if name == "/gc/gogc:percent":
        return "off" if v < 0 else f"{int(v)}%"
    if unit == "bytes":
        return "none" if v >= NO_GOAL else iec_bytes(v)
    if unit == "seconds":
        return duration_ns(v * 1e9)
    if unit == "ratio":
        return f"{v:.4f}"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.6g}"
    return f"{int(v):,}"


def _fmt_delta(d, unit: str, name: str = "") -> str:
    if d is None:
        return "-"
    s = _fmt_value(abs(d), unit, "" if name in ("/gc/gogc:percent",) else name)
    if name == "/gc/gogc:percent":
        s = f"{abs(int(d))}"
    return ("+" if d > 0 else "-" if d < 0 else "±") + s


def _fmt_pct(p) -> str:
    if p is None:
        return "-"
    if math.isinf(p):
        return "+inf%" if p > 0 else "-inf%"
    return f"{p:+.2f}%"


def changed(row: Row, threshold: float) -> bool:
    """Beyond `threshold` percent (from a base of 0, any change; a value on one side only)."""
    if row.crossed:
        return True
    if row.base is None or row.head is None:
        return (row.base is None) != (row.head is None)
    if row.delta == 0:
        return False
    return row.pct is None or abs(row.pct) >= threshold


def _mark(row: Row) -> str:
    return ("FAIL " + ", ".join(row.crossed)) if row.crossed else ""


def _label(key: dict) -> str:
    return "/".join(f"{k}={v}" for k, v in key.items())


def provenance(doc: dict) -> dict:
    """Where a replay's figures come from: the trace file and what recorded it."""
    tr = doc.get("trace", {})
    h = tr.get("header") or {}
    src = h.get("source") or {}
    rec = ", ".join(x for x in (
        f"Go {src['go_version']}" if src.get("go_version") else None,
        f"{h['gomaxprocs']} Ps" if h.get("gomaxprocs") else None,
        f"{tr['events']:,} events" if isinstance(tr.get("events"), int) else None) if x)
    return {"path": tr.get("path"), "sha256": tr.get("sha256"), "recorded": rec,
            "recorder": src.get("recorder") or h.get("producer"),
            "program": src.get("program") or src.get("file")}


def kind_of(pair: Pair) -> str:
    """What the pair compares: `recordings` (same knobs, the same trace name, different trace
    bytes: two recordings of one program, before and after a change), `traces` (different
    traces), `configurations` (one trace, different knobs) or `same` (nothing differs)."""
    bs, hs = (d.get("trace", {}).get("sha256") for d in (pair.base, pair.head))
    if bs != hs:
        return "traces" if pair.differs else "recordings"
    return "configurations" if pair.differs else "same"


def _provenance_rows(pair: Pair) -> list[tuple[str, str, str]]:
    b, h = provenance(pair.base), provenance(pair.head)
    rows = [("trace", str(b["path"]), str(h["path"])),
            ("sha256", str(b["sha256"])[:12],
             str(h["sha256"])[:12] + (" (same)" if b["sha256"] == h["sha256"] else ""))]
    for key in ("recorded", "recorder", "program"):
        if b[key] or h[key]:
            rows.append((key, b[key] or "-", h[key] or "-"))
    key = dict(pair.key)
    bk = {a: v for a, v in key.items() if a != "trace"}
    hk = dict(bk)
    for a, (bv, hv) in pair.differs.items():
        if a != "trace":
            bk[a], hk[a] = bv, hv
    rows.append(("config", " ".join(f"{a}={v}" for a, v in bk.items()),
                 " ".join(f"{a}={v}" for a, v in hk.items())))
    return rows


_KIND_TITLES = {
    "recordings": "before/after: two recordings of {trace}, same knobs",
    "traces": "two traces",
    "configurations": "one trace, two configurations",
    "same": "the same trace and configuration",
}


@dataclass
class View:
    """What the human formats show: per group, the metrics (and per metric the run rows) that
    changed beyond the threshold, and how many did not."""

    groups: list[tuple[str, list[tuple[str, list[tuple[str, Row]]]]]]
    unchanged: int
    hidden_per_class: int
    threshold: float
    show_all: bool


def view(cmp: Comparison, *, show_all: bool = False,
         threshold: float = DEFAULT_THRESHOLD) -> View:
    keys = [p.key for p in cmp.pairs]
    axes = list(dict.fromkeys(a for k in keys for a in k))
    vary = [a for a in axes if len({k.get(a) for k in keys}) > 1] or axes
    by_name: dict[str, list[tuple[str, Row]]] = {}
    for p, rows in zip(cmp.pairs, cmp.rows, strict=True):
        label = _label({a: p.key.get(a) for a in vary})
        for r in rows:
            by_name.setdefault(r.name, []).append((label, r))
    groups: dict[str, list] = {g: [] for g in GROUP_ORDER}
    unchanged = hidden = 0
    for name, runs in by_name.items():
        rows = [r for _, r in runs]
        if name.startswith(PER_CLASS) and not show_all and not any(r.crossed for r in rows):
            hidden += 1
            continue
        if show_all or any(changed(r, threshold) for r in rows):
            groups[group_of(name)].append((name, runs))
        else:
            unchanged += 1
    return View([(g, groups[g]) for g in GROUP_ORDER if groups[g]], unchanged, hidden,
                threshold, show_all)


def _summary_line(v: View) -> str:
    parts = []
    if not v.show_all:
        parts.append(f"{v.unchanged} metrics unchanged or within ±{_plain_num(v.threshold)}%")
        if v.hidden_per_class:
            parts.append(f"{v.hidden_per_class} per-size-class metrics not shown")
        parts.append("--all lists every metric")
    return "; ".join(parts)


def caveat_line(cmp: Comparison) -> str | None:
    """The replays' caveats (docs/json.md) by code and side, e.g. `estimated-sizes (base,
    head)`: their figures mean less than they seem in both columns."""
    sides: dict = {}
    for p in cmp.pairs:
        for side, doc in (("base", p.base), ("head", p.head)):
            for c in doc.get("caveats") or []:
                sides.setdefault(c.get("code"), set()).add(side)
    if not sides:
        return None
    return "caveats: " + ", ".join(f"{code} ({', '.join(sorted(s))})"
                                   for code, s in sides.items()) + " (goalloc replay explains)"


def _gate_lines(cmp: Comparison) -> list[str]:
    out = []
    for g in cmp.gates:
        n = sum(1 for c in cmp.crossings if c.gate is g)
        out.append(f"gate {g.text}: " + (f"CROSSED ({n} run{'s' if n > 1 else ''})"
                                         if n else "ok"))
    return out


def _title(cmp: Comparison) -> str:
    kinds = {kind_of(p) for p in cmp.pairs}
    if len(kinds) == 1:
        (k,) = kinds
        return _KIND_TITLES[k].format(trace=cmp.pairs[0].key.get("trace"))
    return "mixed pairs"


def text(cmp: Comparison, *, base_name: str = "BASE", head_name: str = "HEAD",
         show_all: bool = False, threshold: float = DEFAULT_THRESHOLD,
         width: int | None = None) -> str:
    """What changed, for a person: provenance of both sides, then per group (memory,
    fragmentation, GC, locks) the metrics that changed by at least `threshold` percent with
    units, then how many did not (`show_all`: every metric). Tables fit `width` columns
    (long metric names fold) and use more when there is more."""
    import io

    from rich.console import Console

    width = width or 80
    buf = io.StringIO()
    con = Console(file=buf, width=width, color_system=None, highlight=False,
                  emoji=False, soft_wrap=False)
    v = view(cmp, show_all=show_all, threshold=threshold)
    con.print(f"goalloc compare: {_title(cmp)} (exact: deterministic replays, one sample "
              "each; no p-values)")
    _print_sides(con, cmp, base_name, head_name)
    caveats = caveat_line(cmp)
    if caveats:
        con.print(caveats)
    _print_groups(con, cmp, v, width)
    if not v.groups:
        con.print(f"\nno metric changed by ±{_plain_num(threshold)}% or more")
    lines = [buf.getvalue().rstrip("\n"), ""] + _footer_lines(cmp, v, width)
    return "\n".join(line.rstrip() for line in "\n".join(lines).splitlines()) + "\n"


def _fitted_table(cols: list[str], rows: list[list[str]], width: int):
    """A table that fits `width`: without gate marks, no mark column; when the names
    would fold, the absolute change goes first (base, head and % tell it); then the
    first column (metric names, run labels) folds at `/`. Figures never wrap."""
    from rich import box
    from rich.table import Table

    keep = [i for i, c in enumerate(cols) if c or any(r[i] for r in rows)]

    def room_for(idx):
        # each further column: its widest cell, 2 spaces of padding and the divider
        return width - sum(max(len(cols[i]), *(len(r[i]) for r in rows)) + 3
                           for i in idx if i)

    longest = max(len(r[0]) for r in [cols] + rows)
    if room_for(keep) < longest and 3 in keep:
        keep.remove(3)  # "change"
    cols = [cols[i] for i in keep]
    rows = [[r[i] for i in keep] for r in rows]
    room = max(20, room_for(range(len(cols))))
    t = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
    for i, c in enumerate(cols):
        t.add_column(fold(c, room) if i == 0 else c,
                     justify="left" if i == 0 or c == "" else "right", no_wrap=True)
    for r in rows:
        t.add_row(fold(r[0], room), *r[1:])
    return t


def _print_sides(con, cmp: Comparison, base_name: str, head_name: str) -> None:
    """Both sides: one pair's provenance side by side, or the runs' shared settings."""
    if len(cmp.pairs) == 1:
        from rich.table import Table

        t = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, show_header=True)
        t.add_column("")
        t.add_column(f"base: {base_name}", overflow="fold")
        t.add_column(f"head: {head_name}", overflow="fold")
        for row in _provenance_rows(cmp.pairs[0]):
            t.add_row(*row)
        con.print(t)
        return
    con.print(f"base: {base_name}")
    con.print(f"head: {head_name}")
    keys = [p.key for p in cmp.pairs]
    axes = list(dict.fromkeys(a for k in keys for a in k))
    vary = [a for a in axes if len({k.get(a) for k in keys}) > 1] or axes
    same = {a: keys[0].get(a) for a in axes if a not in vary}
    for a, (b, h) in cmp.pairs[0].differs.items():
        if all(p.differs.get(a) == (b, h) for p in cmp.pairs):
            same[a] = f"{b} vs {h}"
    if same:
        con.print("runs: " + ", ".join(f"{k}={v}" for k, v in same.items()))


def _print_groups(con, cmp: Comparison, v, width: int) -> None:
    """Each group's changed metrics: one table, or with several pairs one per metric."""
    for group, metrics in v.groups:
        con.print(f"\n{group}")
        cols = ["metric", "base", "head", "change", "%", ""]
        if len(cmp.pairs) == 1:
            con.print(_fitted_table(cols, [_cells(name, name, r) for name, ((_, r),) in metrics],
                                    width))
            continue
        for i, (name, runs) in enumerate(metrics):
            if i:
                con.print()
            con.print(_fitted_table([name] + cols[1:],
                                    [_cells(label, name, r) for label, r in runs], width))


def _footer_lines(cmp: Comparison, v, width: int) -> list[str]:
    """How many metrics did not change, runs on one side only, and the gates."""
    lines = []
    summary = _summary_line(v)
    if summary:
        import textwrap

        lines += textwrap.wrap(summary, width, break_on_hyphens=False)
    for k in cmp.only_base:
        lines.append(f"only in base (not compared): {_label(k)}")
    for k in cmp.only_head:
        lines.append(f"only in head (not compared): {_label(k)}")
    if cmp.gates:
        lines += [""] + _gate_lines(cmp)
    return lines


def _sentinel(v, name: str) -> bool:
    """A value that stands for "none" or "off" rather than an amount."""
    if v is None:
        return False
    if name == "/gc/gogc:percent":
        return v < 0
    return name.endswith(":bytes") and v >= NO_GOAL


def _change(r: Row, name: str) -> tuple[str, str]:
    """(change, %) as text: "-" where either side is a sentinel (off, none)."""
    if _sentinel(r.base, name) or _sentinel(r.head, name):
        return "-", "-"
    return _fmt_delta(r.delta, r.unit, name), _fmt_pct(r.pct)


def _cells(first: str, name: str, r: Row) -> list[str]:
    # FAIL alone: the gate lines under the tables say which gate (keeps the table narrow)
    return [first, _fmt_value(r.base, r.unit, name), _fmt_value(r.head, r.unit, name),
            *_change(r, name), "FAIL" if r.crossed else ""]


def fold(name: str, width: int) -> str:
    """`name` in lines of at most `width` characters, broken after a `/` where possible."""
    lines, cur = [], ""
    for part in re.split(r"(?<=/)", name):
        while len(part) > width:  # a segment longer than a line: cut it
            if cur:
                lines.append(cur)
                cur = ""
            lines.append(part[:width])
            part = part[width:]
        if len(cur) + len(part) > width:
            lines.append(cur)
            cur = ""
        cur += part
    lines.append(cur)
    return "\n".join(x for x in lines if x)


def _md(cell: str) -> str:
    return str(cell).replace("|", "\\|")


def markdown(cmp: Comparison, *, base_name: str = "BASE", head_name: str = "HEAD",
             show_all: bool = False, threshold: float = DEFAULT_THRESHOLD) -> str:
    """The same view as GitHub-flavoured Markdown, for `$GITHUB_STEP_SUMMARY` and PR comments."""
    v = view(cmp, show_all=show_all, threshold=threshold)
    crossed = cmp.crossed
    out = [f"### goalloc compare: {_title(cmp)}"
           + (" — gate crossed" if crossed else ""), "",
           "Exact: deterministic replays, one sample each; no p-values.", ""]
    if len(cmp.pairs) == 1:
        out += [f"| | base: `{_md(base_name)}` | head: `{_md(head_name)}` |", "|---|---|---|"]
        for label, b, h in _provenance_rows(cmp.pairs[0]):
            out.append(f"| {label} | `{_md(b)}` | `{_md(h)}` |")
    else:
        out += [f"base: `{_md(base_name)}`, head: `{_md(head_name)}`, "
                f"{len(cmp.pairs)} runs compared"]
    caveats = caveat_line(cmp)
    if caveats:
        out += ["", caveats]
    for group, metrics in v.groups:
        out += ["", f"#### {group}", ""]
        multi = len(cmp.pairs) > 1
        out.append("| metric |" + (" run |" if multi else "")
                   + " base | head | change | % | |")
        out.append("|---|" + ("---|" if multi else "") + "--:|--:|--:|--:|---|")
        for name, runs in metrics:
            for i, (label, r) in enumerate(runs):
                first = f"`{name}`" if i == 0 else ""
                mark = f"**{_md(_mark(r))}**" if r.crossed else ""
                out.append(f"| {first} |" + (f" {_md(label)} |" if multi else "")
                           + f" {_fmt_value(r.base, r.unit, name)} |"
                           f" {_fmt_value(r.head, r.unit, name)} |"
                           f" {' | '.join(_change(r, name))} | {mark} |")
    if not v.groups:
        out += ["", f"No metric changed by ±{_plain_num(threshold)}% or more."]
    summary = _summary_line(v)
    if summary:
        out += ["", summary.replace("--all", "`--all`") + "."]
    for k in cmp.only_base:
        out.append(f"\nonly in base (not compared): `{_label(k)}`")
    for k in cmp.only_head:
        out.append(f"\nonly in head (not compared): `{_label(k)}`")
    if cmp.gates:
        out.append("")
        out += [f"- {line}" for line in _gate_lines(cmp)]
    return "\n".join(out) + "\n"


def to_dict(cmp: Comparison, *, base_name: str = "BASE", head_name: str = "HEAD") -> dict:
    """The comparison as JSON (schema goalloc-compare/1, docs/json.md)."""
    def num(v):
        return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v

    return {
        "schema": SCHEMA,
        "base": base_name,
        "head": head_name,
        "crossed": cmp.crossed,
        "gates": [{"gate": g.text, "metric": g.metric, "op": g.op, "threshold": g.number,
                   "relative": g.relative, "suffix": g.suffix,
                   "crossed": sum(1 for c in cmp.crossings if c.gate is g)} for g in cmp.gates],
        "pairs": [{
            "run": p.key,
            "kind": kind_of(p),
            "provenance": {"base": provenance(p.base), "head": provenance(p.head)},
            "differs": {a: {"base": b, "head": h} for a, (b, h) in p.differs.items()},
            "trace": {"base": p.base.get("trace", {}).get("sha256"),
                      "head": p.head.get("trace", {}).get("sha256")},
            "metrics": [{"name": r.name, "unit": r.unit, "base": r.base, "head": r.head,
                         "delta": num(r.delta), "delta_pct": num(r.pct),
                         "crossed": r.crossed} for r in rows],
        } for p, rows in zip(cmp.pairs, cmp.rows, strict=True)],
        "only_base": cmp.only_base,
        "only_head": cmp.only_head,
    }


def to_json(cmp: Comparison, **kw) -> str:
    return jsontext.dumps(to_dict(cmp, **kw)) + "\n"
