"""Which plots each task screen shows: data, not code, so a new task needs no new screen.

A :class:`PlotView` names the series it draws by base name: ``"loss"`` matches the series
``loss`` and every compared variant ``loss [label]``.  Pure Python (no textual import),
shared by the app (lab4_tui) and by the text plots of the report (lab4.report).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PlotView", "VIEWS", "views_for", "matches"]


@dataclass(frozen=True)
class PlotView:
    id: str
    title: str
    series: tuple[str, ...]
    xlabel: str = "step"
    ylabel: str = ""
    xlog: bool = False
    ylog: bool = False
    #: "line", "trajectory" (x-y path with start/optimum markers) or "boundary" (class grid)
    kind: str = "line"


_TRAINING = (
    PlotView("loss", "Loss", ("loss",), ylabel="train loss", ylog=True),
    PlotView("accuracy", "Accuracy", ("train_accuracy", "test_accuracy"), ylabel="accuracy"),
    PlotView("boundary", "Boundary", (), xlabel="x1", ylabel="x2", kind="boundary"),
)

VIEWS: dict[str, tuple[PlotView, ...]] = {
    "autograd": (),
    "derivatives": (
        PlotView("functions", "f and f'", ("f", "analytic", "autograd", "central", "forward", "backward"), xlabel="x"),
        PlotView(
            "errors", "Errors",
            ("error autograd", "error central", "error forward", "error backward"),
            xlabel="x", ylabel="|estimate - f'|", ylog=True,
        ),
        PlotView(
            "hsweep", "Error vs h",
            tuple(f"h-sweep {s} {d}" for d in ("float32", "float64") for s in ("central", "forward", "backward")),
            xlabel="h", ylabel="RMSE", xlog=True, ylog=True,
        ),
        PlotView(
            "cost", "Cost vs n", ("cost autograd", "cost central"),
            xlabel="inputs n", ylabel="seconds per gradient", xlog=True, ylog=True,
        ),
    ),
    "minimize": (
        PlotView("loss", "Loss", ("loss",), ylabel="f - f*", ylog=True),
        PlotView("distance", "Distance", ("distance",), ylabel="||w - c||", ylog=True),
        PlotView("trajectory", "Trajectory", ("trajectory",), xlabel="x1", ylabel="x2", kind="trajectory"),
    ),
    "mlp": _TRAINING,
    "clipped-ce": _TRAINING[:2]
    + (PlotView("clipped", "Clipped", ("clip_fraction",), ylabel="fraction clipped"),)
    + _TRAINING[2:],
    "scaled-mse": _TRAINING,
}


def views_for(task_id: str) -> tuple[PlotView, ...]:
    return VIEWS.get(task_id, ())


def matches(view_series: str, name: str) -> bool:
    """``loss`` matches ``loss`` and ``loss [unclipped]``, not ``loss_rate``."""
    return name == view_series or name.startswith(view_series + " [")
