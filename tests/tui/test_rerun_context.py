"""ctrl+r while a saved run is shown (issue 21, item 5): the new run computes with the settings'
dtype and seed, not the shown run's; the app says which it uses, from the values it runs with."""

import pytest

from lab4.core.context import RunContext
from lab4.engine.runner import execute
from lab4.tasks import TASKS

from .conftest import finish_run, notices, workers_done

SIZE = (80, 24)


async def show_saved(app, pilot, screen):
    screen.open_tab("tab-history")
    await pilot.pause()
    await workers_done(app)
    await pilot.pause()
    history = screen.query_one("#history")
    history.focus()
    history.move_cursor(row=0)
    await pilot.press("enter")  # shown, the form untouched
    await workers_done(app)
    await pilot.pause()


@pytest.mark.slow  # said for a comparison by the test below
async def test_ctrl_r_on_a_shown_run_says_the_dtype_and_seed_it_runs_with(app_factory):
    app = app_factory(task="minimize")  # settings: float32, seed 0
    spec = TASKS["minimize"].spec
    app.store.save_run(execute("minimize", spec.parse({"steps": 5}), RunContext(dtype="float64", seed=3)))
    told = notices(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await show_saved(app, pilot, screen)
        assert [(r.dtype, r.seed) for _, r in screen.shown] == [("float64", 3)]
        screen.query_one("#in-steps").value = "5"
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        new = screen.shown[0][1]
        said = [m for m in told if m.startswith("The new run uses")]
        assert said == [
            f"The new run uses {new.dtype}, seed {new.seed}; the run shown used float64, seed 3 (s changes the settings)."
        ]
        assert (new.dtype, new.seed) == ("float32", 0) and said[0] in screen.log_pane.entries
        await pilot.press("ctrl+r")  # the screen shows its own run now: nothing to say
        await finish_run(app, pilot)
        assert len([m for m in told if m.startswith("The new run uses")]) == 1


async def test_a_compare_seed_is_the_one_said(app_factory):
    app = app_factory(task="minimize", seed=3)
    app.store.save_run(
        execute("minimize", TASKS["minimize"].spec.parse({"steps": 5}), RunContext(dtype="float32", seed=3))
    )
    told = notices(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await show_saved(app, pilot, screen)
        screen.query_one("#in-steps").value = "5"
        screen.query_one("#compare").value = "seed=1,2"
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert sorted(r.seed for _, r in screen.shown) == [1, 2]
        assert [m for m in told if m.startswith("The new run uses")] == [
            "The new run uses float32, seeds 1, 2; the run shown used float32, seed 3 (s changes the settings)."
        ]
