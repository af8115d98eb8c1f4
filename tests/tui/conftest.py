import pytest

from lab4_tui.app import make_app


@pytest.fixture
def app_factory(tmp_path):
    def factory(**kwargs):
        kwargs.setdefault("data_dir", tmp_path / "data")
        kwargs.setdefault("warm_torch", False)
        return make_app(**kwargs)

    return factory


async def finish_run(app, pilot):
    """Wait for the run worker, then let the screen apply what it queued (no sleeps)."""
    await app.workers.wait_for_complete()
    app.screen.drain()
    await app.workers.wait_for_complete()  # the plot pictures build in threads too
    await pilot.pause()


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
