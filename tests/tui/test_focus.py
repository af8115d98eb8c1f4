"""Where the keyboard is: History keeps the focus on its table, its filter is opened by ``/``
and left by enter or escape, loading a run into the form is its own key; every focusable
widget shows its focus; the views scroll from wherever the focus is on the right side.

The walk through History runs in a real terminal at 80x24 (a pseudo-terminal), during a live
run, and checks what it did in the store the app writes (a real SQLite file)."""

import asyncio
import os
import time

import pytest
from textual import events
from textual.widgets import DataTable, Input

from lab4.core.context import RunContext
from lab4.engine.runner import execute
from lab4.store import Store
from lab4.tasks import TASKS, specs
from tests import HANG_S, sampled
from tests.fake_tasks import held_path

from .conftest import TerminalApp, finish_run, start_held_run, workers_done

SIZE = (80, 24)
LIVE = 40  # steps of the live run the History walks happen beside: a ``gated`` run, held at its
# gate (tests/fake_tasks.py) until the test cancels it, whatever the machine's speed


def saved_runs(store, steps):
    """Finished ``gated`` runs of these step counts, saved oldest first; their ids."""
    ids = []
    for n in steps:
        result = execute("gated", TASKS["gated"].spec.parse({"steps": n}), RunContext())
        store.save_run(result)
        ids.append(result.id)
    return ids


async def open_history(app, pilot, screen):
    screen.open_tab("tab-history")
    await pilot.pause()
    await workers_done(app)
    await pilot.pause()
    return screen.query_one("#history", DataTable)


async def settle(app, pilot):
    await pilot.pause()
    await workers_done(app)
    await pilot.pause()


# ---- History in the pilot: one assertion after each key


@pytest.mark.slow  # History's keys: test_persistence's and test_live_and_shown's quick tests
async def test_history_keys_keep_the_table_focused_and_never_touch_the_live_form(app_factory, gate):
    app = app_factory(task="gated")
    saved_runs(app.store, [2, 3])  # History: the newest (3 steps) first
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await start_held_run(app, pilot, screen, gate, steps=LIVE)  # held until the test cancels it
        history = await open_history(app, pilot, screen)
        assert app.focused is history
        await pilot.press("enter")  # shows the run
        await settle(app, pilot)
        assert app.focused is history and screen.tabs.active == "tab-history"
        assert [r.params["steps"] for _, r in screen.shown] == [3]
        assert screen.query_one("#in-steps", Input).value == str(LIVE)  # the live run's form
        await pilot.press("m")  # marks (not typed into the filter)
        await settle(app, pilot)
        assert app.focused is history
        assert screen.query_one("#history-filter", Input).value == ""
        assert [r.params["steps"] for r in app.store.list_runs("gated", marked=True).runs] == [3]
        await pilot.press("o")
        await settle(app, pilot)
        assert app.focused is history and [r.params["steps"] for _, r in screen.shown] == [3]
        await pilot.press("l")  # load: refused while the run computes
        await settle(app, pilot)
        assert screen.query_one("#in-steps", Input).value == str(LIVE)
        assert screen.query_one("#in-gate", Input).value == str(gate.path)
        await pilot.press("slash")
        assert app.focused is screen.query_one("#history-filter", Input)
        await pilot.press(*"steps=2", "enter")
        await settle(app, pilot)
        assert app.focused is history and history.row_count == 1
        await pilot.press("slash", "escape")  # escape leaves the filter for the table
        assert app.focused is history
        await pilot.press("tab")  # the filter is not on the tab chain
        assert app.focused is not screen.query_one("#history-filter", Input)
        history.focus()
        await pilot.pause()
        await pilot.press("ctrl+t")  # History is the last tab: on to the first
        assert screen.tabs.active == screen.tabs.tab_ids()[0]
        assert screen.session is not None and screen.session.runs[0].builder.result.params["steps"] == LIVE
        assert gate.held and not gate.path.exists()  # still held: the walk never let it go
        screen.session.cancel()
        await finish_run(app, pilot)
        history = await open_history(app, pilot, screen)
        await pilot.press("slash", *"status=ok", "enter")
        await settle(app, pilot)
        history.move_cursor(row=0)
        await pilot.press("l")  # no run now: loaded
        await settle(app, pilot)
        assert screen.query_one("#in-steps", Input).value == "3"
        assert "ctrl+r runs it again" in screen.control.status_text


