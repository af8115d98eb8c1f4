"""Snapshots of the screens: home, each task after a short deterministic run, a comparison,
History, settings, an error state, NO_COLOR and a light theme.

Review a changed snapshot (pytest --snapshot-report) before accepting it with
--snapshot-update.
"""

import math

import pytest
from textual.geometry import Region

from lab4.core.events import Result
from lab4.present.reproduce import command_line
from lab4.tasks import TASKS
from lab4_tui.app import make_app
from tests import sampled

from .conftest import run_with, workers_done

SIZE = (100, 30)

#: the snapshots that compute a real run compute it in float64.  In float32 a number shown to
#: six digits holds the CPU's round-off: another CPU's sums (its BLAS kernels' order) moved an
#: mlp comparison's sharpness from 4.87253 to 4.87254 after 250 steps.  In float64 round-off is
#: ~1e-16 of a value and grows far less than 1e10-fold in these short runs: it cannot reach a
#: sixth digit or move a point to another cell of a plot.
DTYPE = "float64"

SHORT_RUNS = {
    "autograd": {},
    "derivatives": {"points": "200"},
    "minimize": {"steps": "100", "complexity": "3"},
    "mlp": {"steps": "40", "hidden": "16"},
    "clipped-ce": {"steps": "20", "hidden": "8"},
    "scaled-mse": {"steps": "20", "hidden": "8", "scale": "1,10"},
}


@pytest.fixture(autouse=True)
def quiet_config(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB4_CONFIG", str(tmp_path / "config.toml"))


def runner(app, values, key="ctrl+r", tab=None):
    async def run_before(pilot):
        screen = await run_with(app, pilot, values, key)
        await workers_done(app)  # a legend that grew re-sizes its plot: the last picture
        await pilot.pause()
        if tab:
            screen.open_tab(tab)
            await pilot.pause()
            await workers_done(app)
            await pilot.pause()
        app.clear_notifications()  # a toast expires by the clock: whether it is still up depends on speed
        await pilot.pause()

    return run_before


def test_home_screen(snap_compare, tmp_path):
    assert snap_compare(make_app(data_dir=tmp_path, warm_torch=False), terminal_size=SIZE)


@pytest.mark.parametrize("task_id", sampled(list(SHORT_RUNS)))
def test_task_screen_after_a_run(snap_compare, tmp_path, task_id):
    app = make_app(task=task_id, data_dir=tmp_path, dtype=DTYPE, warm_torch=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=runner(app, SHORT_RUNS[task_id]))


@pytest.mark.slow  # test_app's compare test reads the sentence
def test_compare_with_its_sentence(snap_compare, tmp_path):
    app = make_app(task="mlp", data_dir=tmp_path, dtype=DTYPE, warm_torch=False)
    assert snap_compare(
        app, terminal_size=SIZE, run_before=runner(app, {"steps": "250", "hidden": "16"}, key="c", tab="tab-results")
    )


@pytest.mark.slow  # the Phase view is drawn by test_legends' test_every_mark_drawn_is_in_the_legend
def test_minimize_phase_diagram_at_80x24(snap_compare, tmp_path):
    app = make_app(task="minimize", data_dir=tmp_path, dtype=DTYPE, warm_torch=False)
    assert snap_compare(
        app,
        terminal_size=(80, 24),
        run_before=runner(
            app, {"complexity": "3", "optimizer": "momentum", "lr": "0.5", "beta": "0.6"}, tab="tab-phase"
        ),
    )


@pytest.mark.slow  # History is drawn by the quick History tests
def test_history(snap_compare, tmp_path):
    app = make_app(task="minimize", data_dir=tmp_path, warm_torch=False)
    app.store.save_runs(
        [
            Result(
                id=f"2026010{i}T000000-minimize-abcdef",
                task="minimize",
                started=f"2026-01-0{i}T00:00:00",
                params={
                    "dim": 2,
                    "complexity": 3,
                    "optimizer": opt,
                    "lr": 0.25,
                    "beta": 0.9,
                    "steps": 1000,
                    "tol": 1e-6,
                },
                metrics={"final_loss": 10.0**-i},
                group="g1" if i < 4 else "",
                label=f"optimizer={opt}" if i < 4 else "",
                marked=i == 2,
            )
            for i, opt in enumerate(["gd", "momentum", "nesterov", "gd"], 1)
        ]
    )
    app.store.set_marked(["20260102T000000-minimize-abcdef"])

    async def open_history(pilot):
        app.screen.open_tab("tab-history")
        await pilot.pause()
        await workers_done(app)
        table = app.screen.query_one("#history")
        for _ in range(100):  # the table sizes its columns to the rows when idle: wait for it
            await pilot.pause(0.02)
            first = table.render_lines(Region(0, 1, table.size.width, 1))[0]
            if not app.workers and "01-04 00:00" in first.text:
                break

    assert snap_compare(app, terminal_size=SIZE, run_before=open_history)


def test_settings(snap_compare, tmp_path):
    app = make_app(data_dir=tmp_path, warm_torch=False)
    assert snap_compare(app, terminal_size=SIZE, press=["s"])


@pytest.mark.slow  # test_app's test_bad_value_is_marked_and_run_refused and test_bad_compare_is_refused
def test_an_error_in_the_form(snap_compare, tmp_path):
    app = make_app(task="minimize", data_dir=tmp_path, warm_torch=False)

    async def bad_values(pilot):
        app.screen.query_one("#in-lr").value = "-1"
        app.screen.query_one("#compare").value = "dim=2,x"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=bad_values)


