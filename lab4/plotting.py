"""Draw a :class:`~lab4.views.PlotView` of one or more runs with plotext.

``draw(plt, view, runs)`` works on any plotext-like object: the app passes its
textual-plotext widget's ``plt``, the report passes a fresh plotext figure.  Series are
decimated for display (min and max per bucket, so spikes survive) to about two points per
terminal column; the full series stay in the result.  Non-positive values are left out of
log axes.  No textual import here.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from lab4.views import PlotView, matches

__all__ = ["Run", "decimate", "draw", "render_text"]

#: (label, series, artifacts); label is "" for a single run
Run = tuple[str, dict[str, dict[str, list[float]]], dict[str, Any]]


def decimate(x: Sequence[float], y: Sequence[float], points: int) -> tuple[list[float], list[float]]:
    """At most ~``points`` points: each of points/2 buckets keeps its min and its max."""
    n = len(x)
    if n <= points or points < 4:
        return list(x), list(y)
    buckets = points // 2
    out_x: list[float] = []
    out_y: list[float] = []
    for b in range(buckets):
        lo = b * n // buckets
        hi = max(lo + 1, (b + 1) * n // buckets)
        seg = range(lo, hi)
        i_min = min(seg, key=y.__getitem__)
        i_max = max(seg, key=y.__getitem__)
        for i in sorted({i_min, i_max}):
            out_x.append(x[i])
            out_y.append(y[i])
    if out_x[-1] != x[-1]:
        out_x.append(x[-1])
        out_y.append(y[-1])
    return out_x, out_y


def _clean(x: Sequence[Any], y: Sequence[Any], xlog: bool, ylog: bool) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for a, b in zip(x, y):
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            continue
        if (xlog and a <= 0) or (ylog and b <= 0):
            continue
        xs.append(a)
        ys.append(b)
    return xs, ys


def _variant_name(name: str, artifacts: dict[str, Any] | None) -> str:
    """A run comparing variants writes its first one without a suffix: name it in legends."""
    variants = (artifacts or {}).get("variants")
    if variants and "[" not in name and variants[0].get("suffix") == "":
        return f"{name} [{variants[0]['label']}]"
    return name


def _label(name: str, run_label: str) -> str:
    return f"{name} ({run_label})" if run_label else name


def draw(plt: Any, view: PlotView, runs: Iterable[Run], width: int = 80) -> bool:
    """Draw ``view`` for ``runs`` on ``plt``; return whether anything was drawn."""
    plt.clear_figure()
    plt.title(view.title)
    plt.xlabel(view.xlabel)
    plt.ylabel(view.ylabel)
    budget = max(16, 2 * width)
    drawn = False
    runs = list(runs)
    if view.kind == "boundary":
        return _draw_boundary(plt, runs)
    if view.kind == "trajectory" and runs and (runs[0][2] or {}).get("landscape"):
        land = runs[0][2]["landscape"]  # level sets first, so the paths are drawn over them
        for _, (cx, cy) in contour_points(land["x"], land["y"], land["z"]):
            plt.scatter(cx, cy, marker="dot", color="gray")
    for run_label, series, artifacts in runs:
        for base in view.series:
            for name in sorted(n for n in series if matches(base, n)):
                data = series[name]
                xs, ys = _clean(data.get("x", []), data.get("y", []), view.xlog, view.ylog)
                if not xs:
                    continue
                xs, ys = decimate(xs, ys, budget)
                plt.plot(xs, ys, label=_label(_variant_name(name, artifacts), run_label), marker="braille")
                drawn = True
        if view.kind == "trajectory":
            land = artifacts.get("landscape") if artifacts else None
            if land:
                plt.scatter([land["start"][0]], [land["start"][1]], marker="S", label=_label("start", run_label))
                plt.scatter([land["center"][0]], [land["center"][1]], marker="*", label=_label("optimum c", run_label))
                drawn = True
    if not drawn:
        return False
    if view.xlog:
        plt.xscale("log")
        _decade_ticks(plt.xticks, [x for _, series, _ in runs for b in view.series for n in series if matches(b, n)
                                   for x in series[n].get("x", []) if x and x > 0])
    if view.ylog:
        plt.yscale("log")
        _decade_ticks(plt.yticks, [y for _, series, _ in runs for b in view.series for n in series if matches(b, n)
                                   for y in series[n].get("y", []) if y and y > 0 and math.isfinite(y)])
    return drawn


def _decade_ticks(set_ticks: Any, values: list[float]) -> None:
    """Ticks at powers of ten labelled 1e-6 ... (plotext prints long decimals otherwise)."""
    if not values:
        return
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    stride = max(1, (hi - lo) // 6)
    exps = list(range(lo, hi + 1, stride))
    set_ticks([10.0**e for e in exps], [f"1e{e}" if e not in (0, 1, 2) else str(10**e) for e in exps])


def contour_points(xs: Sequence[float], ys: Sequence[float], z: Sequence[Sequence[float]],
                   levels: int = 6) -> list[tuple[float, tuple[list[float], list[float]]]]:
    """Points where the grid z[j][i] crosses ``levels`` level sets, at quantiles of z.

    A crossing between two neighbouring grid points is placed by linear interpolation;
    drawn as dots they trace the landscape's contour lines under the trajectory.
    """
    flat = sorted(v for row in z for v in row if v is not None and math.isfinite(v))
    if len(flat) < 4 or flat[-1] - flat[0] < 1e-12:
        return []
    out = []
    for k in range(1, levels + 1):
        level = flat[len(flat) * k // (levels + 1)]
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


def _draw_boundary(plt: Any, runs: list[Run]) -> bool:
    if not runs:
        return False
    _, _, artifacts = runs[-1]
    grid = (artifacts or {}).get("decision_boundary")
    if not grid:
        return False
    xs, ys, classes = grid["x"], grid["y"], grid["classes"]
    names = grid.get("class_names") or [str(k) for k in range(1 + max(max(r) for r in classes))]
    step = max(1, len(xs) // 40)
    for k, name in enumerate(names):
        gx = [xs[i] for j in range(0, len(ys), step) for i in range(0, len(xs), step) if classes[j][i] == k]
        gy = [ys[j] for j in range(0, len(ys), step) for i in range(0, len(xs), step) if classes[j][i] == k]
        if gx:
            plt.scatter(gx, gy, marker="dot")
    pts = grid["points"]
    for k, name in enumerate(names):
        px = [x for x, c in zip(pts["x"], pts["label"]) if c == k]
        py = [y for y, c in zip(pts["y"], pts["label"]) if c == k]
        if px:
            plt.scatter(px, py, marker="o", label=f"class {name}")
    return True


def render_text(view: PlotView, runs: Iterable[Run], width: int = 78, height: int = 20) -> str | None:
    """The plot as plain text (no colour), for reports; None when there is nothing to draw."""
    import plotext
    from plotext._figure import _figure_class  # a figure of its own: no global plotext state

    fig = _figure_class()
    if not draw(fig, view, runs, width):
        return None
    fig.plotsize(width, height)
    fig.theme("clear")
    return plotext.uncolorize(fig.build())
