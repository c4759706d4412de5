"""A small SVG plotting kit: scales, nice ticks, axes, and marks (areas, lines, rects, ticks),
written as text from Python so the report needs no charting library, no script to draw and
nothing fetched. Every mark carries its raw value in a data-* attribute (what the browser tests
read back) and a <title> (the browser's own hover tooltip).

    c = Chart(width=960, height=280, x=(0, 1e9), y=(0, 64 << 20), xfmt=fmt_ns, yfmt=fmt_bytes)
    c.area(xs, lows, highs, fill="#4e79a7", cls="objects")
    c.line(xs, ys, stroke="#000", dash="4 3")
    svg_text = c.render(id="heap", title="Heap memory classes")
"""

from __future__ import annotations

import math
from html import escape

from goalloc.report.units import duration_ns, iec_bytes

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
# Tableau 10: distinguishable, colour-blind friendly enough, and familiar from plots
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")


def fmt_bytes(v: float) -> str:
    return iec_bytes(v)


def fmt_ns(v: float) -> str:
    return duration_ns(v)


def fmt_count(v: float) -> str:
    a = abs(v)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            x = v / div
            return f"{x:.3g}{suffix}"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.3g}"


def fmt_pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def a(v) -> str:
    """An attribute value, escaped."""
    return escape(str(v), quote=True)


def n(v: float) -> str:
    """A coordinate: one decimal, no trailing zeros (keeps the file small)."""
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def nice_ticks(lo: float, hi: float, count: int = 5, unit: int = 10) -> list[float]:
    """About `count` round tick values covering [lo, hi]: steps of 1, 2 or 5 x 10^k (`unit`
    10), or powers of two x 1, 2, 4 ... for bytes (`unit` 1024: ticks at 1 MiB, 2 MiB ...)."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    if unit == 1024 and raw >= 1024:
        step = 2 ** math.ceil(math.log2(raw))
        # 1024-based steps read better as 1, 2, 4, 8 ... of the unit, but 5 ticks of a
        # power of two may be too few: halve once when so
        if (hi - lo) / step < count / 2:
            step /= 2
    else:
        mag = 10 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(v)
        v += step
    return out


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten in [lo, hi]."""
    if lo <= 0 or hi <= lo:
        return []
    return [10.0 ** k for k in range(math.ceil(math.log10(lo)), math.floor(math.log10(hi)) + 1)]


