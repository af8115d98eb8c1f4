import asyncio

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


async def computed(app, pilot):
    """Wait until the compute thread has done everything submitted so far, and the screen
    has handled the messages it posted (no sleeps)."""
    await asyncio.wrap_future(app.compute.submit(int))
    await pilot.pause()


async def finish_run(app, pilot):
    """Wait for the runs, their messages, and the plot pictures built in threads."""
    await computed(app, pilot)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def started(app, pilot, screen):
    """Wait until the live session has its first events (a long run is under way)."""
    while screen.session is None or not screen.session.runs or not screen.session.runs[0].builder.progress.step:
        await pilot.pause(0.05)


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

    def wait_for(self, text: bytes, timeout: float = 30) -> bool:
        import os
        import time

        seen, deadline = b"", time.time() + timeout
        while time.time() < deadline and text not in seen:
            try:
                seen += os.read(self.fd, 65536)
            except OSError:
                break
        return text in seen

    def wait_exit(self, timeout: float = 20) -> int | None:
        """The exit status, or None if it did not exit in time."""
        import os
        import time

        end = time.time() + timeout
        while time.time() < end:
            try:
                os.read(self.fd, 65536)
            except OSError:
                pass
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
            time.sleep(0.05)
        return None

    def close(self) -> None:
        import os
        import signal

        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(self.fd)
