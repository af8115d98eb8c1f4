"""Space: legends outside the data, one entry per distinct series, ticks that fit, colours that
follow the theme, distinct markers without colour, the run key in the footer at 80x24."""

import io
import re

import pytest
from textual.widgets import Footer

from lab4.present.plotting import short_number
from lab4.tasks import TASKS
from lab4_tui.widgets.plots import LEGEND_LINES, PlotPane
from tests import sampled

from .conftest import finish_run, run_with, workers_done


def pane(screen, view_id) -> PlotPane:
    return screen.query_one(f"#tab-{view_id} PlotPane", PlotPane)


def picture_text(pane: PlotPane) -> list[str]:
    return ["".join(seg.text for seg in strip) for strip in pane.plot.picture]


@pytest.mark.slow  # four runs; the legend code is in test_legends' quick cases
async def test_a_baseline_shared_by_every_variant_is_listed_once(app_factory):
    app = app_factory(task="clipped-ce")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await run_with(app, pilot, {"steps": "15", "hidden": "8"}, key="c")  # 4 clip bounds
        assert len(screen.shown) == 4
        loss = pane(screen, "loss")
        entries = re.split(r" {2,}|\n", loss.legend_text)
        assert sum("unclipped" in e for e in entries) == 1  # the same curve in all four runs: once
        assert sum("F.cross_entropy" in e for e in entries) == 1
        assert sum("clipped c=" in e and "unclipped" not in e for e in entries) == 4, loss.legend_text
        assert len(loss.legend_text.splitlines()) <= LEGEND_LINES


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
@pytest.mark.slow  # a comparison's legend: test_one_run_legend_names_the_series_only
async def test_legends_stay_below_the_plot_and_visible(app_factory, size):
    app = app_factory(task="mlp")
    async with app.run_test(size=size) as pilot:
        screen = await run_with(app, pilot, {"steps": "30", "hidden": "8"}, key="c")
        screen.open_tab("tab-accuracy")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        accuracy = pane(screen, "accuracy")
        legend = accuracy.query_one(".legend")
        assert legend.region.height >= 1 and legend.region.y >= accuracy.plot.region.bottom  # below, not over
        for optimizer in ("gd", "momentum", "nesterov"):
            assert f"train ({optimizer})" in accuracy.legend_text and f"test ({optimizer})" in accuracy.legend_text
        assert all(len(line) <= accuracy.size.width for line in accuracy.legend_text.splitlines())
        text = "\n".join(picture_text(accuracy))
        assert "optimizer=" not in text  # no legend drawn inside the frame


