import asyncio
import time

import pytest

from lab4_tui.app import make_app


@pytest.fixture(autouse=True)
def config_file(tmp_path, monkeypatch):
    """Every app of the tests reads and writes its settings in the test's own directory."""
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("LAB4_CONFIG", str(path))
    return path


@pytest.fixture
def app_factory(tmp_path):
    def factory(**kwargs):
        kwargs.setdefault("data_dir", tmp_path / "data")
        kwargs.setdefault("warm_torch", False)
        return make_app(**kwargs)

    return factory


#: bounds a hang only: every wait below returns as soon as what it waits for happened
HANG_S = 120


async def computed(app, pilot):
    """Wait until every run submitted so far has ended and its screen has handled the run's
    own messages (its SessionFinished: the screen's session is gone), no sleeps."""
    deadline = time.monotonic() + HANG_S
    while app.running_screens() or not app.compute.wait_idle(0):
        assert time.monotonic() < deadline, "the runs did not end"
        await pilot.pause(0.01)
    await pilot.pause()


async def workers_done(app):
    """Wait for the app's workers.  A plot picture replaced by a newer one is cancelled: that is
    how the plots keep up, not a failure (Textual's ``wait_for_complete`` raises on it)."""
    from textual.worker import WorkerState

    while True:
        live = [w for w in app.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        if not live:
            return
        await asyncio.gather(*(w.wait() for w in live), return_exceptions=True)
        await asyncio.sleep(0.01)  # a pending worker starts


async def finish_run(app, pilot):
    """Wait for the runs, their messages, and the plot pictures built in threads."""
    await computed(app, pilot)
    await workers_done(app)
    await pilot.pause()


async def start_long_run(app, pilot, screen, steps="5000000"):
    """Run the screen's task for ``steps`` steps and return once it is under way."""
    screen.query_one("#in-steps").value = steps
    await pilot.pause()
    await pilot.press("ctrl+r")
    await started(app, pilot, screen)


async def run_with(app, pilot, values, key="ctrl+r"):
    """Type ``values`` into the form, press ``key`` (ctrl+r runs, c a preset) and wait for the end."""
    screen = app.screen
    for name, value in values.items():
        screen.query_one(f"#in-{name}").value = value
    await pilot.pause()
    await pilot.press(key)
    await finish_run(app, pilot)
    return screen


async def started(app, pilot, screen):
    """Wait until the live session has its first events (a long run is under way)."""
    deadline = time.monotonic() + HANG_S
    while screen.session is None or not screen.session.runs or not screen.session.runs[0].builder.progress.step:
        assert time.monotonic() < deadline, "the run did not start"
        await pilot.pause(0.02)


class TerminalApp:
    """``lab4-tui`` in a real pseudo-terminal: wait for text, send keys or signals, wait for exit."""

    def __init__(self, args, env):
        import os
        import pty
        import sys

        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the app
            os.environ.update(env)
            os.execv(sys.executable, [sys.executable, "-m", "lab4_tui", *args])

    def _read(self, seconds: float) -> bytes:
        """What the app wrote within ``seconds`` (never blocks longer: the app may be silent)."""
        import os
        import select

        ready, _, _ = select.select([self.fd], [], [], seconds)
        if not ready:
            return b""
        try:
            return os.read(self.fd, 65536)
        except OSError:
            return b""

    def wait_for(self, text: bytes, timeout: float = 30) -> bool:
        """Whether ``text`` appeared in the output within ``timeout`` (the app draws in pieces:
        wait for words of a title, not for a value it may redraw cell by cell)."""
        import time

        seen, deadline = b"", time.time() + timeout
        while time.time() < deadline and text not in seen:
            seen += self._read(0.1)
        return text in seen

    def press_until(self, key: bytes, text: bytes, tries: int = 3, timeout: float = 20) -> bool:
        """Send ``key`` until ``text`` shows (a key sent while the app still starts can be lost)."""
        import os

        self.wait_for(b"\x00", timeout=1.0)  # let the first frames settle
        for _ in range(tries):
            os.write(self.fd, key)
            if self.wait_for(text, timeout):
                return True
        return False

    def wait_exit(self, timeout: float = 20) -> int | None:
        """The exit status, or None if it did not exit in time."""
        import os
        import time

        end = time.time() + timeout
        while time.time() < end:
            self._read(0.05)  # keep the terminal drained: a full pty would block the app's writes
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        return None

    def close(self) -> None:
        import os
        import signal

        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(self.fd)
