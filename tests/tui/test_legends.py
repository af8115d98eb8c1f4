"""Legends that name what is drawn: up to 8 runs all named at 80x24 by the value that differs,
in the order of that value, and every mark drawn on a plot (level sets, markers, data points)
in its legend, with or without colour."""

import re

import pytest
from textual.widgets import Input

from lab4.core.comparison import run_label
from lab4.core.context import RunContext
from lab4.engine.runner import sweep
from lab4.present.plotting import Style, draw
from lab4.tasks import TASKS
from lab4_tui.widgets.plots import PlotPane

from .conftest import finish_run, workers_done

SIZE = (80, 24)


class Recorder:
    """A plotext figure that records what is drawn (marker, colour) and ignores the rest."""

    def __init__(self):
        self.marks = []

    def plot(self, x, y, marker=None, color=None, **_):
        self.marks.append((marker, color))

    scatter = plot

    def __getattr__(self, name):
        return lambda *a, **k: None


def runs_of(task, params, axes):
    spec = TASKS[task].spec
    names = list(axes)
    return [
        (run_label(combo, names, spec), r.series, r.artifacts)
        for combo, r in sweep(task, spec.parse(params), axes, RunContext())
    ]


@pytest.mark.parametrize("monochrome", [False, True])
def test_every_mark_drawn_is_in_the_legend(monochrome):
    style = Style(monochrome=True) if monochrome else Style(colors=((1, 2, 3), (4, 5, 6), (7, 8, 9)))
    cases = [
        ("minimize", {"steps": 30}, {"optimizer": ["gd", "momentum", "nesterov", "gd"][:3]}),
        ("mlp", {"steps": 5, "hidden": 8, "samples": 60}, {"optimizer": ["gd", "momentum"]}),
    ]
    for task, params, axes in cases:
        runs = runs_of(task, params, axes)
        for view in TASKS[task].views:
            if not view.is_plot:
                continue
            fig = Recorder()
            drawing = draw(fig, view, runs, 80, 20, style)
            if drawing is None:
                continue
            legend = {(e.marker, e.color) for e in drawing.entries}
            if any("each run's colour" in e.label for e in drawing.entries):  # dotted in the runs' colours
                legend |= {("dot", e.color) for e in drawing.entries}
            for mark in fig.marks:
                assert mark in legend, (task, view.id, mark, drawing.entries)
            if view.kind == "phase":  # each run's own point: a marker of its own
                own = [e.marker for e in drawing.entries if e.label.startswith("run")]
                assert len(own) == len(set(own)) == len(runs)
            if monochrome:
                markers = [m for m, _ in fig.marks]
                entries = [e.marker for e in drawing.entries]
                assert len(set(entries)) == len(entries), (view.id, entries)  # told apart without colour
                assert set(markers) <= set(entries)


@pytest.mark.slow  # a comparison's legend: test_space's test_one_run_legend_names_the_series_only
async def test_eight_runs_are_all_named_by_their_value_in_axis_order_at_80x24(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#in-steps", Input).value = "20"
        values = ["0.3", "0.01", "0.2", "0.05", "0.1", "0.02", "0.4", "0.03"]  # typed out of order
        screen.query_one("#compare", Input).value = f"lr={','.join(values)}"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        for view in ("loss", "distance"):
            screen.open_tab(f"tab-{view}")
            await pilot.pause()
            await workers_done(app)
            await pilot.pause()
            text = screen.query_one(f"#tab-{view} PlotPane", PlotPane).legend_text
            assert "more" not in text, text
            assert text.startswith("lr:")
            named = [e.split(" ", 1)[1] for e in re.split(r" {2,}|\n", text.removeprefix("lr:")) if e.startswith("⣿")]
            assert named == sorted(values, key=float), (view, text)  # all 8, by value
            assert all(len(line) <= screen.query_one(f"#tab-{view} PlotPane").size.width for line in text.splitlines())


def test_minimize_offers_the_dimension_question_as_a_preset():
    presets = TASKS["minimize"].presets
    axes = [a for a in presets.values() if "dim" in a]
    assert axes and axes[0]["dim"] == [2, 10, 100, 1000]
