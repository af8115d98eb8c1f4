import asyncio
import os
import re
import time

import pytest

from lab4_tui.app import make_app
from tests import HANG_S


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


class Gate:
    """The gate of a ``gated`` run (tests/fake_tasks.py): the run holds before its last step
    until the test opens the gate."""

    def __init__(self, path):
        self.path = path

    def open(self) -> None:
        self.path.touch()

    @property
    def held(self) -> bool:
        """Whether a run (in any process) has reached this gate."""
        from tests.fake_tasks import held_path

        return os.path.exists(held_path(str(self.path)))


@pytest.fixture
def gate(tmp_path):
    return Gate(tmp_path / "gate")


def notices(app) -> list[str]:
    """The messages ``app`` notifies from now on, in order (each still shown as a toast)."""
    told: list[str] = []
    real = app.notify
    app.notify = lambda message, **kw: (told.append(message), real(message, **kw))
    return told


async def until(pilot, condition, what: str, timeout: float = HANG_S):
    """Let the app work until ``condition()`` holds; fail after ``timeout`` s (a hang, not a speed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting, after {timeout:g} s, for {what}"
        await pilot.pause(0.01)


async def start_held_run(app, pilot, screen, gate, steps=5):
    """Start a ``gated`` run of ``steps`` steps and return once it is held at its gate: it has
    computed and shown steps 0..steps-1 and waits, on the compute side, for ``gate.open()``."""
    screen.query_one("#in-steps").value = str(steps)
    screen.query_one("#in-gate").value = str(gate.path)
    await pilot.pause()
    await pilot.press("ctrl+r")
    await until(
        pilot,
        lambda: (
            screen.session is not None
            and screen.session.runs
            and screen.session.runs[0].builder.progress.step == steps - 1
        ),
        "the run to reach its gate",
    )
    return screen.session


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
    """``lab4-tui`` in a real pseudo-terminal: wait for text, send keys or signals, wait for exit.

    ``python`` replaces ``-m lab4_tui`` (e.g. ``["-c", code]``); ``args`` follow it.  The child
    inherits this process's environment (the test task's registration) updated with ``env``."""

    def __init__(self, args, env, python=("-m", "lab4_tui")):
        import os
        import pty
        import sys

        self.output = bytearray()  # everything the app wrote so far
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the app
            os.environ.update(env)
            os.execv(sys.executable, [sys.executable, *python, *args])

    def _read(self, seconds: float) -> bytes:
        """What the app wrote within ``seconds`` (never blocks longer: the app may be silent)."""
        import os
        import select

        ready, _, _ = select.select([self.fd], [], [], seconds)
        if not ready:
            return b""
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return b""
        self.output += data
        return data

    def last_screen(self) -> str:
        """The screen as the app last drew it, for a failed assertion: its writes replayed on
        a grid of cells (cursor moves, line clears and text; colours and modes dropped)."""
        rows: dict[int, list[str]] = {}
        y = x = 0
        text = bytes(self.output).decode("utf-8", "replace")
        for csi, args, final, other, char in re.findall(
            r"(\x1b\[([0-9;?:<=>]*)[ -/]*([@-~]))|(\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_])|(.)", text, re.S
        ):
            if csi:
                if final in "Hf":
                    parts = [int(p) if p.isdigit() else 1 for p in (args.split(";") + ["1", "1"])[:2]]
                    y, x = parts[0] - 1, parts[1] - 1
                elif final == "K":
                    del rows.setdefault(y, [])[x:]
            elif other:
                continue
            elif char == "\r":
                x = 0
            elif char == "\n":
                y += 1
            elif char >= " ":
                row = rows.setdefault(y, [])
                row.extend(" " * (x + 1 - len(row)))
                row[x] = char
                x += 1
        lines = ["".join(rows.get(i, [])).rstrip() for i in range(max(rows, default=-1) + 1)]
        return "the screen as the app left it:\n" + "\n".join(lines)

    def wait_for(self, text: bytes, timeout: float = HANG_S) -> bool:
        """Whether ``text`` appeared in the output within ``timeout`` (the app draws in pieces:
        wait for words of a title, not for a value it may redraw cell by cell)."""
        seen, deadline = b"", time.monotonic() + timeout
        while time.monotonic() < deadline and text not in seen:
            seen += self._read(0.1)
        return text in seen

    def press_until(self, key: bytes, text: bytes, tries: int = 2, timeout: float = HANG_S / 2) -> bool:
        """Send ``key`` until ``text`` shows.  Call it once the app has drawn its screen: a key
        typed before the app took the terminal can be eaten by the terminal's line editing
        (ctrl+r is its "reprint"); another try only guards against that."""
        import os

        for _ in range(tries):
            os.write(self.fd, key)
            if self.wait_for(text, timeout):
                return True
        return False

    def wait_exit(self, timeout: float = HANG_S) -> int | None:
        """The exit status, or None if it did not exit in time."""
        import os

        end = time.monotonic() + timeout
        while time.monotonic() < end:
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
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)
