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
import json
import math
import re
from dataclasses import dataclass, field

from goalloc.errors import GoallocError
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
        if check_traces and not allow_different_traces:
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


def _label(key: dict) -> str:
    return "/".join(f"{k}={v}" for k, v in key.items())


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
            close = difflib.get_close_matches(g.metric, sorted(names), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise GoallocError(f"--fail-on {g.text!r}: no metric {g.metric!r}{hint}; valid "
                               "names (<c>: a span class such as 5 or 5-noscan; * globs):\n  "
                               + "\n  ".join(valid_names(names)))
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


def _fmt_value(v, unit: str) -> str:
    from goalloc.report.units import iec_bytes

    if v is None:
        return "-"
    if unit == "bytes":
        return iec_bytes(v)
    if unit == "ratio":
        return f"{v:.4f}"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.6g}"
    return f"{int(v):,}"


def _fmt_delta(d, unit: str) -> str:
    if d is None:
        return "-"
    s = _fmt_value(abs(d), unit)
    return ("+" if d > 0 else "-" if d < 0 else "±") + s


def _fmt_pct(p) -> str:
    if p is None:
        return "-"
    if math.isinf(p):
        return "+inf%" if p > 0 else "-inf%"
    return f"{p:+.2f}%"


def _shown(rows: list[Row], show_all: bool) -> list[Row]:
    return [r for r in rows if show_all or r.crossed or not r.name.startswith(PER_CLASS)]


def _columns(table: list[list[str]], right_from: int = 1) -> list[str]:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    out = []
    for r in table:
        cells = [c.ljust(widths[i]) if i < right_from else c.rjust(widths[i])
                 for i, c in enumerate(r)]
        out.append("  ".join(cells).rstrip())
    return out


def _mark(row: Row) -> str:
    return ("FAIL " + ", ".join(row.crossed)) if row.crossed else ""


def text(cmp: Comparison, *, base_name: str = "BASE", head_name: str = "HEAD",
         show_all: bool = False) -> str:
    """benchstat-style text: exact deltas, gate crossings marked FAIL on their row."""
    lines = [f"base: {base_name}", f"head: {head_name}"]
    differs = cmp.pairs[0].differs if len(cmp.pairs) == 1 else {}
    if len(cmp.pairs) == 1:
        key = dict(cmp.pairs[0].key)
        for a, (b, h) in differs.items():
            key[a] = f"{b} vs {h}"
        lines.append("run: " + ", ".join(f"{k}={v}" for k, v in key.items()))
    lines.append("exact: deterministic replays, one sample each; deltas are exact (no p-values)")
    lines.append("")
    if len(cmp.pairs) == 1:
        table = [["metric", "base", "head", "delta", "vs base", ""]]
        for r in _shown(cmp.rows[0], show_all):
            table.append([r.name, _fmt_value(r.base, r.unit), _fmt_value(r.head, r.unit),
                          _fmt_delta(r.delta, r.unit), _fmt_pct(r.pct), _mark(r)])
        lines += _columns(table)
    else:
        # benchstat style: a table per metric, a row per run (named by the axes that vary)
        keys = [p.key for p in cmp.pairs]
        axes = list(dict.fromkeys(a for k in keys for a in k))
        vary = [a for a in axes if len({k.get(a) for k in keys}) > 1] or axes
        same = {a: keys[0].get(a) for a in axes if a not in vary}
        for a, (b, h) in cmp.pairs[0].differs.items():
            if all(p.differs.get(a) == (b, h) for p in cmp.pairs):
                same[a] = f"{b} vs {h}"
        if same:
            lines.insert(-2, "runs: " + ", ".join(f"{k}={v}" for k, v in same.items()))
        names = list(dict.fromkeys(r.name for rows in cmp.rows for r in _shown(rows, show_all)))
        for name in names:
            table = [[name, "base", "head", "delta", "vs base", ""]]
            for p, rows in zip(cmp.pairs, cmp.rows, strict=True):
                r = next((r for r in rows if r.name == name), None)
                if r is None:
                    continue
                label = _label({a: p.key.get(a) for a in vary})
                table.append([label, _fmt_value(r.base, r.unit), _fmt_value(r.head, r.unit),
                              _fmt_delta(r.delta, r.unit), _fmt_pct(r.pct), _mark(r)])
            lines += _columns(table)
            lines.append("")
        if lines[-1] == "":
            lines.pop()
    for k in cmp.only_base:
        lines.append(f"only in base (not compared): {_label(k)}")
    for k in cmp.only_head:
        lines.append(f"only in head (not compared): {_label(k)}")
    if cmp.gates:
        lines.append("")
        for g in cmp.gates:
            n = sum(1 for c in cmp.crossings if c.gate is g)
            lines.append(f"gate {g.text}: " + (f"CROSSED ({n} run{'s' if n > 1 else ''})"
                                               if n else "ok"))
    return "\n".join(lines) + "\n"


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
    return json.dumps(to_dict(cmp, **kw), indent=2, sort_keys=True, ensure_ascii=False,
                      allow_nan=False) + "\n"
