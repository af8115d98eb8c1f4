"""Snapshots of the home screen and of each task screen after a short deterministic run.

Review a changed snapshot (pytest --snapshot-report) before accepting it with
--snapshot-update.
"""

import pytest

from lab4_tui.app import make_app

from .conftest import finish_run

SIZE = (100, 30)

SHORT_RUNS = {
    "autograd": {},
    "derivatives": {"points": "200"},
    "minimize": {"steps": "100"},
    "mlp": {"steps": "40", "hidden": "16"},
    "clipped-ce": {"steps": "20", "hidden": "8"},
    "scaled-mse": {"steps": "20", "hidden": "8", "scale": "1,10"},
}


def test_home_screen(snap_compare, tmp_path):
    assert snap_compare(make_app(data_dir=tmp_path, warm_torch=False), terminal_size=SIZE)


@pytest.mark.parametrize("task_id", list(SHORT_RUNS))
def test_task_screen_after_a_run(snap_compare, tmp_path, task_id):
    app = make_app(task=task_id, data_dir=tmp_path, warm_torch=False)

    async def run_before(pilot):
        screen = app.screen
        for name, value in SHORT_RUNS[task_id].items():
            screen.query_one(f"#in-{name}").value = value
        await pilot.pause()
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