class Chart:
    """One plot area with a linear (or log) x and y, axes, and marks added in paint order."""

    def __init__(self, *, width=960, height=260, x=(0.0, 1.0), y=(0.0, 1.0), xfmt=fmt_count,
                 yfmt=fmt_count, xlog=False, ylog=False, margin=(16, 16, 34, 72), xunit=10,
                 yunit=10, xlabel="", ylabel="", yticks=True):
        self.width, self.height = width, height
        self.mt, self.mr, self.mb, self.ml = margin
        self.x0, self.x1 = float(x[0]), float(x[1]) if x[1] > x[0] else float(x[0]) + 1
        self.y0, self.y1 = float(y[0]), float(y[1]) if y[1] > y[0] else float(y[0]) + 1
        self.xlog, self.ylog = xlog, ylog
        self.xfmt, self.yfmt = xfmt, yfmt
        self.xunit, self.yunit = xunit, yunit
        self.xlabel, self.ylabel = xlabel, ylabel
        self.yticks = yticks
        self.marks: list[str] = []
        self.legend_items: list[tuple[str, str, str]] = []  # (label, colour, style)

    # -- scales --------------------------------------------------------------------------
    @property
    def pw(self) -> float:
        return self.width - self.ml - self.mr

    @property
    def ph(self) -> float:
        return self.height - self.mt - self.mb

    def sx(self, v: float) -> float:
        if self.xlog:
            v, lo, hi = math.log10(max(v, 1e-300)), math.log10(self.x0), math.log10(self.x1)
        else:
            lo, hi = self.x0, self.x1
        return self.ml + (v - lo) / (hi - lo) * self.pw

    def sy(self, v: float) -> float:
        if self.ylog:
            v, lo, hi = math.log10(max(v, 1e-300)), math.log10(self.y0), math.log10(self.y1)
        else:
            lo, hi = self.y0, self.y1
        return self.mt + self.ph - (v - lo) / (hi - lo) * self.ph

    # -- marks ---------------------------------------------------------------------------
    def add(self, text: str) -> None:
        self.marks.append(text)

    def area(self, xs, lows, highs, *, fill, cls="", data="") -> None:
        """A band between two curves (a stacked layer): x ascending."""
        if not xs:
            return
        top = " L".join(f"{n(self.sx(x))},{n(self.sy(y))}" for x, y in zip(xs, highs, strict=True))
        bot = " L".join(f"{n(self.sx(x))},{n(self.sy(y))}"
                        for x, y in zip(reversed(xs), reversed(lows), strict=True))
        self.add(f'<path class="{a(cls)}" d="M{top} L{bot} Z" fill="{fill}"{data}/>')

    def line(self, xs, ys, *, stroke, width=1.5, dash="", cls="", data="", step=False) -> None:
        """A polyline; None in ys breaks it. `step`: a step function (value held until the
        next x)."""
        parts, run = [], []
        prev = None
        for x, y in zip(xs, ys, strict=True):
            if y is None:
                if run:
                    parts.append(run)
                run, prev = [], None
                continue
            px, py = n(self.sx(x)), n(self.sy(y))
            if step and prev is not None:
                run.append(f"{px},{prev}")
            run.append(f"{px},{py}")
            prev = py
        if run:
            parts.append(run)
        d = " ".join("M" + " L".join(r) for r in parts if r)
        if not d:
            return
        da = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<path class="{a(cls)}" d="{d}" fill="none" stroke="{stroke}" '
                 f'stroke-width="{width}"{da}{data}/>')

    def rect(self, x0, x1, y0, y1, *, fill, cls="", title="", data="", opacity=None) -> None:
        """A rectangle in data coordinates (y0 < y1)."""
        px0, px1 = self.sx(x0), self.sx(x1)
        py0, py1 = self.sy(y1), self.sy(y0)
        w = max(px1 - px0, 0.6)
        op = f' fill-opacity="{opacity}"' if opacity is not None else ""
        t = f"<title>{escape(title)}</title>" if title else ""
        self.add(f'<rect class="{a(cls)}" x="{n(px0)}" y="{n(py0)}" width="{n(w)}" '
                 f'height="{n(max(py1 - py0, 0))}" fill="{fill}"{op}{data}>{t}</rect>'
                 if t else
                 f'<rect class="{a(cls)}" x="{n(px0)}" y="{n(py0)}" width="{n(w)}" '
                 f'height="{n(max(py1 - py0, 0))}" fill="{fill}"{op}{data}/>')

    def band(self, x0, x1, *, fill, cls="", title="", data="", opacity=0.18) -> None:
        """A full-height band over [x0, x1]."""
        self.rect(x0, x1, self.y0 if not self.ylog else self.y0, self.y1, fill=fill, cls=cls,
                  title=title, data=data, opacity=opacity)

    def dot(self, x, y, *, fill, r=3, cls="", title="", data="") -> None:
        t = f"<title>{escape(title)}</title>" if title else ""
        self.add(f'<circle class="{a(cls)}" cx="{n(self.sx(x))}" cy="{n(self.sy(y))}" r="{r}" '
                 f'fill="{fill}"{data}>{t}</circle>')

    def legend(self, label: str, colour: str, style: str = "box") -> None:
        self.legend_items.append((label, colour, style))

    # -- axes and output -------------------------------------------------------------------
    def _axes(self) -> list[str]:
        out = []
        left, right = self.ml, self.width - self.mr
        top, bottom = self.mt, self.mt + self.ph
        yt = log_ticks(self.y0, self.y1) if self.ylog else nice_ticks(self.y0, self.y1, 4,
                                                                         self.yunit)
        if not self.yticks:
            yt = []
        for v in yt:
            py = n(self.sy(v))
            out.append(f'<line x1="{left}" x2="{right}" y1="{py}" y2="{py}" stroke="#ddd"/>')
            out.append(f'<text x="{left - 6}" y="{py}" text-anchor="end" '
                       f'dominant-baseline="middle">{escape(self.yfmt(v))}</text>')
        xt = log_ticks(self.x0, self.x1) if self.xlog else nice_ticks(self.x0, self.x1, 6,
                                                                         self.xunit)
        for v in xt:
            px = n(self.sx(v))
            out.append(f'<line x1="{px}" x2="{px}" y1="{bottom}" y2="{bottom + 4}" '
                       'stroke="#555"/>')
            anchor = "end" if self.sx(v) > self.width - 24 else "middle"
            out.append(f'<text x="{px}" y="{bottom + 16}" text-anchor="{anchor}">'
                       f'{escape(self.xfmt(v))}</text>')
        out.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#555"/>')
        out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}" stroke="#555"/>')
        if self.xlabel:
            out.append(f'<text x="{right}" y="{bottom + 30}" text-anchor="end" fill="#555">'
                       f'{escape(self.xlabel)}</text>')
        if self.ylabel:
            out.append(f'<text x="{left + 4}" y="{top + 10}" fill="#555">'
                       f'{escape(self.ylabel)}</text>')
        return out

    def _legend(self) -> tuple[list[str], int]:
        """The legend under the plot, wrapped to the chart's width: (marks, extra rows)."""
        out = []
        x = self.ml
        y = self.height - 6
        rows = 0
        for label, colour, style in self.legend_items:
            w = 32 + 7 * len(label)  # ~7 px per character at 11 px
            if x > self.ml and x + w > self.width - self.mr:
                x, y, rows = self.ml, y + 15, rows + 1
            if style == "line":
                out.append(f'<line x1="{x}" x2="{x + 14}" y1="{y - 4}" y2="{y - 4}" '
                           f'stroke="{colour}" stroke-width="2"/>')
            elif style == "dash":
                out.append(f'<line x1="{x}" x2="{x + 14}" y1="{y - 4}" y2="{y - 4}" '
                           f'stroke="{colour}" stroke-width="2" stroke-dasharray="4 3"/>')
            else:
                out.append(f'<rect x="{x}" y="{y - 9}" width="12" height="10" fill="{colour}"/>')
            out.append(f'<text x="{x + 18}" y="{y}">{escape(label)}</text>')
            x += w
        return out, rows

    def render(self, *, id: str, title: str, chart: str) -> str:
        """The <svg> element: `id` unique in the page, `chart` its kind (data-chart)."""
        legend, rows = self._legend()
        body = "".join(self._axes()) + "".join(self.marks) + "".join(legend)
        return svg_root(self.width, self.height + 15 * rows, body, id=id, title=title,
                        chart=chart, marks=len(self.marks))


def svg_root(width, height, body, *, id, title, chart, marks) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" id="{a(id)}" class="chart" '
            f'data-chart="{a(chart)}" data-marks="{marks}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{a(title)}" '
            f'style="{FONT};font-size:11px"><title>{escape(title)}</title>{body}</svg>')


def data_attrs(**kw) -> str:
    """` data-k="v"` for each keyword (None values left out)."""
    return "".join(f' data-{k.replace("_", "-")}="{a(v)}"' for k, v in kw.items()
                   if v is not None)
