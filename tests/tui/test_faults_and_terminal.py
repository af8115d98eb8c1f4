"""The app under faults and odd terminals: errors in runs, a full disk, resizing, NO_COLOR, TERM=dumb."""

import os

import pytest
from textual.widgets import Static

from lab4_tui.screens.task_screen import TaskScreen
from tests import sampled

from .conftest import TerminalApp, finish_run, start_held_run


@pytest.mark.slow  # a worker fault: test_worker_app's killed worker; an error result: core/test_faults
async def test_error_in_a_run_is_shown_and_the_next_run_works(app_factory, monkeypatch, tmp_path):
    fail = tmp_path / "fail"  # while it exists, generate_function raises inside the worker
    fail.touch()
    monkeypatch.setenv("LAB4_WORKER_PRELUDE", "tests.worker_hooks")
    monkeypatch.setenv("LAB4_TEST_FAIL", str(fail))
    app = app_factory(task="minimize")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        status = str(screen.query_one("#status", Static).render())
        assert status.startswith("error: ZeroDivisionError")
        assert any("ZeroDivisionError" in line for line in screen.log_pane.entries)
        fail.unlink()
        screen.query_one("#in-steps").value = "10"
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert str(screen.query_one("#status", Static).render()) == "ok"


@pytest.mark.slow  # core/test_faults' test_divergence_stops_with_step_hint_and_finite_series
async def test_diverged_run_says_the_step_and_keeps_the_finite_curve(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        screen.query_one("#in-lr").value = "100"
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        status = str(screen.query_one("#status", Static).render())
        assert status.startswith("diverged at step") and "lr = 100 is too large" in status
        result = screen.shown[0][1]
        assert len(result.series["loss"]["y"]) == result.step


async def test_full_disk_warns_and_keeps_the_result(app_factory, monkeypatch, tmp_path):
    import sqlite3

    import lab4.store.database

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    full = tmp_path / "full"  # while it exists, the worker's saves fail as SQLite does on a full disk
    full.touch()
    monkeypatch.setenv("LAB4_WORKER_PRELUDE", "tests.worker_hooks")
    monkeypatch.setenv("LAB4_TEST_FULL", str(full))
    monkeypatch.setattr(lab4.store.database, "atomic_write", no_space)  # the app's notes
    app = app_factory(task="autograd")
    told = []
    real_notify = app.notify
    app.notify = lambda message, **kw: (told.append(message), real_notify(message, **kw))  # toasts expire
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        screen = app.screen
        assert screen.shown[0][1].metrics["gradient"] == {"x": 36.0, "y": -6.0}
        assert any("not saved" in m and "full" in m for m in told), told
        assert sqlite3.connect(app.store.db_path).execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        screen.query_one("#notes").load_text("a note")
        assert screen.save_note() is False  # notes cannot be saved either: a warning, no crash
        assert any("Notes are not being saved" in m for m in told)


@pytest.mark.parametrize("size", sampled([(40, 12), (80, 24), (120, 40)]))
async def test_sizes_and_resizing_during_a_run(app_factory, gate, size):
    app = app_factory(task="gated")
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        session = await start_held_run(app, pilot, screen, gate, steps=30)
        for w, h in ((40, 12), (100, 30), (80, 24)):
            await pilot.resize_terminal(w, h)
            await pilot.pause()
            assert screen.session is session  # resized during the run, held at its gate
        gate.open()
        await finish_run(app, pilot)
        assert screen.shown[0][1].status == "ok" and len(screen.shown[0][1].series["loss"]["y"]) == 31
        # the essential controls exist and the run key works at this size
        assert screen.query_one("#run") and screen.query_one("#status")


@pytest.mark.slow  # the quick tier has test_snapshots.test_no_color
async def test_no_color(app_factory, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_factory(task="derivatives")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert app.no_color
        assert isinstance(app.screen, TaskScreen) and app.screen.shown[0][1].status == "ok"


@pytest.mark.parametrize("term", sampled(["dumb", "vt100", "screen", "tmux-256color"]))
def test_real_terminal_types_start_and_quit(tmp_path, term):
    app = TerminalApp(
        ["--task", "2"], {"LAB4_DATA_DIR": str(tmp_path), "TERM": term, "LAB4_CONFIG": str(tmp_path / "c.toml")}
    )
    try:
        assert app.wait_for(b"Derivatives"), app.last_screen()
        os.write(app.fd, b"q")
        assert app.wait_exit() == 0
    finally:
        app.close()


@pytest.mark.slow  # a pty; the Log tab is shown by the page-key test
def test_the_log_tab_shows_the_runs_lines_in_a_real_terminal(tmp_path):
    """Reached with ctrl+t after a run, the Log tab draws its lines. (A pilot gets a Show event
    for the pane; a real terminal does not: a log that waited for one stayed blank there.)"""
    env = {"LAB4_DATA_DIR": str(tmp_path), "TERM": "xterm-256color", "LAB4_CONFIG": str(tmp_path / "c.toml")}
    app = TerminalApp(["--task", "minimize", "--steps", "50"], env)
    try:
        assert app.wait_for(b"Minimise"), app.last_screen()
        assert app.press_until(b"\x12", b"100%"), app.last_screen()  # ctrl+r; the run ended
        os.write(app.fd, b"\x14" * 4)  # Loss -> Distance -> Trajectory -> Phase -> Results
        assert app.wait_for(b"steps_to_tol"), "the Results tab was not drawn; " + app.last_screen()
        assert b"isotropic" not in app.output  # the log's words were nowhere on screen so far
        os.write(app.fd, b"\x14")  # -> Log
        assert app.wait_for(b"isotropic"), "the Log tab stayed blank; " + app.last_screen()
    finally:
        app.close()
