"""Plot panes: a picture built off the UI thread, and its legend below it, never over the data.

Building a plotext figure and decoding its ANSI text costs ~30 ms for a full-screen plot: on
the UI thread that would stall the keyboard and steal time from the run.  So ``replot`` takes
a snapshot of the runs, the size and the theme's colours, a thread worker builds a fresh
figure (no shared plotext state) into strips, and the widget shows the last finished
picture.  Drawing works on decimated copies, so its cost does not grow with the run's
length.  Colours follow the app's theme (light ones too) and change with it; without colour
(``NO_COLOR``) every series gets its own marker.
"""

from __future__ import annotations

import io
import time
from functools import cached_property
from typing import Any

from rich.console import Console
from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.strip import Strip
from textual.widgets import Static
from textual_plotext import PlotextPlot

from lab4.core.views import PlotView
from lab4.present.plotting import Drawing, Run, Style, draw

__all__ = ["PlotPane", "SeriesPlot", "plot_style", "LEGEND_LINES"]

LEGEND_LINES = 3  # lines of legend under a plot at most

#: theme colours used for series, in order; then fixed mid-tone colours readable on dark and light
_THEME_COLORS = ("primary", "accent", "warning", "success", "error", "secondary")
_MORE_COLORS = ((0, 130, 200), (230, 25, 75), (60, 160, 75), (145, 30, 180), (245, 130, 48), (0, 128, 128))


def plot_style(app: Any) -> Style:
    """The app's theme as plot colours (monochrome under NO_COLOR)."""
    if getattr(app, "no_color", False):
        return Style(monochrome=True)
    variables = app.theme_variables

    def rgb(name: str, fallback: str = "#808080") -> tuple[int, int, int]:
        try:
            return Color.parse(variables.get(name) or fallback).rgb
        except Exception:  # noqa: BLE001 - a colour we cannot read is grey
            return Color.parse(fallback).rgb

    colors = list(dict.fromkeys(rgb(name) for name in _THEME_COLORS)) + list(_MORE_COLORS)
    return Style(
        colors=tuple(colors),
        canvas=rgb("surface", "#000000"),
        axes=rgb("foreground", "#ffffff"),
        muted=rgb("foreground-muted", "#808080"),
    )


class SeriesPlot(PlotextPlot):
    """The picture of one :class:`~lab4.core.views.PlotView`, built in a thread."""

    def __init__(self, view: PlotView, **kwargs: Any):
        super().__init__(**kwargs)
        self.view = view
        self.runs: list[Run] = []
        self.stale = True
        self.picture: list[Strip] | None = None
        self.picture_key: tuple[Any, ...] = ()
        self.version = 0
        #: how long the last picture took to build (the screen paces live redraws by it)
        self.build_seconds = 0.0

    def on_mount(self) -> None:
        super().on_mount()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.restyle())

    def restyle(self) -> None:
        self.stale = True
        self.replot()

    def set_runs(self, runs: list[Run]) -> None:
        self.runs = runs
        self.stale = True

    def replot(self) -> None:
        """Build the picture again if the data, the size or the theme changed (in a thread)."""
        size = (self.size.width, self.size.height)
        if size[0] <= 0 or size[1] <= 0:
            return
        key = (size, self.app.theme)
        if not self.stale and key == self.picture_key:
            return
        self.stale = False
        self.version += 1
        self.build_picture(self.version, list(self.runs), size, plot_style(self.app), key)

    # a description of its own: Textual's default is the repr of every argument, the runs'
    # whole series included (1 ms for a 4,000-step run on the UI thread, seconds for 10M steps)
    @work(thread=True, exclusive=True, group="plot", exit_on_error=False, description="plot picture")
    def build_picture(
        self, version: int, runs: list[Run], size: tuple[int, int], style: Style, key: tuple[Any, ...]
    ) -> None:
        from plotext._figure import _figure_class  # a figure of its own: no shared plotext state

        started = time.perf_counter()
        figure = _figure_class()
        drawing = draw(figure, self.view, runs, size[0], size[1], style)
        if drawing is None:
            figure.clear_figure()
            figure.title(self._empty_text(bool(runs)))
        figure.plotsize(*size)
        figure._set_size(*size)  # plotext clamps plotsize to the terminal it guesses: set both
        if style.monochrome:
            figure.theme("clear")
        else:
            figure.canvas_color(style.canvas)
            figure.axes_color(style.canvas)
            figure.ticks_color(style.axes)
        text = Text.from_ansi(figure.build(), no_wrap=True)
        console = Console(
            width=size[0],
            height=size[1],
            color_system="truecolor",
            force_terminal=True,
            legacy_windows=False,
            file=io.StringIO(),
        )
        lines = console.render_lines(text, console.options.update_dimensions(*size), pad=True, new_lines=False)
        plain = RichStyle()  # Textual's filters (NO_COLOR) need a style on every segment
        strips = [
            Strip([Segment(s.text, s.style or plain, s.control) for s in line], size[0]) for line in lines[: size[1]]
        ]
        self.build_seconds = time.perf_counter() - started
        self.app.call_from_thread(self._show_picture, version, strips, key, drawing)

    def _empty_text(self, has_runs: bool) -> str:
        if has_runs and self.view.needs:
            return f"{self.view.title}: {self.view.needs}"
        return f"{self.view.title}: no data yet (run with ctrl+r)"

    def _show_picture(self, version: int, strips: list[Strip], key: tuple[Any, ...], drawing: Drawing | None) -> None:
        if version != self.version:
            return  # a newer picture is on its way
        self.picture = strips
        self.picture_key = key
        self.refresh()
        if isinstance(self.parent, PlotPane):
            self.parent.show_legend(drawing)

    def render_line(self, y: int) -> Strip:
        """The lines were rendered in the worker: showing them costs the UI thread nothing.
        Rows the last picture does not cover (the pane just grew) take the canvas colour."""
        if self.picture is None or y >= len(self.picture):
            canvas = plot_style(self.app).canvas
            style = (
                RichStyle(bgcolor=f"rgb({canvas[0]},{canvas[1]},{canvas[2]})")
                if isinstance(canvas, tuple)
                else self.rich_style
            )
            return Strip.blank(self.size.width, style)
        return self.picture[y]

    def on_resize(self) -> None:
        self.replot()

    def on_show(self) -> None:
        self.replot()


