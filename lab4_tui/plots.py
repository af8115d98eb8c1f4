"""A plot pane that owns its data and redraws only when it is shown and has changed."""

from __future__ import annotations

from typing import Any

from textual_plotext import PlotextPlot

from lab4.plotting import Run, draw
from lab4.views import PlotView

__all__ = ["SeriesPlot"]


class SeriesPlot(PlotextPlot):
    """Draws one :class:`~lab4.views.PlotView` of the runs it is given.

    ``set_runs`` only stores the data and marks the plot stale; ``replot`` (called by the
    screen for the visible tab, at most ~10 times a second) clears, draws and refreshes.
    Drawing works on decimated copies, so its cost does not grow with the run's length.
    """

    def __init__(self, view: PlotView, **kwargs: Any):
        super().__init__(**kwargs)
        self.view = view
        self.runs: list[Run] = []
        self.stale = True

    def set_runs(self, runs: list[Run]) -> None:
        self.runs = runs
        self.stale = True

    def replot(self) -> None:
        if not self.stale:
            return
        self.stale = False
        width = max(20, self.size.width or 80)
        if not draw(self.plt, self.view, self.runs, width):
            self.plt.clear_figure()
            self.plt.title(f"{self.view.title}: no data yet (run with ctrl+r)")
        self.refresh()

    def on_resize(self) -> None:
        self.stale = True
        self.replot()
