"""Draw a :class:`~lab4.core.views.PlotView` of one or more runs with plotext.

``draw(fig, view, runs, width, height, style)`` works on any plotext figure: the app builds
one in a worker thread, the report builds one for text.  It returns the legend as data
(:class:`Entry` list) instead of letting plotext print it over the curves: the app shows it
below the plot, the report as lines under the picture.

- Series are decimated for display with numpy (min and max per bucket, so spikes survive)
  to about two points per column; the full series stay in the result.  A live series may
  grow while it is drawn: it is copied by slicing first (one atomic step).
- One legend entry per distinct series: a series that several runs share (the unclipped
  baseline of every clip bound) is drawn and listed once.
- Colours come from the caller's :class:`Style` (the app's theme); without colour
  (``NO_COLOR``, the text report) every series gets its own marker.
- Ticks are computed here: short labels (``1e-6``, ``2.5k``), never more than fit, always
  inside the frame.

No textual import here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from lab4.core.events import variant_series_name
from lab4.core.views import PlotView, matches

__all__ = [
    "Run",
    "Style",
    "Entry",
    "Drawing",
    "decimate",
    "draw",
    "render_text",
    "short_number",
    "nice_ticks",
    "contour_points",
]

#: (label, series, artifacts); label is "" for a single run
Run = tuple[str, dict[str, dict[str, Any]], dict[str, Any]]

#: markers for monochrome plots: each series its own shape (theory lines: light ones)
MARKERS = ("braille", "+", "x", "o", "*", "#", "@", "%", "=", "~", "^", "v")
THEORY_MARKERS = ("·", ":", "°", "'", "`", ",")
#: markers of data points over filled regions (decision boundaries): none of MARKERS
POINT_MARKERS = ("o", "X", "&", "$", "?", "!")
#: markers of each run's own point on the phase diagram: 1, 2, 3 ... (they may overlap: told apart)
RUN_MARKERS = tuple("123456789")
#: what a marker looks like in a legend
MARKER_TEXT = {"braille": "⣿", "dot": "•", "hd": "▞", "fhd": "▞"}
#: series drawn as theory (a model beside a measurement) start with one of these words
THEORY_PREFIXES = ("theory ", "model ")


@dataclass(frozen=True)
class Style:
    """Colours of a plot: ``colors`` for the series (cycled), ``canvas``/``axes`` for the
    background and the frame text; no colours at all when ``monochrome``."""

    colors: tuple[Any, ...] = ()
    canvas: Any = "default"
    axes: Any = "default"
    muted: Any = "gray"
    monochrome: bool = False


@dataclass(frozen=True)
class Entry:
    """One legend line: what is drawn, in which colour, with which marker."""

    label: str
    color: Any
    marker: str

    @property
    def symbol(self) -> str:
        return MARKER_TEXT.get(self.marker, self.marker)


@dataclass
class Drawing:
    entries: list[Entry] = field(default_factory=list)
    #: the parameter the runs differ in, when it is one: the entries then name its values only
    axis: str = ""


def short_number(value: float) -> str:
    """A tick label in at most ~6 characters: 0, 0.25, 1e-6, 2.5k, 4e16."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        mantissa, exponent = f"{value:.1e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    if magnitude >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def nice_ticks(lo: float, hi: float, count: int) -> list[float]:
    """At most ``count`` round values (1, 2, 2.5, 5 x 10^k steps) within [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or count < 1:
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count - 1)
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    k = 0
    while first + k * step <= hi * (1 + 1e-12) + 1e-300 and len(ticks) <= count:
        ticks.append(round(first + k * step, 12))
        k += 1
    return [t for t in ticks if lo - 1e-12 * abs(step) <= t <= hi + 1e-12 * abs(step)][:count]


def _decade_ticks(lo: float, hi: float, count: int) -> list[float]:
    """Powers of ten within [lo, hi], thinned to at most ``count``; 1-2-5 when < 2 decades."""
    a, b = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    if b - a < 1:
        ticks = [m * 10.0**e for e in range(a - 1, b + 1) for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
        return ticks[:: max(1, math.ceil(len(ticks) / max(1, count)))] or [lo]
    stride = max(1, math.ceil((b - a + 1) / max(1, count)))
    return [10.0**e for e in range(b, a - 1, -stride)][::-1]


def _snapshot(data: dict[str, Any]) -> tuple[Any, Any]:
    """x and y of a series as numpy arrays of equal length, copied (a live series grows)."""
    import numpy as np

    x, y = data.get("x", ()), data.get("y", ())
    n = min(len(x), len(y))
    xs, ys = x[:n], y[:n]  # slicing copies in one step, whatever another thread appends
    if isinstance(xs, list) and any(v is None for v in xs + ys):
        xs = [math.nan if v is None else v for v in xs]
        ys = [math.nan if v is None else v for v in ys]
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


def _clean(x: Any, y: Any, xlog: bool, ylog: bool) -> tuple[Any, Any]:
    import numpy as np

    keep = np.isfinite(x) & np.isfinite(y)
    if xlog:
        keep &= x > 0
    if ylog:
        keep &= y > 0
    if keep.all():
        return x, y  # the common case: no copy of a long series
    return x[keep], y[keep]


def decimate(x: Any, y: Any, points: int) -> tuple[list[float], list[float]]:
    """At most ~``points`` points: each of points/2 buckets keeps its min and its max, and
    the first and last points stay (so the extremes of x and y are those of the series)."""
    import numpy as np

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n <= points or points < 4:
        return x.tolist(), y.tolist()
    buckets = points // 2
    edges = (np.arange(buckets + 1) * n) // buckets
    out_x: list[float] = []
    out_y: list[float] = []
    for b in range(buckets):
        lo, hi = edges[b], edges[b + 1]
        seg = y[lo:hi]
        a = lo + int(np.argmin(seg)) if seg.size else lo
        c = lo + int(np.argmax(seg)) if seg.size else lo
        for i in sorted({a, c}):
            out_x.append(float(x[i]))
            out_y.append(float(y[i]))
    if out_x[0] != x[0]:  # the ends stay: the axis spans the whole series
        out_x.insert(0, float(x[0]))
        out_y.insert(0, float(y[0]))
    if out_x[-1] != x[-1]:
        out_x.append(float(x[-1]))
        out_y.append(float(y[-1]))
    return out_x, out_y


class _Painter:
    """Hands out a colour and a marker per legend entry, and records the entries."""

    def __init__(self, style: Style):
        self.style = style
        self.drawing = Drawing()

    def next(self, label: str, theory: bool = False) -> tuple[Any, str]:
        k = len(self.drawing.entries)
        style = self.style
        if style.monochrome:
            theories = sum(e.marker in THEORY_MARKERS for e in self.drawing.entries)
            color = "default"
            marker = THEORY_MARKERS[theories % len(THEORY_MARKERS)] if theory else MARKERS[k % len(MARKERS)]
        else:
            color = style.colors[k % len(style.colors)] if style.colors else "default"
            marker = "dot" if theory else "braille"
        self.drawing.entries.append(Entry(label, color, marker))
        return color, marker


def _digest(x: Any, y: Any) -> bytes:
    import hashlib

    import numpy as np

    h = hashlib.blake2b(digest_size=16)
    for values in (x, y):  # + 0.0: -0.0 and 0.0 are equal, as array_equal has them
        h.update((np.ascontiguousarray(values, dtype=np.float64) + 0.0).tobytes())
    return h.digest()


def _collect(view: PlotView, runs: list[Run]) -> list[tuple[str, Any, Any, bool]]:
    """(legend label, x, y, theory) of every distinct series of the view, in run order.

    A series equal to one already collected (same name, same data) is not repeated; a
    series every run shares is labelled without a run label."""
    import numpy as np

    found: list[tuple[str, str, Any, Any, list[str]]] = []  # (name, first run label, x, y, run labels)
    # candidates by (name, length, digest of the data): each series is compared with the few
    # that may equal it, not with every one found (a 1,000-run comparison was quadratic)
    by_key: dict[tuple[str, int, bytes], list[int]] = {}
    for run_label, series, artifacts in runs:
        for base in view.series:
            for name in [n for n in series if matches(base, n)]:  # in the order the run made them
                x, y = _clean(*_snapshot(series[name]), view.xlog, view.ylog)
                if not len(x):
                    continue
                shown = view.legend_name(variant_series_name(name, artifacts))
                key = (shown, len(x), _digest(x, y))
                twin = next(
                    (
                        found[i]
                        for i in by_key.get(key, ())
                        if np.array_equal(found[i][3], y) and np.array_equal(found[i][2], x)
                    ),
                    None,
                )
                if twin is not None:
                    twin[4].append(run_label)
                    continue
                by_key.setdefault(key, []).append(len(found))
                found.append((shown, run_label, x, y, [run_label]))
    labels = [r[0] for r in runs]
    # the same series of several runs (beside its theory): name the runs only
    one_name = len({f[0] for f in found if not f[0].startswith(THEORY_PREFIXES)}) == 1
    short = _short_labels(labels)
    if len(view.series) == 1 and not one_name:  # one series in variants: "loss [unclipped]" -> "unclipped"
        base = view.legend_name(view.series[0])
        found = [(_variant_only(shown, base), *rest) for shown, *rest in found]
    out = []
    for shown, run_label, x, y, owners in found:
        shared = len(labels) > 1 and len(owners) == len(labels)
        if shared or not run_label:
            label = shown
        elif one_name and not shown.startswith(THEORY_PREFIXES):
            label = short.get(run_label, run_label)
        else:
            label = f"{shown} ({short.get(run_label, run_label)})"
        out.append((label, x, y, shown.startswith(THEORY_PREFIXES)))
    return out


def _variant_only(name: str, base: str) -> str:
    if name.startswith(base + " [") and name.endswith("]"):
        return name[len(base) + 2 : -1]
    return name


def _short_labels(labels: list[str]) -> dict[str, str]:
    """When every run label names the same one parameter (``optimizer=gd``), its value alone
    tells them apart in a legend beside a series name (``train (gd)``)."""
    keys = {label.partition("=")[0] for label in labels if label}
    if len(keys) != 1 or not all(label.count("=") == 1 and " " not in label for label in labels if label):
        return {}
    return {label: label.partition("=")[2] for label in labels}


def _axis_of(labels: list[str]) -> str:
    """The one parameter every run label names (``dim`` for ``dim=2``, ``dim=10``), else ""."""
    keys = {label.partition("=")[0] for label in labels if label}
    if len(keys) == 1 and all(label.count("=") == 1 and " " not in label for label in labels if label):
        return keys.pop()
    return ""


def _in_axis_order(runs: list[Run]) -> list[Run]:
    """Runs that differ in one number, in its order (S=0.1, 1, 10, 100), whatever order they ran in."""
    labels = [r[0] for r in runs]
    if len(runs) < 2 or not _axis_of(labels):
        return runs
    try:
        values = [float(label.partition("=")[2]) for label in labels]
    except ValueError:
        return runs
    return [run for _, run in sorted(zip(values, runs), key=lambda pair: pair[0])]


def draw(
    fig: Any, view: PlotView, runs: Iterable[Run], width: int = 80, height: int = 20, style: Style | None = None
) -> Drawing | None:
    """Draw ``view`` of ``runs`` on ``fig``; the legend, or None when there is nothing to draw."""
    style = style or Style()
    runs = _in_axis_order(list(runs))
    fig.clear_figure()
    fig.title(view.title)
    fig.xlabel(view.xlabel)
    fig.ylabel(view.ylabel)
    if view.kind not in DRAWERS:
        raise ValueError(f"view {view.id!r}: no drawing for kind {view.kind!r}")
    drawing = DRAWERS[view.kind](fig, view, runs, _Painter(style), width, height)
    if drawing is not None:
        drawing.axis = _axis_of([r[0] for r in runs])
    return drawing


def _draw_curves(
    fig: Any, view: PlotView, runs: list[Run], painter: _Painter, width: int, height: int
) -> Drawing | None:
    """Curves of a ``line`` view; for a ``trajectory``, paths over the landscape's level sets."""
    style = painter.style
    budget = max(16, 2 * width)
    xs_all: list[Any] = []
    ys_all: list[Any] = []
    if view.kind == "trajectory" and runs and (runs[0][2] or {}).get("landscape"):
        land = runs[0][2]["landscape"]  # level sets first, so the paths are drawn over them
        levels = contour_points(land["x"], land["y"], land["z"])
        for _, (cx, cy) in levels:
            fig.scatter(cx, cy, marker="dot", color=style.muted if not style.monochrome else "default")
        if levels:
            painter.drawing.entries.append(
                Entry("level sets of f", style.muted if not style.monochrome else "default", "dot")
            )
    lines = []
    colour_of: dict[str, Any] = {}  # a run's suffix "(0.1)" or label -> its measured curve's colour
    theory_entry: dict[str, int] = {}
    for label, x, y, theory in _collect(view, runs):
        if view.kind == "trajectory":
            stride = max(1, len(x) // budget)
            px, py = x[::stride].tolist(), y[::stride].tolist()
            if px[-1] != float(x[-1]):
                px.append(float(x[-1]))
                py.append(float(y[-1]))
        else:
            px, py = decimate(x, y, budget)
        suffix = label[label.rfind(" (") :] if label.endswith(")") and " (" in label else None
        own = colour_of.get(suffix or "") if theory and not style.monochrome else None
        if own is not None:  # drawn dotted in its run's colour; listed once for every run
            name = label[: -len(suffix)] if suffix else label
            color, marker = own, "dot"
            if name not in theory_entry:  # listed after the runs
                theory_entry[name] = len(theory_entry)
        else:
            color, marker = painter.next(label, theory)
            if not theory:
                colour_of[f" ({label})"] = color
                if suffix:
                    colour_of[suffix] = color
        lines.append((theory, px, py, marker, color))
        xs_all.append(px)  # the decimated points keep every bucket's extremes: the same limits
        ys_all.append(py)
    painter.drawing.entries += [Entry(f"{name} (dotted, each run's colour)", "default", "dot") for name in theory_entry]
    for _, px, py, marker, color in sorted(lines, key=lambda line: not line[0]):  # theory under the data
        fig.plot(px, py, marker=marker, color=color)
    if view.kind == "trajectory":
        for run_label, _, artifacts in runs[:1]:
            land = (artifacts or {}).get("landscape")
            if land:
                for key, marker, text in (("start", "S", "start"), ("center", "*", "optimum c")):
                    color, _ = painter.next(text)
                    painter.drawing.entries[-1] = Entry(text, color, marker)
                    fig.scatter([land[key][0]], [land[key][1]], marker=marker, color=color)
                    xs_all.append([land[key][0]])
                    ys_all.append([land[key][1]])
    if not painter.drawing.entries:
        return None
    _axes(fig, view, xs_all, ys_all, width, height)
    return painter.drawing


def _draw_boundary_view(
    fig: Any, view: PlotView, runs: list[Run], painter: _Painter, width: int, height: int
) -> Drawing | None:
    return painter.drawing if _draw_boundary(fig, runs, painter) else None


def _draw_phase_view(
    fig: Any, view: PlotView, runs: list[Run], painter: _Painter, width: int, height: int
) -> Drawing | None:
    return painter.drawing if _draw_phase(fig, runs, painter) else None


#: the stability edge of each optimizer as a formula (lab4.maths.optim_theory.stability_edge)
EDGE_FORMULAS = {"gd": "2/lr", "momentum": "2(1+beta)/lr", "nesterov": "2(1+beta)/((1+2beta)lr)"}
#: the stability edge is drawn when it lies within this many histogram widths right of the
#: spectrum (farther, the histogram would be squeezed into a few columns: the legend says where)
EDGE_REACH = 2.0


def _draw_spectrum_view(
    fig: Any, view: PlotView, runs: list[Run], painter: _Painter, width: int, height: int
) -> Drawing | None:
    """The loss Hessian's spectrum (the artifact ``spectrum`` of a training run): the SLQ
    density of each measured step as a histogram outline (share of the eigenvalues per bin,
    log scale; an empty bin at the floor), the top-k eigenvalues of the last step (Lanczos)
    as ``v`` marks along the top, and the run's stability edge as a ``|`` line.  Several runs:
    each run's last measured step."""
    found = [(label, (artifacts or {}).get("spectrum")) for label, _, artifacts in runs]
    found = [(label, s) for label, s in found if s and s.get("steps")]
    if not found:
        return None
    single = len(found) == 1
    curves = []  # (legend label, edges, mass)
    marks = []  # (legend label, eigenvalues)
    edges: dict[float, list[str]] = {}  # edge -> its formula and the runs it belongs to
    for label, spectrum in found:
        chosen = spectrum["steps"] if single else spectrum["steps"][-1:]
        for entry in chosen:
            curves.append(
                (f"step {entry['step']}" if single else f"{label}: step {entry['step']}", entry["edges"], entry["mass"])
            )
        last = spectrum["steps"][-1]
        top = last["top"]
        marks.append(
            (
                f"top-{len(top)} (step {last['step']}{'' if single else f', {label}'}): "
                + ", ".join(short_number(v) for v in top),
                top,
            )
        )
        edge = spectrum.get("edge")
        if edge and math.isfinite(edge):
            edges.setdefault(edge, [EDGE_FORMULAS.get(spectrum.get("optimizer", ""), "edge")]).append(label)
    positive = [m for _, _, mass in curves for m in mass if m > 0]
    if not positive:
        return None
    floor, ceiling = min(positive) / 3, max(positive) * 3
    lo = min(min(e[0] for _, e, _ in curves), min(min(t) for _, t in marks))
    hi = max(max(e[-1] for _, e, _ in curves), max(max(t) for _, t in marks))
    reach = hi + EDGE_REACH * max(hi - lo, abs(hi), 1e-12)
    xs_all: list[Any] = [[lo, hi]]
    for label, bin_edges, mass in curves:
        px, py = [], []
        for a, b, m in zip(bin_edges[:-1], bin_edges[1:], mass):
            py += [max(m, floor)] * 2
            px += [a, b]
        color, marker = painter.next(label)
        fig.plot(px, py, marker=marker, color=color)
    for label, top in marks:
        color, _ = painter.next(label)
        painter.drawing.entries[-1] = Entry(label, color, "v")
        fig.scatter(list(top), [ceiling] * len(top), marker="v", color=color)
    column = [floor * (ceiling / floor) ** (k / (2 * height)) for k in range(2 * height + 1)]
    for edge, (formula, *owners) in edges.items():
        text = f"stability edge {formula} = {short_number(edge)}"
        if not single and len(edges) > 1:
            text += f" ({', '.join(owners)})"
        if edge <= reach:
            color, _ = painter.next(text)
            painter.drawing.entries[-1] = Entry(text, color, "|")
            fig.scatter([edge] * len(column), column, marker="|", color=color)
            xs_all.append([edge])
        else:
            color, _ = painter.next(text + ", off the plot to the right")
            painter.drawing.entries[-1] = Entry(painter.drawing.entries[-1].label, color, ">")
    fig.title("Loss Hessian spectrum")
    _axes(fig, view, xs_all, [[floor, ceiling]], width, height)
    return painter.drawing


#: how each kind of view is drawn (a new kind: one function and one line here)
DRAWERS: dict[str, Callable[[Any, PlotView, list[Run], _Painter, int, int], Drawing | None]] = {
    "line": _draw_curves,
    "trajectory": _draw_curves,
    "boundary": _draw_boundary_view,
    "phase": _draw_phase_view,
    "spectrum": _draw_spectrum_view,
}


def _axes(fig: Any, view: PlotView, xs: list[Any], ys: list[Any], width: int, height: int) -> None:
    """Limits and ticks that fit: every tick inside the frame, labels apart."""
    import numpy as np

    x = np.concatenate([np.asarray(v, dtype=float) for v in xs])
    y = np.concatenate([np.asarray(v, dtype=float) for v in ys])
    for values, log, axis, count in (
        (x, view.xlog, "x", max(2, (width - 8) // 9)),
        (y, view.ylog, "y", max(2, (height - 5) // 3)),
    ):
        lo, hi = float(values.min()), float(values.max())
        if log:
            getattr(fig, f"{axis}scale")("log")
        if hi == lo:
            pad = abs(lo) * 0.05 or 1.0
            lo, hi = (lo / 2, hi * 2) if log else (lo - pad, hi + pad)
        ticks = _decade_ticks(lo, hi, count) if log else nice_ticks(lo, hi, count)
        # plotext takes the limits of a log axis in log10 units (its ticks in data units)
        getattr(fig, f"{axis}lim")(*((math.log10(lo), math.log10(hi)) if log else (lo, hi)))
        if ticks:
            getattr(fig, f"{axis}ticks")(ticks, [short_number(t) for t in ticks])


def contour_points(
    xs: Sequence[float], ys: Sequence[float], z: Sequence[Sequence[float]], levels: int = 6
) -> list[tuple[float, tuple[list[float], list[float]]]]:
    """Points where the grid z[j][i] crosses ``levels`` level sets, at quantiles of z.

    A crossing between two neighbouring grid points is placed by linear interpolation;
    drawn as dots they trace the landscape's contour lines under the trajectory.
    """
    flat = sorted(v for row in z for v in row if v is not None and math.isfinite(v))
    if len(flat) < 4 or flat[-1] - flat[0] < 1e-12:
        return []
    return contour_levels(xs, ys, z, [flat[len(flat) * k // (levels + 1)] for k in range(1, levels + 1)])


def contour_levels(
    xs: Sequence[float], ys: Sequence[float], z: Sequence[Sequence[float]], values: Sequence[float]
) -> list[tuple[float, tuple[list[float], list[float]]]]:
    """The crossing points of each level in ``values`` (see :func:`contour_points`)."""
    out = []
    for level in values:
        px: list[float] = []
        py: list[float] = []
        for j in range(len(ys)):
            for i in range(len(xs)):
                a = z[j][i]
                for dj, di in ((0, 1), (1, 0)):
                    jj, ii = j + dj, i + di
                    if jj >= len(ys) or ii >= len(xs):
                        continue
                    b = z[jj][ii]
                    if a is None or b is None or (a - level) * (b - level) > 0 or a == b:
                        continue
                    t = (level - a) / (b - a)
                    px.append(xs[i] + t * (xs[ii] - xs[i]))
                    py.append(ys[j] + t * (ys[jj] - ys[j]))
        if px:
            out.append((level, (px, py)))
    return out


def _draw_boundary(fig: Any, runs: list[Run], painter: _Painter) -> bool:
    if not runs:
        return False
    _, _, artifacts = runs[-1]
    grid = (artifacts or {}).get("decision_boundary")
    if not grid:
        return False
    xs, ys, classes = grid["x"], grid["y"], grid["classes"]
    names = grid.get("class_names") or [str(k) for k in range(1 + max(max(r) for r in classes))]
    step = max(1, len(xs) // 40)
    colors = []
    for k, name in enumerate(names):
        color, marker = painter.next(f"class {name}")
        marker = "dot" if not painter.style.monochrome else marker
        painter.drawing.entries[-1] = Entry(painter.drawing.entries[-1].label, color, marker)
        colors.append(color)
        gx = [xs[i] for j in range(0, len(ys), step) for i in range(0, len(xs), step) if classes[j][i] == k]
        gy = [ys[j] for j in range(0, len(ys), step) for i in range(0, len(xs), step) if classes[j][i] == k]
        if gx:
            fig.scatter(gx, gy, marker=marker, color=color)
    pts = grid["points"]
    for k, name in enumerate(names):
        px = [x for x, c in zip(pts["x"], pts["label"]) if c == k]
        py = [y for y, c in zip(pts["y"], pts["label"]) if c == k]
        if px:
            marker = "o" if not painter.style.monochrome else POINT_MARKERS[k % len(POINT_MARKERS)]
            fig.scatter(px, py, marker=marker, color=colors[k])
            painter.drawing.entries.append(Entry(f"data, class {name}", colors[k], marker))
    fig.xlim(min(xs), max(xs))
    fig.ylim(min(ys), max(ys))
    return True


#: the measured phase map's cells, by band of measured rate: (upper bound, marker, label)
MEASURED_BANDS = ((0.5, "#", "< 0.5"), (0.8, "+", "0.5-0.8"), (0.95, "=", "0.8-0.95"), (math.inf, ".", ">= 0.95"))
#: the theory's rate drawn as level sets at these rates (the measured bands' edges)
THEORY_LEVELS = (0.5, 0.8, 0.95)


def _draw_phase(fig: Any, runs: list[Run], painter: _Painter) -> bool:
    """The convergence rate over (lr, beta): the MEASURED map (each cell a mark by its measured
    rate, diverged cells x) under the theory's level sets at the same rates and its stability
    edge; the optimum of each, and each run's own (lr, beta)."""
    phases = [(label, (artifacts or {}).get("phase")) for label, _, artifacts in runs]
    phases = [(label, p) for label, p in phases if p]
    if not phases:
        return False
    _, phase = phases[0]
    measured = phase.get("measured")
    measured = measured if measured and "rate" in measured else None
    theory = phase.get("rate") is not None
    if not theory and measured is None:
        return False
    mono = painter.style.monochrome
    if phase.get("optimizer"):
        fig.title(
            f"Rate of {phase['optimizer']} over (lr, beta)"
            + (": measured (marks), theory (dots)" if measured and theory else "")
        )
    xs: list[float] = []
    ys: list[float] = []
    if measured is not None:
        mlr, mbeta, mrate, mdiv = measured["lr"], measured["beta"], measured["rate"], measured["diverged"]
        cells = [(mlr[i], mbeta[j], mrate[j][i], mdiv[j][i]) for j in range(len(mbeta)) for i in range(len(mlr))]
        low = 0.0
        for high, marker, text in MEASURED_BANDS:
            px = [x for x, _, r, d in cells if d is None and r is not None and low <= r < high]
            py = [y for _, y, r, d in cells if d is None and r is not None and low <= r < high]
            low = high
            if px:
                color, _ = painter.next(f"measured rate {text}")
                painter.drawing.entries[-1] = Entry(painter.drawing.entries[-1].label, color, marker)
                fig.scatter(px, py, marker=marker, color=color)
        px = [x for x, _, _, d in cells if d is not None]
        py = [y for _, y, _, d in cells if d is not None]
        if px:
            color, _ = painter.next("measured: diverged")
            painter.drawing.entries[-1] = Entry(painter.drawing.entries[-1].label, color, "x")
            fig.scatter(px, py, marker="x", color=color)
        xs += mlr
        ys += mbeta
    if theory:
        lrs, betas, rate = phase["lr"], phase["beta"], phase["rate"]
        where = f" at {phase['theory_at']}" if phase.get("theory_at") else ""
        found = contour_levels(lrs, betas, rate, list(THEORY_LEVELS))
        if found:
            color, marker = painter.next(f"theory{where}: rate " + ", ".join(f"{level:g}" for level, _ in found), True)
            for _, (px, py) in found:
                fig.scatter(px, py, marker="dot" if not mono else marker, color=color)
        edge = contour_levels(lrs, betas, rate, [1.0])
        if edge:
            color, _ = painter.next(f"theory{where}: rate 1 (edge)")
            marker = "braille" if not mono else "@"
            painter.drawing.entries[-1] = Entry(painter.drawing.entries[-1].label, color, marker)
            fig.scatter(*edge[0][1], marker=marker, color=color)
        xs += lrs
        ys += betas
    best = phase.get("optimal")
    if best:
        color, _ = painter.next(f"theory best: lr {short_number(best['lr'])}, beta {short_number(best['beta'])}")
        painter.drawing.entries[-1] = Entry(painter.drawing.entries[-1].label, color, "*")
        fig.scatter([best["lr"]], [best["beta"]], marker="*", color=color)
    mbest = measured.get("optimal") if measured is not None else None
    if mbest:
        color, _ = painter.next(f"measured best: lr {short_number(mbest['lr'])}, beta {short_number(mbest['beta'])}")
        painter.drawing.entries[-1] = Entry(painter.drawing.entries[-1].label, color, "M")
        fig.scatter([mbest["lr"]], [mbest["beta"]], marker="M", color=color)
    for k, (label, p) in enumerate(phases):
        own = p.get("run")
        if own:
            rate_text = f": rate {short_number(own['rate'])}" if own.get("rate") is not None else ""
            color, _ = painter.next(f"run{f' {label}' if label else ''}{rate_text}")
            marker = "R" if len(phases) == 1 else RUN_MARKERS[k % len(RUN_MARKERS)]  # never one mark for two runs
            painter.drawing.entries[-1] = Entry(painter.drawing.entries[-1].label, color, marker)
            fig.scatter([own["lr"]], [own["beta"]], marker=marker, color=color)
    # the legend leads with what a short one must keep: the optima, the run, where it diverged
    first = ("theory best", "measured best", "run", "measured: diverged", "theory")
    painter.drawing.entries.sort(
        key=lambda e: next((k for k, word in enumerate(first) if e.label.startswith(word)), len(first))
    )
    fig.xlim(min(xs), max(xs))
    fig.ylim(min(ys), max(ys))
    return True


def render_text(view: PlotView, runs: Iterable[Run], width: int = 78, height: int = 20) -> str | None:
    """The plot as plain text (no colour) with its legend below, for reports; None when
    there is nothing to draw."""
    import plotext
    from plotext._figure import _figure_class  # a figure of its own: no global plotext state

    fig = _figure_class()
    drawing = draw(fig, view, runs, width, height, Style(monochrome=True))
    if drawing is None:
        return None
    fig.plotsize(width, height)
    fig._set_size(width, height)
    fig.theme("clear")
    legend = ([f"  {drawing.axis}:"] if drawing.axis else []) + [f"  {e.symbol} {e.label}" for e in drawing.entries]
    return plotext.uncolorize(fig.build()).rstrip() + "\n" + "\n".join(legend)
