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
