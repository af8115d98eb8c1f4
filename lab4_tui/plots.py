"""A plot pane that owns its data and builds its picture off the UI thread.

Building a plotext figure and decoding its ANSI text costs ~30 ms for a full-screen plot:
done on the UI thread ten times a second it stalls the keyboard and steals time from the
run.  So ``replot`` only takes a snapshot of the runs and the size, a thread worker builds a
fresh plotext figure (no shared plotext state) into a ``rich.Text``, and the widget shows
the last finished picture.  Drawing works on decimated copies, so its cost does not grow
with the run's length.
"""

from __future__ import annotations

from typing import Any

import io
import time

from rich.console import Console
from rich.text import Text
from textual import work
from textual.strip import Strip
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from lab4.plotting import Run, draw
from lab4.views import PlotView

__all__ = ["SeriesPlot"]


class SeriesPlot(PlotextPlot):
    """Draws one :class:`~lab4.views.PlotView` of the runs it is given.

    ``set_runs`` stores the data and marks the plot stale; ``replot`` (called by the
    screen for the visible tab, at a bounded rate) builds it in a thread and refreshes.
    """

    def __init__(self, view: PlotView, **kwargs: Any):
        super().__init__(**kwargs)
        self.view = view
        self.runs: list[Run] = []
        self.stale = True
        self.picture: list[Strip] | None = None
        self.picture_size: tuple[int, int] = (0, 0)
        self.version = 0
        #: how long the last picture took to build (the screen paces live redraws by it)
        self.build_seconds = 0.0

    def set_runs(self, runs: list[Run]) -> None:
        self.runs = runs
        self.stale = True

    def replot(self) -> None:
        """Build the picture again if the data or the size changed (in a thread)."""
        size = (self.size.width, self.size.height)
        if not self.stale and size == self.picture_size:
            return
        if size[0] <= 0 or size[1] <= 0:
            return
        self.stale = False
        self.version += 1
        theme = self._get_plotext_theme_name(self.app.theme)
        self.build_picture(self.version, list(self.runs), size, theme)

    @work(thread=True, exclusive=True, group="plot", exit_on_error=False)
    def build_picture(self, version: int, runs: list[Run], size: tuple[int, int], theme: str) -> None:
        started = time.perf_counter()
        figure = Plot()
        if not draw(figure, self.view, runs, size[0]):
            figure.clear_figure()
            figure.title(f"{self.view.title}: no data yet (run with ctrl+r)")
        figure.plotsize(*size)
        figure._set_size(*size)
        figure.theme(theme)
        text = Text.from_ansi(figure.build(), no_wrap=True)
        console = Console(width=size[0], height=size[1], color_system="truecolor", force_terminal=True,
                          legacy_windows=False, file=io.StringIO())
        lines = console.render_lines(text, console.options.update_dimensions(*size), pad=True, new_lines=False)
        strips = [Strip(line, size[0]) for line in lines[: size[1]]]
        self.build_seconds = time.perf_counter() - started
        self.app.call_from_thread(self._show_picture, version, strips, size)

    def _show_picture(self, version: int, strips: list[Strip], size: tuple[int, int]) -> None:
        if version != self.version:
            return  # a newer picture is on its way
        self.picture = strips
        self.picture_size = size
        self.refresh()

    def render_line(self, y: int) -> Strip:
        """The lines were rendered in the worker: showing them costs the UI thread nothing."""
        if self.picture is None or y >= len(self.picture):
            return Strip.blank(self.size.width, self.rich_style)
        return self.picture[y]

    def on_resize(self) -> None:
        self.replot()

    def on_show(self) -> None:
        self.replot()