@pytest.mark.slow  # every tab of a task; the quick tier tabs with the page-key test
async def test_ctrl_t_carries_the_focus_from_tab_to_tab(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        ids = screen.tabs.tab_ids()
        screen.open_tab("tab-log")
        await pilot.pause()
        for expected in ids[ids.index("tab-log") + 1 :] + ids[:2]:
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert screen.tabs.active == expected
            focused = app.focused
            assert focused is not None and screen.tabs in focused.ancestors  # the focus came along
        screen.query_one("#in-steps", Input).focus()
        await pilot.press("ctrl+t")  # from the form: the form keeps the focus
        assert app.focused is screen.query_one("#in-steps", Input)


async def test_ctrl_t_typed_fast_lands_on_the_tab_it_counts_to(app_factory):
    """ctrl+t pressed three times from Results is History, however the presses fall between
    the app's steps.  A pane told Textual late that it held the focus, and Textual showed that
    pane again: three quick presses ended on Notes with the focus there (seen in a pty walk
    under load; here the keys are posted with a few event-loop turns between them)."""
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        ids = screen.tabs.tab_ids()
        presses = len(ids) - 1 - ids.index("tab-results")
        missed = []
        for turns in ([2, 0, 3], [3, 0, 2], [2, 1, 5], [2, 4, 5]):  # each ended on Notes
            screen.open_tab("tab-results")
            await settle(app, pilot)
            for between in turns[:presses]:
                app.post_message(events.Key("ctrl+t", None))
                for _ in range(between):
                    await asyncio.sleep(0)
            await settle(app, pilot)
            focused = app.focused
            if (
                screen.tabs.active != "tab-history"
                or focused is None
                or "tab-history" not in {w.id for w in focused.ancestors_with_self}
            ):
                missed.append((turns, screen.tabs.active, focused))
        assert not missed


# ---- focus you can see, keys that go where you look


async def test_tab_into_a_field_does_not_select_its_text(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        steps = screen.query_one("#in-steps", Input)
        before = steps.value
        steps.focus()
        await pilot.pause()
        assert steps.selection.is_empty
        await pilot.press("5")
        assert steps.value == before + "5"  # appended, not replacing the value


def _border_chars(app, widget):
    """The characters of the widget's left column on screen, as a terminal shows them."""
    region = widget.region
    lines = app.screen._compositor.render_update(full=True)  # noqa: F841 - forces a full frame
    strips = app.screen._compositor.render_strips()
    return "".join(
        strips[y].text[region.x] if region.x < len(strips[y].text) else " " for y in range(region.y, region.bottom)
    )


@pytest.mark.parametrize("no_color", [True, False])
@pytest.mark.slow  # four panes drawn twice each
async def test_every_focusable_pane_on_the_right_shows_its_focus(app_factory, monkeypatch, no_color):
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        for tab, selector in (
            ("tab-results", "ResultsPane"),
            ("tab-log", "#log"),
            ("tab-history", "#history"),
            ("tab-notes", "#notes"),
        ):
            screen.open_tab(tab)
            await settle(app, pilot)
            widget = screen.query_one(selector)
            assert app.focused is widget or widget in app.focused.ancestors_with_self, (tab, app.focused)
            focused = _border_chars(app, widget)
            screen.set_focus(None)
            await pilot.pause()
            unfocused = _border_chars(app, widget)
            assert focused != unfocused, (tab, focused)  # a mark made of characters: seen without colour


@pytest.mark.parametrize("tab", sampled(["tab-log", "tab-results"]))
async def test_page_keys_scroll_the_view_whatever_has_the_focus_on_the_right(app_factory, tab):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await run_many_lines(app, pilot, screen)
        screen.open_tab(tab)
        await settle(app, pilot)
        scroller = screen.tabs.scroller()
        assert scroller.max_scroll_y > 0
        for focus in (None, "tabs"):
            if focus == "tabs":
                screen.tabs.query_one("ContentTabs").focus()
            else:
                screen.set_focus(None)
            await pilot.pause()
            await pilot.press("end")
            await pilot.pause()
            assert scroller.scroll_target_y == scroller.max_scroll_y or scroller.scroll_y == scroller.max_scroll_y
            await pilot.press("home")
            await pilot.pause()
            await pilot.press("pagedown")
            await pilot.pause()
            assert scroller.scroll_target_y > 0


async def run_many_lines(app, pilot, screen):
    """A comparison of six runs: a long Results page and a long log."""
    screen.query_one("#in-steps", Input).value = "20"
    screen.query_one("#compare", Input).value = "lr=0.01,0.02,0.03,0.04,0.05,0.06"
    await pilot.pause()
    await pilot.press("ctrl+r")
    await finish_run(app, pilot)


async def test_the_footer_shows_the_keys_of_what_has_the_focus(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await open_history(app, pilot, screen)
        keys = {b.binding.key for b in screen.active_bindings.values() if b.binding.show}
        assert {"m", "o", "l", "slash"} <= keys


# ---- the same walk in a real terminal


class Terminal(TerminalApp):
    """A TerminalApp at a size, keeping all it printed (text may arrive before it is awaited)."""

    def __init__(self, args, env, size=SIZE):
        import fcntl
        import struct
        import termios

        super().__init__(args, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.seen = b""

    def expect(self, text: bytes, since: int = 0, timeout: float = HANG_S) -> bool:
        deadline = time.time() + timeout
        while text not in self.seen[since:] and time.time() < deadline:
            self.seen += self._read(0.1)
        return text in self.seen[since:]

    def send(self, keys: bytes) -> int:
        """Send keys; the position in the output after which their effect shows."""
        self.seen += self._read(0.05)
        mark = len(self.seen)
        os.write(self.fd, keys)
        return mark


def wait_until(check, timeout=HANG_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


@pytest.mark.slow  # the walk above, in a pty
def test_history_walk_during_a_live_run_in_a_real_terminal(tmp_path):
    store = Store(tmp_path, specs=specs())
    old, new = saved_runs(store, [2, 3])  # History: the newest (3 steps) first
    gate = tmp_path / "gate"  # never opened: the live run is held until cancelled
    env = {"LAB4_DATA_DIR": str(tmp_path), "TERM": "xterm-256color", "LAB4_CONFIG": str(tmp_path / "c.toml")}
    app = Terminal(["--task", "gated", "--steps", str(LIVE), "--gate", str(gate)], env)

    def marked():
        return {r.id for r in Store(tmp_path, specs=specs()).list_runs("gated", marked=True).runs}

    try:
        assert app.expect(b"Gated test task"), app.last_screen()
        assert app.press_until(b"\x12", b"running"), app.last_screen()  # ctrl+r: the live run
        assert wait_until(lambda: os.path.exists(held_path(str(gate))))  # held at its gate
        app.seen = b""
        for _ in range(4):  # ctrl+t: Loss -> Results -> Log -> Notes -> History (the focus comes along)
            app.send(b"\x14")
        assert app.expect(b"2 runs"), app.last_screen()
        at = app.send(b"\r")  # enter: shows the newest saved run
        assert app.expect(b"showing saved", at), app.last_screen()
        app.send(b"m")
        assert wait_until(lambda: marked() == {new}), marked()
        at = app.send(b"o")
        assert app.expect(b"showing marked", at), app.last_screen()
        at = app.send(b"/")
        app.send(b"steps=2\r")  # the filter; enter goes back to the table
        assert app.expect(b"1 run", at), (
            app.last_screen()
        )  # the filter left one run (the screen may draw the space as a move)
        app.send(b"m")
        assert wait_until(lambda: marked() == {new, old}), marked()
        app.send(b"/")
        app.send(b"\x1b")  # escape: back to the table
        app.wait_for(b"\x00", timeout=0.5)
        app.send(b"m")  # unmarks steps=2 again: the table has the keys
        assert wait_until(lambda: marked() == {new}), marked()
        at = app.send(b"l")  # load: refused during the run
        assert app.expect(b"Not loaded", at), app.last_screen()
        # the live run goes on; cancel it, then run again: the form still holds its steps
        app.send(b"\x1b")
        app.wait_for(b"\x00", timeout=0.5)
        at = app.send(b"\x1b")
        assert app.expect(b"cancel", at), app.last_screen()
        runs = lambda: Store(tmp_path, specs=specs()).list_runs("gated", where={"status": "cancelled"}).runs  # noqa: E731
        assert wait_until(lambda: len(runs()) == 1)
        at = app.send(b"\x12")
        assert app.expect(b"running", at), app.last_screen()
        app.send(b"\x1b")
        assert wait_until(lambda: len(runs()) == 2, 60)
        assert [r.params["steps"] for r in runs()] == [LIVE, LIVE]  # the form was never overwritten
        assert [r.params["gate"] for r in runs()] == [str(gate), str(gate)]
        app.send(b"q")
        assert app.wait_exit() == 0
    finally:
        app.close()
