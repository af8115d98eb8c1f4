"""Two lab4-tui apps on one data directory type notes for the same task in turns (issue 19,
item 2): nothing either typed is lost, on disk and on screen."""

from __future__ import annotations

import pytest
from textual.widgets import TextArea

from lab4.store import Store
from lab4.store.notes import merge3

SIZE = (120, 40)


def test_merge3_keeps_both_sides():
    assert merge3("a\n", "a\nmine\n", "a\ntheirs\n") == "a\ntheirs\nmine\n"
    assert merge3("a\nb\nc\n", "A\nb\nc\n", "a\nb\nC\n") == "A\nb\nC\n"
    assert merge3("a\nb\n", "a\nb\n", "a\nb\nx\n") == "a\nb\nx\n"
    assert merge3("x\n", "mine\n", "theirs\n") is None  # the same line, two ways: a conflict copy


async def _type(app, pilot, text):
    area = app.screen.query_one("#notes", TextArea)
    # typed as an edit of the document: two pilots in one event loop mix their key presses
    area.insert(text, area.document.end)
    await pilot.pause()
    assert app.screen.query_one("#notes").save()  # what the debounce timer calls
    await pilot.pause()
    return area


@pytest.mark.slow  # the merge: test_merge3_keeps_both_sides and the conflict test below
async def test_two_apps_type_in_turns_and_keep_every_line(app_factory, tmp_path):
    a, b = app_factory(task="autograd"), app_factory(task="autograd")
    async with a.run_test(size=SIZE) as pa, b.run_test(size=SIZE) as pb:
        await _type(a, pa, "A first\n")
        await _type(b, pb, "B wrote this\n")  # B read the file empty, before A's save
        assert "B wrote this" in Store(tmp_path / "data").load_note("autograd")
        area_a = await _type(a, pa, "A again\n")
        on_disk = Store(tmp_path / "data").load_note("autograd")
        for line in ("A first", "B wrote this", "A again"):
            assert line in on_disk
        assert area_a.text == on_disk  # A shows what is on disk: B's line merged in
        area_b = await _type(b, pb, "B last\n")
        on_disk = Store(tmp_path / "data").load_note("autograd")
        assert area_b.text == on_disk
        for line in ("A first", "B wrote this", "A again", "B last"):
            assert on_disk.count(line) == 1


async def test_the_same_line_changed_in_both_keeps_a_conflict_copy(app_factory, tmp_path):
    Store(tmp_path / "data").save_note("autograd", "shared line")
    a, b = app_factory(task="autograd"), app_factory(task="autograd")
    async with a.run_test(size=SIZE) as pa, b.run_test(size=SIZE) as pb:
        await _type(a, pa, " edited by A")
        await _type(b, pb, " edited by B")
    notes = tmp_path / "data" / "notes"
    copies = list(notes.glob("autograd.conflict-*.md"))
    assert len(copies) == 1
    texts = {(notes / "autograd.md").read_text(), copies[0].read_text()}
    assert texts == {"shared line edited by A", "shared line edited by B"}
