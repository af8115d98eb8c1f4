"""What the form says, seen at 80x24 as a user sees it (issue 21, item 5): the compare field's
hint reads as a hint, and a problem is one short line under its field, gone once it is fixed."""

import pytest
from textual.widgets import Input

from lab4.core.comparison import parse_compare

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


@pytest.mark.parametrize("task_id", ["minimize", "clipped-ce", "derivatives"])
@pytest.mark.slow  # how the hint looks, in three forms: the full suite's
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


def visible(app, widget) -> bool:
    """Whether ``widget`` is drawn whole on the screen (not scrolled away, not hidden)."""
    from textual.errors import NoWidget

    try:
        where = app.screen.find_widget(widget)
    except NoWidget:
        return False
    return widget.display and where.region.height > 0 and where.region.intersection(where.clip) == where.region


@pytest.mark.slow  # test_app's test_bad_compare_is_refused
async def test_a_compare_problem_is_one_line_under_the_field_and_goes_once_fixed(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        compare = screen.query_one("#compare", Input)
        error = screen.query_one("#compare-error")
        compare.focus()
        await pilot.press(*"foo=1,2")  # unknown: the message lists every name the task has
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen.session is None and not screen.shown
        full = str(error.tooltip)
        assert full.startswith("compare: unknown parameter 'foo'; known: dim, complexity")
        assert error.region.height == 1 and visible(app, error) and visible(app, compare)
        assert compare.value == "foo=1,2"  # nothing typed is lost
        assert screen.control.status_text == "not run: fix compare"
        assert screen.query_one("#status").region.height == 1
        assert len(app._notifications) == 1  # the whole message, in a toast
        await pilot.press(*["backspace"] * 7, *"dim=2,3")  # fixed: the line goes as it is typed
        assert not error.display and screen.control.status_text == "ready"
        assert not len(app._notifications)  # and the toast with it
        await pilot.press("backspace", "x")  # wrong again while typing: said at once, one line
        assert error.display and error.region.height == 1 and "dim must be a whole number" in str(error.tooltip)


@pytest.mark.slow  # test_app's test_bad_value_is_marked_and_run_refused
async def test_a_field_problem_is_one_line_and_goes_once_fixed(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        lr = screen.query_one("#in-lr", Input)
        field = screen.query_one("#field-lr")
        line = field.query_one(".field-error")
        lr.focus()
        lr.value = ""
        await pilot.press(*"abc")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert str(line.render()) == "lr must be a number or optimal, got 'abc'" == str(line.tooltip)
        assert line.region.height == 1 and visible(app, line) and visible(app, lr)
        assert screen.control.status_text == "not run: fix lr"
        screen.query_one("#form-scroll").scroll_end(animate=False)
        await pilot.pause()
        assert visible(app, screen.query_one("#compare", Input))  # the problems leave room for it
        await pilot.press(*["backspace"] * 3, *"0.1")
        assert not field.has_class("-invalid") and not line.display
        assert screen.control.status_text == "ready" and not len(app._notifications)


async def test_a_cross_field_problem_goes_when_the_other_field_fixes_it(app_factory):
    app = app_factory(task="derivatives")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#in-start", Input).value = "3"
        screen.query_one("#in-stop", Input).value = "1"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await pilot.pause()
        stop = screen.query_one("#field-stop")
        assert stop.has_class("-invalid") and "stop must be > start" in str(stop.query_one(".field-error").render())
        screen.query_one("#in-start", Input).value = "0"  # fixed from the other field
        await pilot.pause()
        assert not stop.has_class("-invalid") and screen.control.status_text == "ready"
