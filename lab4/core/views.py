"""What a task screen shows beside its form: data, not code, so a new task needs no new screen.

Each task declares its views (``Task.views``).  A :class:`PlotView` names the series it
draws by base name: ``"loss"`` matches the series ``loss`` and every compared variant
``loss [label]``.  Its ``kind`` says how it is drawn: ``line`` curves, a ``trajectory``
(x-y path over the landscape's level sets), a ``boundary`` (class map), a ``phase``
diagram, the ``spectrum`` of the loss Hessian (a histogram of its eigenvalues), or the
autograd ``graph`` (a tree, not a plot).  Pure Python (no textual
import), shared by the app (lab4_tui) and by the text plots of the report (lab4.present.report).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PlotView", "TRAINING_VIEWS", "matches", "KINDS"]

KINDS = ("line", "trajectory", "boundary", "phase", "spectrum", "graph")


@dataclass(frozen=True)
class PlotView:
    id: str
    title: str
    series: tuple[str, ...]
    xlabel: str = "step"
    ylabel: str = ""
    xlog: bool = False
    ylog: bool = False
    #: one of KINDS
    kind: str = "line"
    #: why a run may have nothing to draw here ("drawn for dim = 2 only"), shown instead
    needs: str = ""
    #: short legend names of the series: (("train_accuracy", "train"), ...)
    names: tuple[tuple[str, str], ...] = ()

    def legend_name(self, name: str) -> str:
        """``train_accuracy [S=1]`` -> ``train [S=1]`` with names = (("train_accuracy", "train"),)."""
        for base, short in self.names:
            if matches(base, name):
                return short + name[len(base) :]
        return name

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"view {self.id!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")

    @property
    def is_plot(self) -> bool:
        return self.kind != "graph"


#: the views of the three training tasks (clipped-ce adds its own)
TRAINING_VIEWS = (
    PlotView("loss", "Loss", ("loss",), ylabel="train loss", ylog=True),
    PlotView(
        "accuracy",
        "Accuracy",
        ("train_accuracy", "test_accuracy"),
        ylabel="accuracy",
        names=(("train_accuracy", "train"), ("test_accuracy", "test")),
    ),
    PlotView(
        "sharpness",
        "Sharpness",
        ("sharpness", "theory edge"),
        ylabel="top Hessian eigenvalue",
        names=(("theory edge", "theory stability edge"),),
        needs="measured when sharpness_every > 0",
    ),
    PlotView(
        "spectrum",
        "Spectrum",
        (),
        xlabel="Hessian eigenvalue",
        ylabel="share of eigenvalues",
        ylog=True,
        kind="spectrum",
        needs="measured at the steps of spectrum_at, e.g. 0,end (off by default: each costs ~750 steps)",
    ),
    PlotView(
        "boundary", "Boundary", (), xlabel="x1", ylabel="x2", kind="boundary", needs="drawn for 2-D datasets only"
    ),
)


def matches(view_series: str, name: str) -> bool:
    """``loss`` matches ``loss`` and ``loss [unclipped]``, not ``loss_rate``."""
    return name == view_series or name.startswith(view_series + " [")