def canned_derivatives_errors() -> Result:
    """A task 2 result whose Errors view holds fixed curves, one per method, decades apart.

    The real curves are the methods' errors, down to round-off: which cell a point falls in
    there depends on the CPU's vector paths for sin and exp (a snapshot of them held one
    machine's noise).  These are smooth, machine-independent, and as many as the real ones."""
    from lab4.tasks.derivatives import METHODS

    x = [-5 + 10 * k / 199 for k in range(200)]
    series = {
        f"error {m}": {"x": x, "y": [10.0 ** (-2 - i) * (1.5 + math.sin(v + i)) for v in x]}
        for i, m in enumerate(METHODS)
    }
    params = TASKS["derivatives"].spec.parse({"points": 200})
    return Result(
        id="20260101T000000-derivatives-abcdef",
        task="derivatives",
        params=TASKS["derivatives"].spec.to_json(params),
        series=series,
        metrics={f"rmse_{m}": 10.0 ** (-2 - i) for i, m in enumerate(METHODS)},
        started="2026-01-01T00:00:00",
        ended="2026-01-01T00:00:01",
    )


async def show_canned(app, pilot, result: Result, tab: str) -> None:
    """What a finished run does to its screen (status, progress, the runs shown), with a canned result."""
    screen = app.screen
    screen.control.load(TASKS[result.task].spec.parse(result.params), {})
    screen.control.set_status(result.describe())
    screen.control.show_progress(1.0)
    screen.show_runs([("", result)], command_line(screen.task_def, result.params, "cpu", "float32", 0, {}))
    screen.open_tab(tab)
    await pilot.pause()
    await workers_done(app)
    await pilot.pause()


def test_no_color(snap_compare, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(task="derivatives", data_dir=tmp_path, warm_torch=False)
    result = canned_derivatives_errors()
    assert snap_compare(app, terminal_size=SIZE, run_before=lambda pilot: show_canned(app, pilot, result, "tab-errors"))


@pytest.mark.slow  # a light theme: test_app's settings test
def test_light_theme(snap_compare, tmp_path):
    app = make_app(task="minimize", data_dir=tmp_path, dtype=DTYPE, warm_torch=False)

    async def light(pilot):
        app.theme = "textual-light"
        await runner(app, {"steps": "100", "complexity": "2"})(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=light)