class PlotPane(Vertical):
    """A plot and its legend (one entry per distinct series), the legend below the frame."""

    DEFAULT_CSS = """
    PlotPane { height: 1fr; }
    PlotPane > SeriesPlot { height: 1fr; min-height: 5; }
    PlotPane > .legend { height: auto; padding: 0 1; }
    """

    def __init__(self, view: PlotView, **kwargs: Any):
        super().__init__(**kwargs)
        self.view = view
        self._legend = Text()  # what the legend shows

    def compose(self) -> ComposeResult:
        yield SeriesPlot(self.view, id=f"plot-{self.view.id}")
        yield Static("", classes="legend")

    @cached_property
    def plot(self) -> SeriesPlot:
        return self.query_one(SeriesPlot)

    def set_runs(self, runs: list[Run]) -> None:
        self.plot.set_runs(runs)

    def replot(self) -> None:
        self.plot.replot()

    #: the legend as plain text (what the pane shows under the plot)
    legend_text: str = ""

    def show_legend(self, drawing: Drawing | None) -> None:
        """Entries flowed into lines of the pane's width, whole; what does not fit in
        LEGEND_LINES lines is counted ("+3 more")."""
        width = max(10, self.size.width - 2)
        lines: list[Text] = []
        entries = list(drawing.entries) if drawing else []
        if drawing and drawing.axis and entries:  # the runs differ in one parameter: named once
            lines.append(Text(f"{drawing.axis}:", style="italic"))
        for k, entry in enumerate(entries):
            color = entry.color
            piece = Text(
                entry.symbol, style=f"rgb({color[0]},{color[1]},{color[2]})" if isinstance(color, tuple) else ""
            )
            piece.append(" " + entry.label)
            if lines and lines[-1].cell_len + 2 + piece.cell_len <= width:
                lines[-1].append("  ")
                lines[-1].append_text(piece)
            elif len(lines) < LEGEND_LINES:
                lines.append(piece)
            else:
                lines[-1].append(f" +{len(entries) - k} more")
                break
        legend = Text("\n").join(lines)
        if legend == self._legend:  # each live picture: an update would re-lay out the screen
            return
        height_changes = len(lines) != (self._legend.plain.count("\n") + 1 if self._legend.plain else 0)
        self._legend = legend
        self.legend_text = legend.plain
        self.query_one(".legend", Static).update(legend, layout=height_changes)
