"""What the form says, seen at 80x24 as a user sees it (issue 21, item 5): the compare field's
hint reads as a hint, and a problem is one short line under its field, gone once it is fixed."""

import pytest
from textual.widgets import Input

from lab4.core.comparison import parse_compare
from tests import sampled

SIZE = (80, 24)


def row_of(app, widget) -> tuple[str, list]:
    """The text and the segments drawn over ``widget``'s first line."""
    region = widget.region
    strip = app.screen._compositor.render_strips()[region.y]
    cells, x = [], 0
    for segment in strip:
        if region.x <= x < region.right and segment.text.strip():
            cells.append(segment)
        x += len(segment.text)
    return strip.text[region.x : region.right], cells


def distance(a, b) -> float:
    return sum((p - q) ** 2 for p, q in zip(a.triplet, b.triplet)) ** 0.5


@pytest.mark.parametrize("task_id", sampled(["minimize", "clipped-ce", "derivatives"]))
async def test_the_compare_placeholder_is_a_whole_example_and_looks_like_a_hint(app_factory, task_id):
    app = app_factory(task=task_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        compare = screen.query_one("#compare", Input)
        screen.query_one("#form-scroll").scroll_end(animate=False)
        await pilot.pause()
        shown, cells = row_of(app, compare)
        hint = compare.placeholder
        assert hint.startswith("e.g. ") and shown.strip() == hint  # the whole example, not "e.g."
        parse_compare(screen.task_def.spec, hint.removeprefix("e.g. "))  # an example that runs
        assert cells and all(c.style.italic for c in cells)
        background = cells[0].style.bgcolor
        # a hint is nearer the background than a value is: dim, not "barely lighter than text"
        compare.value = "lr=0.1"
        await pilot.pause()
        _, typed = row_of(app, compare)
        value_colour = typed[0].style.color
        assert not typed[0].style.italic
        assert distance(cells[0].style.color, background) < 0.6 * distance(value_colour, background)
        compare.value = ""  # cleared: the hint again, still a hint
        await pilot.pause()
        shown, cells = row_of(app, compare)
        assert shown.strip() == hint and all(c.style.italic for c in cells)
