"""The report key in the Notes tab (issue 21, item 5): ctrl+e is a text key there (end of line)
and stays one, but it no longer says nothing: the first press tells how to write the report
from there, and F6 writes it."""

import pytest
from textual.widgets import TextArea

from .conftest import notices, until

SIZE = (80, 24)


@pytest.mark.slow  # F6 from the notes: test_app's test_notes_are_saved_as_typed
async def test_ctrl_e_in_the_notes_says_how_to_write_the_report_and_f6_writes_it(app_factory, tmp_path):
    app = app_factory(task="derivatives")
    told = notices(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.open_tab("tab-notes")
        await pilot.pause()
        area = screen.query_one("#notes", TextArea)
        area.focus()
        await pilot.press(*"central wins", "home", "ctrl+e")
        assert area.cursor_location == (0, len("central wins"))  # still the end of the line
        hints = [m for m in told if "report" in m]
        assert len(hints) == 1 and "F6" in hints[0] and "ctrl+e" in hints[0]
        await pilot.press("home", "ctrl+e")
        assert len([m for m in told if "report" in m]) == 1  # said once, not at every end of line
        await pilot.press("f6")  # from the notes: the report is written, with the notes in it
        await until(pilot, lambda: any(m.startswith("Report written to") for m in told), "the report")
        path = next(m for m in told if m.startswith("Report written to")).removeprefix("Report written to ")
        assert "central wins" in open(path, encoding="utf-8").read()
