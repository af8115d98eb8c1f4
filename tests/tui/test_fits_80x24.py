"""Every answer on screen at 80x24: after a task's first compare preset (a plain run where it
has none), its Results tab shows the sentence and every value of the comparison table, whole,
without scrolling sideways or down."""

import re

import pytest

from lab4.tasks import BUILT_IN, TASKS

from .conftest import finish_run, workers_done

SIZE = (80, 24)
SMALL = {
    "autograd": {},
    "derivatives": {"points": "50"},
    "minimize": {"steps": "50"},
    "mlp": {"steps": "30", "hidden": "8"},
    "clipped-ce": {"steps": "15", "hidden": "8"},
    "scaled-mse": {"steps": "15", "hidden": "8"},
}


def screen_lines(app) -> list[str]:
    """The screen as a terminal shows it, line by line."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def right_side(app, pane) -> str:
    """The text of the Results pane's region of the screen (its lines joined by spaces)."""
    region = pane.content_region
    lines = screen_lines(app)[region.y : region.bottom]
    text = " ".join(line[region.x : region.right] for line in lines)
    return re.sub("[▁▂▃▄▅▆▇█]", " ", text)  # the scrollbar's thumb is not text


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("task", list(BUILT_IN))
@pytest.mark.slow  # the Results tab at 80x24: test_copy_sends_every_variants_metrics
async def test_the_answer_is_on_screen_at_80x24(app_factory, task):
    app = app_factory(task=task)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        for name, value in SMALL[task].items():
            screen.query_one(f"#in-{name}").value = value
        await pilot.pause()
        await pilot.press("c" if TASKS[task].presets else "ctrl+r")
        await finish_run(app, pilot)
        screen.open_tab("tab-results")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        pane = screen.results_pane
        seen = words(right_side(app, pane))
        assert pane.max_scroll_x == 0  # nothing to scroll sideways
        sentence = str(screen.query_one("#sentence").render())
        assert words(sentence) in seen, (sentence, seen)  # the sentence, whole
        table = [pane.columns, *pane.rows] if len(screen.shown) > 1 else []
        for row in table[1:]:
            for value in row:
                assert re.search(rf"(^|[\s:]){re.escape(value)}($|\s)", seen), (value, seen)  # whole, not cut
        for column in table[0][1:] if table else []:
            for word in column.replace("_", " ").split():
                assert word in seen, (column, seen)
        if len(screen.shown) == 1:  # one run: its metrics (or its comparison table of variants)
            result = screen.shown[0][1]
            variants = (result.artifacts or {}).get("variants")
            if variants and len(variants) > 1:
                data = result.tables["comparison"]
                for row in data["rows"]:
                    assert all(str(v) in seen or f"{v:.6g}" in seen for v in row[1:3] if v is not None), (row, seen)
            else:
                for name, _ in pane.rows[:10]:
                    assert name in seen, (name, seen)
