"""The app driven through Textual's pilot: navigation, forms, runs, cancel, notes."""


import pytest
from textual.widgets import DataTable, Input, Static, TextArea, Tree

from lab4_tui.app import HelpScreen, HomeScreen
from lab4_tui.plots import SeriesPlot
from lab4_tui.task_screen import TaskScreen, parse_compare
from lab4.tasks import TASK_IDS, TASKS
from lab4.spec import ParamError

from .conftest import finish_run

SIZE = (100, 30)


async def set_field(pilot, screen, name, text):
    field = screen.query_one(f"#in-{name}")
    field.value = text
    await pilot.pause()


async def test_keys_navigate_every_screen(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, HomeScreen)
        for number, task_id in enumerate(TASK_IDS, 1):
            await pilot.press(str(number))
            assert isinstance(app.screen, TaskScreen) and app.screen.task_def.id == task_id
            assert app.focused is None  # no field grabs the keys when a screen opens
            await pilot.press("0")
            assert isinstance(app.screen, HomeScreen)
        await pilot.press("4", "h")
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, HomeScreen)


async def test_home_enter_opens_the_highlighted_task(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down", "down", "enter")
        assert app.screen.task_def.id == "minimize"


async def test_typed_keys_stay_in_the_field(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        lr = screen.query_one("#in-lr", Input)
        lr.focus()
        lr.value = ""
        await pilot.press("1", "r", "q", "h", "3")
        assert lr.value == "1rqh3"
        assert isinstance(app.screen, TaskScreen) and app.screen.task_def.id == "minimize"
        await pilot.press("escape")  # leaves the field
        assert app.focused is None


async def test_bad_value_is_marked_and_run_refused(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await set_field(pilot, screen, "lr", "-1")
        field = screen.query_one("#field-lr")
        assert field.has_class("-invalid")
        assert "lr must be > 0, got -1" in str(field.query_one(".field-error", Static).render())
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        assert not screen.runs
        assert "not run" in str(screen.query_one("#status", Static).render())
        await set_field(pilot, screen, "lr", "abc")
        assert "lr must be a number" in str(field.query_one(".field-error", Static).render())
        await set_field(pilot, screen, "lr", "0.05")
        assert not field.has_class("-invalid")


async def test_run_updates_status_table_and_plot(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await set_field(pilot, screen, "steps", "120")
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert str(screen.query_one("#status", Static).render()) == "ok"
        metrics = screen.query_one("#metrics", DataTable)
        assert metrics.row_count >= 5
        rows = {metrics.get_row_at(i)[0]: metrics.get_row_at(i)[1] for i in range(metrics.row_count)}
        assert rows["status"] == "ok" and "final_loss" in rows
        plot = screen.query_one("#plot-loss", SeriesPlot)
        assert len(plot.runs) == 1 and len(plot.runs[0][1]["loss"]["y"]) == 121
        # the run was saved
        assert len(app.store.list_runs("minimize").runs) == 1


async def test_cancel_keeps_partial_result_and_next_run_is_clean(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await set_field(pilot, screen, "steps", "5000000")
        await pilot.press("ctrl+r")
        while not screen.progress_of:
            await pilot.pause(0.05)
            screen.drain()
        await pilot.press("escape")
        await finish_run(app, pilot)
        assert "cancelled at step" in str(screen.query_one("#status", Static).render())
        result = screen.runs[0][1]
        assert result.status == "cancelled" and 0 < len(result.series["loss"]["y"]) < 5000001
        await set_field(pilot, screen, "steps", "50")
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert screen.runs[0][1].status == "ok" and len(screen.runs[0][1].series["loss"]["y"]) == 51


async def test_second_run_replaces_the_first(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await set_field(pilot, screen, "steps", "5000000")
        await pilot.press("ctrl+r")
        await set_field(pilot, screen, "steps", "30")
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert len(screen.runs) == 1
        assert screen.runs[0][1].params["steps"] == 30 and screen.runs[0][1].status == "ok"
        assert len(screen.runs[0][1].series["loss"]["y"]) == 31


async def test_compare_preset_overlays_three_optimizers(app_factory):
    app = app_factory(task="mlp")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await set_field(pilot, screen, "steps", "20")
        await set_field(pilot, screen, "hidden", "8")
        await pilot.press("c")
        await finish_run(app, pilot)
        assert [label for label, _ in screen.runs] == ["optimizer=gd", "optimizer=momentum", "optimizer=nesterov"]
        assert screen.query_one("#metrics", DataTable).row_count == 3
        # same initial weights: the three loss curves start at the same value
        assert len({r.series["loss"]["y"][0] for _, r in screen.runs}) == 1


async def test_bad_compare_is_refused(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#compare", Input).value = "lr=0.1,-2"
        await pilot.press("ctrl+r")
        assert "lr must be > 0" in str(screen.query_one("#compare-error", Static).render())
        assert not screen.runs


async def test_autograd_graph_tree(app_factory):
    app = app_factory(task="autograd")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        tree = app.screen.query_one("#graph", Tree)
        labels = []

        def walk(node):
            labels.append(str(node.label))
            for child in node.children:
                walk(child)

        walk(tree.root)
        assert labels[0].startswith("SubBackward0")
        assert any("leaf x" in label for label in labels) and any("leaf y" in label for label in labels)


async def test_notes_are_saved_as_typed(app_factory, tmp_path):
    app = app_factory(task="derivatives")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+e")  # a report with nothing yet must not crash
        await app.workers.wait_for_complete()
        area = screen.query_one("#notes", TextArea)
        area.focus()
        await pilot.press(*"central", "ctrl+e", *" wins")  # ctrl+e stays an editing key in the notes
        assert area.text == "central wins"
        await pilot.press("f6")  # the report key that works inside fields
        await app.workers.wait_for_complete()
        assert (tmp_path / "data" / "report.md").read_text().startswith("# Laboratory 4")
        screen.save_note()  # what the debounce timer calls
        assert (tmp_path / "data" / "notes" / "derivatives.md").read_text() == "central wins"


async def test_settings_refuses_missing_cuda(app_factory):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        modal = app.screen
        modal.query_one("#device", Input).value = "cuda"
        await pilot.click("#apply")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "not available" in str(modal.query_one("#settings-error", Static).render())
        assert app.device == "cpu"


async def test_small_terminal_does_not_crash(app_factory):
    app = app_factory(task="mlp")
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.press("0", "5", "question_mark", "escape", "3")
        assert isinstance(app.screen, TaskScreen)


def test_parse_compare():
    from lab4_tui.task_screen import compare_text

    spec = TASKS["mlp"].spec
    for text in ("optimizer=gd,momentum hidden=8;4,4", "lr=0.1,0.01 dtype=float32,float64"):
        assert compare_text(spec, parse_compare(spec, text)) == text
    axes = parse_compare(spec, "optimizer=gd,momentum hidden=8;4,4 dtype=float32,float64")
    assert axes == {"optimizer": ["gd", "momentum"], "hidden": [(8,), (4, 4)], "dtype": ["float32", "float64"]}
    with pytest.raises(ParamError):
        parse_compare(spec, "nosuch=1,2")
    with pytest.raises(ParamError):
        parse_compare(spec, "lr")


async def test_switching_screens_during_a_run(app_factory):
    app = app_factory(task="mlp")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await set_field(pilot, screen, "steps", "600")
        await set_field(pilot, screen, "hidden", "16")
        await pilot.press("ctrl+r")
        await pilot.press("0", "2", "0")  # away while it runs
        assert isinstance(app.screen, HomeScreen)
        await app.workers.wait_for_complete()
        await pilot.press("4")  # back: the run finished while we were away
        assert app.screen is screen
        await finish_run(app, pilot)
        assert screen.runs[0][1].status == "ok" and str(screen.query_one("#status", Static).render()) == "ok"
        assert len(screen.query_one("#plot-loss", SeriesPlot).runs[0][1]["loss"]["y"]) == 601
