"""The Spectrum tab of a training task in the real app (issue 22), at 80x24."""

import pytest

from lab4_tui.widgets.plots import PlotPane

from .conftest import run_with, workers_done


@pytest.mark.slow  # the view at 80x24: core/test_spectrum_view
async def test_the_app_shows_the_spectrum_tab_with_every_mark_named_at_80x24(app_factory):
    """The real app at 80x24: a short mlp run, then ctrl+t to the Spectrum tab; its picture
    holds the edge column and the top marks, and its legend (below the plot) names them."""
    app = app_factory(task="mlp")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await run_with(
            app, pilot, {"steps": "20", "hidden": "8", "optimizer": "gd", "lr": "0.5", "spectrum_at": "0,end"}
        )
        while screen.query_one("#tabs").active != "tab-spectrum":
            await pilot.press("ctrl+t")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        pane = screen.query_one("#tab-spectrum PlotPane", PlotPane)
        legend = pane.legend_text
        assert "step 0" in legend and "step 20" in legend, legend
        assert "v top-3 (step 20): " in legend and "| stability edge 2/lr = 4" in legend, legend
        assert all(len(line) <= pane.size.width for line in legend.splitlines())
        picture = ["".join(seg.text for seg in strip) for strip in pane.plot.picture]
        assert "Loss Hessian spectrum" in picture[0]
        assert sum("|" in line for line in picture) >= 5 and any("v" in line for line in picture[:3])