async def test_one_run_legend_names_the_series_only(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await run_with(app, pilot, {"steps": "50"}, key="c")  # gd vs momentum vs nesterov
        entries = re.split(r" {2,}|\n", pane(screen, "loss").legend_text)
        for optimizer in ("gd", "momentum", "nesterov"):  # one value varies: it alone names the run
            assert f"⣿ {optimizer}" in entries  # the view's one measured series: the value alone
        assert entries[0] == "optimizer:"  # ... under the name of what varies
        assert "• theory f0 rho^2t (dotted, each run's colour)" in entries  # each run's model, listed once


@pytest.mark.slow  # NO_COLOR's markers: the quick tier has test_no_color's snapshot
async def test_without_colour_every_series_has_its_own_marker(app_factory, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_factory(task="derivatives")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await run_with(app, pilot, {"points": "100"})
        for view in TASKS["derivatives"].views:
            screen.open_tab(f"tab-{view.id}")
            await pilot.pause()
            await workers_done(app)
            await pilot.pause()
            symbols = [e.split(" ")[0] for e in re.split(r" {2,}|\n", pane(screen, view.id).legend_text)]
            assert len(symbols) == len(set(symbols)) > 1, (view.id, symbols)


@pytest.mark.slow  # two themes, one run each
async def test_plot_colours_follow_the_theme(app_factory):
    from textual.color import Color

    app = app_factory(task="minimize")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await run_with(app, pilot, {"steps": "50"})
        for theme in ("textual-light", "textual-dark", "solarized-light"):
            app.theme = theme
            await pilot.pause()
            await workers_done(app)
            await pilot.pause()
            surface = Color.parse(app.theme_variables["surface"]).rgb
            backgrounds = {
                seg.style.bgcolor.triplet
                for strip in pane(screen, "loss").plot.picture
                for seg in strip
                if seg.style and seg.style.bgcolor and seg.style.bgcolor.triplet
            }
            assert backgrounds == {surface}, (theme, backgrounds)


def tick_rows(lines: list[str]) -> list[str]:
    """The x tick label row: the line under the frame's bottom edge."""
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    return [lines[bottom + 1]]


@pytest.mark.slow  # three plots of a diverged run; test_snapshots.test_no_color draws ticks
async def test_ticks_are_short_apart_and_inside_the_frame(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await run_with(app, pilot, {"lr": "3", "steps": "200"})  # diverges: huge coordinates
        assert screen.shown[0][1].status == "diverged"
        for view in ("trajectory", "loss", "distance"):
            screen.open_tab(f"tab-{view}")
            await pilot.pause()
            await workers_done(app)
            await pilot.pause()
            lines = picture_text(pane(screen, view))
            text = "\n".join(lines)
            assert not re.search(r"\d{7,}", text), (view, text)  # no 39828911068020736
            title_row = lines[0]
            assert "┤" not in title_row and not re.search(r"\d", title_row.replace("1e", "")), (view, title_row)
            for token in tick_rows(lines)[0].split():
                assert token == short_number(float(token.replace("k", "e3"))), (view, token)


@pytest.mark.slow  # the tick code of the test above, on the log-log plot
async def test_error_vs_h_ticks_do_not_collide(app_factory):
    app = app_factory(task="derivatives")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await run_with(app, pilot, {"points": "100"})
        screen.open_tab("tab-hsweep32")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        row = tick_rows(picture_text(pane(screen, "hsweep32")))[0]
        tokens = row.split()
        assert len(tokens) >= 3 and all(re.fullmatch(r"1e-?\d+|0\.1|0\.01|0\.001|1|10|100", t) for t in tokens), row


@pytest.mark.parametrize("size", sampled([(80, 24), (100, 30), (120, 40)]))
async def test_the_footer_shows_the_run_key(app_factory, size):
    app = app_factory(task="derivatives")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        footer = app.screen.query_one(Footer)
        keys = {k.description: k for k in footer.query("FooterKey")}
        for name in ("Run", "Cancel/leave", "Next tab", "Quit"):
            assert name in keys, list(keys)
            assert keys[name].region.right <= size[0] and keys[name].region.width > 0, name


@pytest.mark.slow  # every tab
async def test_every_tab_is_reachable_at_80_columns(app_factory):
    app = app_factory(task="derivatives")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        tabs = screen.query_one("#tabs")
        seen = []
        for _ in screen.tabs.tab_ids():
            await pilot.press("ctrl+t")
            await pilot.pause()
            seen.append(tabs.active)
            tab = screen.query_one(f"#tabs Tabs #--content-tab-{tabs.active}")
            strip = screen.query_one("#tabs Tabs")
            assert strip.region.x <= tab.region.x and tab.region.right <= strip.region.right + 1, tabs.active
        assert sorted(seen) == sorted(screen.tabs.tab_ids())


def test_help_and_formulas_fit_the_help_screen():
    for task in TASKS.values():
        for line in task.help.splitlines():
            assert len(line) <= 76, (task.id, line)


async def test_a_view_without_data_says_why(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await run_with(app, pilot, {"dim": "3", "steps": "20"})
        screen.open_tab("tab-trajectory")
        for _ in range(2):
            await pilot.pause()
            await workers_done(app)
        text = "\n".join(picture_text(pane(screen, "trajectory")))
        assert "drawn for dim = 2 only" in text and "no data yet" not in text


@pytest.mark.slow  # the variants' sentence: test_copy_sends_every_variants_metrics
async def test_results_label_each_runs_tables_and_whose_metrics(app_factory):
    from textual.widgets import Static

    app = app_factory(task="scaled-mse")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await run_with(app, pilot, {"steps": "10", "hidden": "8", "scale": "1,10"})
        screen.open_tab("tab-results")
        await pilot.pause()
        sentence = str(screen.query_one("#sentence", Static).render())
        assert sentence.endswith("the metrics under it are the first variant's (S=1).")
        screen.query_one("#compare").value = "optimizer=gd,momentum"
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        from rich.console import Console

        console = Console(width=100, record=True, file=io.StringIO())
        console.print(screen.query_one("#tables", Static).content)
        text = console.export_text()
        assert "comparison - optimizer=gd" in text and "comparison - optimizer=momentum" in text
        from lab4.core.events import format_value

        tables = screen.query_one("#tables", Static).content
        for width in (30, 44, 100):  # records, squeezed columns, the whole table
            narrow = Console(width=width, record=True, file=io.StringIO())
            narrow.print(tables)
            narrow_text = narrow.export_text()
            assert max(map(len, narrow_text.splitlines())) <= width
            assert "…" not in narrow_text
            for _, result in screen.shown:
                for data in result.tables.values():
                    for row in data["rows"]:
                        for v in row:
                            if not isinstance(v, str):  # numbers keep every digit in a narrow pane
                                assert format_value(v) in narrow_text, (width, format_value(v), narrow_text)


async def test_a_hidden_results_pane_lays_out_nothing_until_its_tab_opens(app_factory):
    """Filling the Results widgets re-lays out the screen: hidden (the plot's tab open), the pane
    keeps its numbers (copy, export, the rows) and fills its widgets when its tab opens."""
    from textual.widgets import Static

    app = app_factory(task="minimize")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        sentence = screen.query_one("#sentence", Static)
        updates = []
        real = Static.update
        for widget in screen.results_pane.query(Static):
            widget.update = lambda *a, _w=widget, **k: (updates.append(_w.id), real(_w, *a, **k))
        screen.control.set_compare("lr=0.1,0.2")
        await pilot.pause()
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert screen.tabs.active != "tab-results" and updates == []  # two runs started and ended
        pane = screen.results_pane
        assert [row[0] for row in pane.rows] == ["0.1", "0.2"]
        assert pane.text.startswith("lab4 sweep minimize --lr 0.1,0.2\n\nlr=0.2 reached")  # what y copies
        screen.open_tab("tab-results")
        await pilot.pause()
        assert sorted(set(updates)) == ["command", "metrics", "sentence", "tables"]
        assert str(sentence.render()).startswith("lr=0.2 reached")  # the comparison's, measured
        assert "reproduce: lab4 sweep minimize --lr 0.1,0.2" in str(screen.query_one("#command", Static).render())


async def test_a_redraw_never_spells_out_the_runs_series_on_the_ui_thread(app_factory):
    """Textual names a thread worker by the repr of its arguments unless told otherwise: for
    the plot's picture that was the runs' whole series, on the UI thread, at every redraw
    (0.4 s for a 1M-step run)."""
    from array import array

    spelled = []

    class Series(array):
        def __repr__(self):
            spelled.append(len(self))
            return super().__repr__()

    app = app_factory(task="minimize")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        steps = Series("d", range(1000))
        loss = Series("d", (1 / (1 + i) for i in range(1000)))
        pane = screen.plot_panes[0]
        pane.set_runs([("", {"loss": {"x": steps, "y": loss}}, {})])
        pane.replot()
        await workers_done(app)
        await pilot.pause()
        assert pane.plot.picture is not None and spelled == []
