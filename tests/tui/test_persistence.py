"""App and CLI share the store; notes survive hang-up; a read-only store keeps results on screen."""

import os
import signal

import pytest
from click.testing import CliRunner
from textual.widgets import DataTable, TextArea

from lab4.cli.main import main
from lab4.store import Store

from .conftest import TerminalApp, finish_run, workers_done

SIZE = (100, 30)


async def test_runs_saved_by_cli_and_app_are_listed_by_both(app_factory, tmp_path):
    data = tmp_path / "data"
    CliRunner().invoke(main, ["run", "minimize", "--steps", "10", "--data-dir", str(data)], catch_exceptions=False)
    app = app_factory(task="minimize", data_dir=data)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#in-steps").value = "20"
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        screen.open_tab("tab-history")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        history = screen.query_one("#history", DataTable)
        assert history.row_count == 2
        # select the older (CLI) run: its plot comes back; l puts its parameters in the form
        history.move_cursor(row=1)
        await pilot.press("enter")
        await workers_done(app)
        await pilot.pause()
        assert screen.shown[0][1].params["steps"] == 10 and screen.query_one("#in-steps").value == "20"
        await pilot.press("l")
        await workers_done(app)
        await pilot.pause()
        assert screen.query_one("#in-steps").value == "10"
        # mark both, overlay
        screen.open_tab("tab-history")
        await pilot.pause()
        history.move_cursor(row=0)
        await pilot.press("m")
        history.move_cursor(row=1)
        await pilot.press("m", "o")
        await workers_done(app)
        await pilot.pause()
        assert len(screen.shown) == 2
        assert [label for label, _ in screen.shown] == ["steps=20", "steps=10"]  # labelled by what differs
    out = CliRunner().invoke(main, ["runs", "minimize", "--data-dir", str(data)])
    assert len([line for line in out.output.splitlines() if "  minimize  " in line]) == 2


@pytest.mark.slow  # shut_down: test_sighup_on_a_real_terminal_saves_and_exits
async def test_hang_up_saves_notes_and_exits(app_factory, tmp_path):
    app = app_factory(task="mlp")
    async with app.run_test(size=SIZE) as pilot:
        area = app.screen.query_one("#notes", TextArea)
        area.focus()
        await pilot.press(*"momentum wins")
        app.shut_down()  # what SIGHUP and SIGTERM call, before the debounce fires
        await pilot.pause()
    assert Store(tmp_path / "data").load_note("mlp") == "momentum wins"


@pytest.mark.slow  # a save that fails: test_full_disk_warns_and_keeps_the_result
async def test_unwritable_store_warns_and_keeps_result(app_factory, tmp_path):
    if os.geteuid() == 0:
        data = tmp_path / "data"
        data.mkdir()
        (data / "lab4.sqlite").mkdir()  # even root cannot open a directory as the database
    else:
        data = tmp_path / "data"
        data.mkdir()
        os.chmod(data, 0o500)
    app = app_factory(task="autograd", data_dir=data)
    told = []
    real_notify = app.notify
    app.notify = lambda message, **kw: (told.append(message), real_notify(message, **kw))  # toasts expire
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        screen = app.screen
        assert screen.shown[0][1].status == "ok"
        assert len(screen.results_pane.rows) > 2
        assert any("not saved" in m for m in told)


def test_sighup_on_a_real_terminal_saves_and_exits(tmp_path):
    """lab4-tui in a pseudo-terminal: SIGHUP ends it cleanly and the notes on disk are intact."""
    Store(tmp_path).save_note("autograd", "kept")
    app = TerminalApp(
        ["--task", "1"],
        {"LAB4_DATA_DIR": str(tmp_path), "TERM": "xterm-256color", "LAB4_CONFIG": str(tmp_path / "c.toml")},
    )
    try:
        assert app.wait_for(b"Autograd"), app.last_screen()
        os.kill(app.pid, signal.SIGHUP)
        assert app.wait_exit() == 0, "lab4-tui did not exit cleanly after SIGHUP"
    finally:
        app.close()
    assert Store(tmp_path).load_note("autograd") == "kept"


@pytest.mark.slow  # a run stopped and saved on leaving: test_q_during_a_run_asks_first
def test_sighup_during_a_run_exits_promptly_and_saves_it(tmp_path):
    """A run is going (held at its gate, which never opens) when the terminal closes: the app
    stops it, saves it, exits."""
    env = {"LAB4_DATA_DIR": str(tmp_path), "TERM": "xterm-256color", "LAB4_CONFIG": str(tmp_path / "c.toml")}
    gate = tmp_path / "gate"
    app = TerminalApp(["--task", "gated", "--steps", "12", "--gate", str(gate)], env)
    try:
        assert app.wait_for(b"Gated"), app.last_screen()  # the task screen is up, its form filled in from the options
        assert app.press_until(b"\x12", b"running step 11/12"), app.last_screen()  # ctrl+r: the run is held at its gate
        os.kill(app.pid, signal.SIGHUP)
        assert app.wait_exit() == 0
    finally:
        app.close()
    runs = Store(tmp_path).list_runs()
    assert runs.warnings == []
    assert [r.status for r in runs.runs] == ["cancelled"] and runs.runs[0].step == 11
    assert runs.runs[0].params == {"steps": 12, "gate": str(gate)}  # from the options
    assert list(Store(tmp_path).load_run(runs.runs[0].id).series["loss"]["x"]) == list(range(12))  # every step


CRASHING_APP = """
import sys
import lab4_tui.widgets.results_pane as panes

calls = {"n": 0}
show = panes.ResultsPane.show


def show_then_fail(self, *args, **kwargs):  # an unexpected bug in the UI, in the middle of a run
    calls["n"] += 1
    if calls["n"] == 2:
        raise RuntimeError("an unexpected error")
    return show(self, *args, **kwargs)


panes.ResultsPane.show = show_then_fail
from lab4_tui.__main__ import main

main()
"""


@pytest.mark.slow  # a pty app that fails mid-run: the full suite's
def test_an_unexpected_error_stops_and_saves_the_run_and_exits_1(tmp_path):
    """The UI fails in the middle of a run that would never end by itself (held at a gate that
    never opens): the app stops the computation, saves what it computed, exits 1."""
    env = {"LAB4_DATA_DIR": str(tmp_path), "TERM": "xterm-256color", "LAB4_CONFIG": str(tmp_path / "c.toml")}
    app = TerminalApp(
        ["--task", "gated", "--steps", "12", "--gate", str(tmp_path / "gate")], env, python=("-c", CRASHING_APP)
    )
    try:
        assert app.wait_for(b"Gated"), app.last_screen()
        os.write(app.fd, b"\x12")  # ctrl+r: the run starts, then the UI fails
        assert app.wait_exit() == 1  # a computation that never ends did not keep the process alive
    finally:
        app.close()
    runs = Store(tmp_path).list_runs("gated").runs
    assert [r.status for r in runs] == ["cancelled"]  # what it computed was saved
