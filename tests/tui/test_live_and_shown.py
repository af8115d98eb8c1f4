"""The live run and the shown runs are held apart: opening History during a run cannot touch it.

Reproduces the crash of the first version (task 3, History, mark a run, start a long run,
press o or Enter while it runs: AttributeError, the app died, the run was lost), then checks
what History shows and does.  The run is a ``gated`` one (tests/fake_tasks.py), held in
progress until the test opens its gate: no step count is assumed to outlast anything.
"""

import pytest
from textual.widgets import DataTable, Input, Static

from lab4.core.context import RunContext
from lab4.engine.runner import execute, sweep
from lab4.tasks import TASKS
from tests import sampled

from .conftest import finish_run, notices, start_held_run, workers_done

SIZE = (100, 30)


def saved_runs(store, task, **params):
    spec = TASKS[task].spec
    for p in params.pop("each", [{}]):
        store.save_run(execute(task, spec.parse({**params, **p}), RunContext()))


async def open_history(app, pilot, screen):
    screen.open_tab("tab-history")
    await pilot.pause()
    await workers_done(app)
    await pilot.pause()
    return screen.query_one("#history", DataTable)


@pytest.mark.parametrize("key", sampled(["o", "enter"]))
async def test_opening_history_during_a_run_never_touches_it(app_factory, gate, key):
    app = app_factory(task="gated")
    saved_runs(app.store, "gated", each=[{"steps": 2}, {"steps": 3}])
    told = notices(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        history = await open_history(app, pilot, screen)
        history.move_cursor(row=0)
        await pilot.press("m")
        history.move_cursor(row=1)
        await pilot.press("m")
        session = await start_held_run(app, pilot, screen, gate, steps=40)
        history.focus()
        await pilot.press(key)  # during the run: it is held at its gate until the test opens it
        await workers_done(app)
        await pilot.pause()
        assert app.is_running and screen.session is session  # the run goes on
        assert not screen.showing_live
        opened = [3, 2] if key == "o" else [2]  # o overlays the marked runs (newest first), enter the one at the cursor
        assert [r.params["steps"] for _, r in screen.shown] == opened
        # the live run keeps its own data while the old runs are shown
        live = session.runs[0].builder.result
        assert live.params["steps"] == 40 and list(live.series["loss"]["x"]) == list(range(40))
        gate.open()
        await finish_run(app, pilot)
        assert screen.session is None
        assert [r.params["steps"] for _, r in screen.shown] == opened  # still shown
        assert any("finished (ok)" in m and "first in History" in m for m in told)
        saved = app.store.list_runs("gated", where={"steps": "40"}).runs
        assert [r.status for r in saved] == ["ok"]  # the finished run was saved
        assert list(app.store.load_run(saved[0].id).series["loss"]["x"]) == list(range(41))  # every step
        # after the run, the same keys
        history = await open_history(app, pilot, screen)
        assert history.row_count == 3  # History refreshed when the run ended
        history.move_cursor(row=0)
        await pilot.press(key)
        await workers_done(app)
        await pilot.pause()
        assert screen.shown and app.is_running


@pytest.mark.slow  # History's load key: test_persistence's test_runs_saved_by_cli_and_app_are_listed_by_both
async def test_history_shows_what_differs_and_loads_a_run_into_the_form(app_factory):
    app = app_factory(task="derivatives")
    saved_runs(
        app.store,
        "derivatives",
        points=50,
        each=[{"expr": "sin(x)", "derivative": "cos(x)"}, {"expr": "exp(x)", "derivative": "exp(x)"}],
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        history = await open_history(app, pilot, screen)
        columns = [str(c.label) for c in history.ordered_columns]
        assert "expr" in columns and "derivative" in columns and "points" not in columns  # what differs
        rows = [history.get_row_at(i) for i in range(history.row_count)]
        assert [r[columns.index("expr")] for r in rows] == ["exp(x)", "sin(x)"]  # newest first
        history.move_cursor(row=1)
        await pilot.press("enter")  # shows the run; the form is left alone
        await workers_done(app)
        await pilot.pause()
        assert screen.shown[0][1].params["expr"] == "sin(x)"
        assert screen.query_one("#in-expr", Input).value == "sin(x)*exp(x)"
        await pilot.press("l")  # loads its parameters
        await workers_done(app)
        await pilot.pause()
        assert screen.query_one("#in-expr", Input).value == "sin(x)"
        assert screen.query_one("#in-points", Input).value == "50"
        assert "ctrl+r runs it again" in screen.control.status_text
        await pilot.press("ctrl+r")  # one key re-runs it
        await finish_run(app, pilot)
        assert screen.shown[0][1].params["expr"] == "sin(x)" and screen.shown[0][1].params["points"] == 50


async def test_history_opens_a_whole_comparison_and_filters(app_factory):
    app = app_factory(task="minimize")
    spec = TASKS["minimize"].spec
    for _, r in sweep("minimize", spec.parse({"steps": 40}), {"optimizer": ["gd", "momentum", "nesterov"]}):
        app.store.save_run(r)
    saved_runs(app.store, "minimize", steps=5)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        history = await open_history(app, pilot, screen)
        assert history.row_count == 4
        history.move_cursor(row=2)  # a run of the comparison
        await pilot.press("g")
        await workers_done(app)
        await pilot.pause()
        assert [label for label, _ in screen.shown] == ["optimizer=gd", "optimizer=momentum", "optimizer=nesterov"]
        assert screen.query_one("#compare", Input).value == ""  # showing is not loading
        await pilot.press("l")
        await workers_done(app)
        await pilot.pause()
        assert screen.query_one("#compare", Input).value == "optimizer=gd,momentum,nesterov"  # ready to run again
        assert len(screen.results_pane.rows) == 3
        history = await open_history(app, pilot, screen)
        screen.query_one("#history-filter", Input).value = "optimizer=momentum"
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        assert history.row_count == 1
        screen.query_one("#history-filter", Input).value = "sort=final_loss"
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        losses = [r.metrics["final_loss"] for r in screen.query_one("HistoryPane").rows]
        assert losses == sorted(losses)  # smallest first; sort=-final_loss for largest first
        screen.query_one("#history-filter", Input).value = "nonsense"
        await pilot.pause()
        assert "name=value" in str(screen.query_one("#history-hint", Static).render())


@pytest.mark.slow  # paging the store: core/test_store's ten-thousand-run test
async def test_history_pages_ten_thousand_runs(app_factory):
    from lab4.core.events import Result

    app = app_factory(task="mlp")
    app.store.save_runs(
        [
            Result(
                id=f"r{i:05d}",
                task="mlp",
                started=f"2026-01-01T{i:05d}",
                params={"optimizer": ["gd", "momentum"][i % 2]},
                metrics={"train_accuracy": i / 1e4},
            )
            for i in range(10000)
        ]
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        history = await open_history(app, pilot, screen)
        assert history.row_count == 100  # a page, not ten thousand rows
        assert "100 of 10000 runs" in str(screen.query_one("#history-hint", Static).render())
        history.focus()
        history.move_cursor(row=99)
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        assert history.row_count == 200  # the next page, as the cursor reaches the end
