"""App and CLI share the store; notes survive hang-up; a read-only store keeps results on screen."""

import os
import signal

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


async def test_hang_up_saves_notes_and_exits(app_factory, tmp_path):
    app = app_factory(task="mlp")
    async with app.run_test(size=SIZE) as pilot:
        area = app.screen.query_one("#notes", TextArea)
        area.focus()
        await pilot.press(*"momentum wins")
        app.shut_down()  # what SIGHUP and SIGTERM call, before the debounce fires
        await pilot.pause()
    assert Store(tmp_path / "data").load_note("mlp") == "momentum wins"


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
    app = TerminalApp(["--task", "1"], {"LAB4_DATA_DIR": str(tmp_path), "TERM": "xterm-256color",
                                        "LAB4_CONFIG": str(tmp_path / "c.toml")})
    try:
        assert app.wait_for(b"Autograd")
        os.kill(app.pid, signal.SIGHUP)
        assert app.wait_exit() == 0, "lab4-tui did not exit cleanly after SIGHUP"
    finally:
        app.close()
    assert Store(tmp_path).load_note("autograd") == "kept"


def test_sighup_during_a_long_run_exits_promptly_and_saves_it(tmp_path):
    """A 10,000,000-step run is going when the terminal closes: the app stops it, saves it, exits."""
    env = {"LAB4_DATA_DIR": str(tmp_path), "TERM": "xterm-256color", "LAB4_CONFIG": str(tmp_path / "c.toml")}
    app = TerminalApp(["--task", "minimize", "--steps", "10000000", "--dim", "1000"], env)
    try:
        assert app.wait_for(b"Minimise")  # the task screen is up, its form filled in from the options
        assert app.press_until(b"\x12", b"running step")  # ctrl+r: the run has computed its first block
        os.kill(app.pid, signal.SIGHUP)
        assert app.wait_exit(timeout=30) == 0
    finally:
        app.close()
    runs = Store(tmp_path).list_runs()
    assert runs.warnings == []
    assert [r.status for r in runs.runs] == ["cancelled"]
    assert runs.runs[0].params["steps"] == 10_000_000 and runs.runs[0].params["dim"] == 1000  # from the options
    assert 0 < len(Store(tmp_path).load_run(runs.runs[0].id).series["loss"]["y"]) < 10_000_001


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


def test_an_unexpected_error_stops_and_saves_the_run_and_exits_1(tmp_path):
    import os
    import pty
    import sys
    import time

    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(LAB4_DATA_DIR=str(tmp_path), TERM="xterm-256color", LAB4_CONFIG=str(tmp_path / "c.toml"))
        os.execv(sys.executable, [sys.executable, "-c", CRASHING_APP, "--task", "minimize", "--steps", "10000000",
                                  "--dim", "1000"])
    app = TerminalApp.__new__(TerminalApp)
    app.pid, app.fd = pid, fd
    try:
        assert app.wait_for(b"Minimise")
        app.wait_for(b"\x00", timeout=1.0)  # let the first frames settle
        os.write(fd, b"\x12")  # ctrl+r: the run starts, then the UI fails
        started = time.time()
        assert app.wait_exit(timeout=60) == 1
        assert time.time() - started < 30  # the computation did not keep the process alive
    finally:
        app.close()
    runs = Store(tmp_path).list_runs("minimize").runs
    assert [r.status for r in runs] == ["cancelled"]  # what it computed was saved
