"""The app driven through Textual's pilot: navigation, forms, runs, cancel, notes, settings."""

import sys

import pytest
from textual.widgets import DataTable, Input, Select, Static, Switch, TextArea, Tree

from lab4.tasks import TASK_IDS
from lab4_tui.app import SWITCH_INTERVAL_S, HelpScreen, HomeScreen
from lab4_tui.screens.dialogs import ConfirmScreen, SettingsScreen
from lab4_tui.screens.task_screen import TaskScreen
from lab4_tui.widgets.plots import SeriesPlot
from tests import sampled

from .conftest import finish_run, notices, start_held_run, workers_done

SIZE = (100, 30)


async def set_field(pilot, screen, name, text):
    field = screen.query_one(f"#in-{name}")
    field.value = text
    await pilot.pause()


def status(screen) -> str:
    return screen.control.status_text


@pytest.mark.slow  # every task and back; test_switching_screens_during_a_run keys home and a task, the remap test the help
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


async def test_the_app_runs_with_a_1_ms_gil_switch_interval_and_puts_the_old_one_back(app_factory):
    """While it runs (``lab4-tui``, the bench's driver: ``run``/``run_async``), the event loop asks
    the plot and compute threads for the interpreter after 1 ms, not Python's 5."""
    before = sys.getswitchinterval()
    seen = []

    async def auto_pilot(pilot):
        seen.append(sys.getswitchinterval())
        pilot.app.exit()

    await app_factory().run_async(headless=True, size=(100, 30), auto_pilot=auto_pilot)
    assert before != pytest.approx(SWITCH_INTERVAL_S)  # Python's 5 ms, or what the caller set
    assert seen == [pytest.approx(SWITCH_INTERVAL_S)]
    assert sys.getswitchinterval() == before


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


@pytest.mark.parametrize("widget", sampled(["#run", "#in-optimizer", "#in-compare"]))
async def test_digits_and_letters_on_any_form_control_are_not_commands(app_factory, widget):
    """Typing 1000 on the Run button once opened task 1, home, task 4 and ran mlp."""
    task = "clipped-ce" if widget == "#in-compare" else "minimize"
    app = app_factory(task=task)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one(widget).focus()
        await pilot.press("1", "0", "0", "0", "4", "r", "c", "x", "h", "s", "q", "question_mark", "m", "o")
        assert app.screen is screen  # no task switch, no home, no help, no settings, no quit
        assert screen.session is None and not screen.shown  # nothing ran
        assert app.is_running


async def test_keys_on_a_switch_stay_in_the_form(app_factory):
    app = app_factory(task="clipped-ce")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        switch = screen.query_one("#in-compare", Switch)
        switch.focus()
        await pilot.press("1", "5", "r")
        assert app.screen is screen and screen.session is None
        await pilot.press("space")  # the switch still toggles
        assert switch.value is False


async def test_bad_value_is_marked_and_run_refused(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await set_field(pilot, screen, "lr", "-1")
        field = screen.query_one("#field-lr")
        assert field.has_class("-invalid")
        assert "lr must be > 0, got -1" in str(field.query_one(".field-error", Static).render())
        await pilot.press("ctrl+r")
        assert screen.session is None and not screen.shown
        assert "not run" in status(screen)
        await set_field(pilot, screen, "lr", "abc")
        assert "lr must be a number" in str(field.query_one(".field-error", Static).render())
        await set_field(pilot, screen, "lr", "0.05")
        assert not field.has_class("-invalid")


async def test_run_updates_status_table_plot_and_reproduce_line(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await set_field(pilot, screen, "steps", "120")
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert status(screen) == "ok"
        rows = dict(screen.results_pane.rows)
        assert rows["status"] == "ok" and "final_loss" in rows
        plot = screen.query_one("#plot-loss", SeriesPlot)
        assert len(plot.runs) == 1 and len(plot.runs[0][1]["loss"]["y"]) == 121
        assert len(app.store.list_runs("minimize").runs) == 1  # saved
        screen.open_tab("tab-results")  # the pane fills its widgets when it is shown
        await pilot.pause()
        command = str(screen.query_one("#command", Static).render())
        assert command == "reproduce: lab4 run minimize --steps 120"
        assert "run: lab4 run minimize --steps 120" in screen.log_pane.entries


async def test_cancel_keeps_partial_result_and_next_run_is_clean(app_factory, gate):
    app = app_factory(task="gated")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await start_held_run(app, pilot, screen, gate, steps=8)
        await pilot.press("escape")
        await finish_run(app, pilot)
        assert status(screen) == "cancelled at step 7"
        result = screen.shown[0][1]
        assert result.status == "cancelled" and list(result.series["loss"]["x"]) == list(range(8))  # all it computed
        await set_field(pilot, screen, "gate", "-")
        await set_field(pilot, screen, "steps", "50")
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert screen.shown[0][1].status == "ok" and len(screen.shown[0][1].series["loss"]["y"]) == 51


async def test_second_run_replaces_the_first(app_factory, gate):
    app = app_factory(task="gated")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await start_held_run(app, pilot, screen, gate, steps=6)
        await set_field(pilot, screen, "gate", "-")
        await set_field(pilot, screen, "steps", "30")
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert len(screen.shown) == 1
        assert screen.shown[0][1].params["steps"] == 30 and screen.shown[0][1].status == "ok"
        assert len(screen.shown[0][1].series["loss"]["y"]) == 31
        # the replaced run was stopped and saved as cancelled, not lost
        runs = {r.status: r for r in app.store.list_runs("gated").runs}
        assert sorted(runs) == ["cancelled", "ok"] and runs["cancelled"].step == 5


async def test_compare_preset_overlays_three_optimizers_and_says_who_won(app_factory):
    app = app_factory(task="mlp")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await set_field(pilot, screen, "steps", "250")
        await set_field(pilot, screen, "hidden", "16")
        await pilot.press("c")
        await finish_run(app, pilot)
        assert [label for label, _ in screen.shown] == ["optimizer=gd", "optimizer=momentum", "optimizer=nesterov"]
        assert len(screen.results_pane.rows) == 3
        columns = screen.results_pane.columns
        assert columns[:3] == ["optimizer", "status", "steps_to_target_loss"]  # what the comparison is about
        # same initial weights: the three loss curves start at the same value
        assert len({r.series["loss"]["y"][0] for _, r in screen.shown}) == 1
        steps = {r.params["optimizer"]: r.metrics["steps_to_target_loss"] for _, r in screen.shown}
        screen.open_tab("tab-results")
        await pilot.pause()
        sentence = str(screen.query_one("#sentence", Static).render())
        reached = sorted((s, o) for o, s in steps.items() if s is not None)
        assert reached, steps
        assert sentence.startswith(f"optimizer={reached[0][1]} reached loss <= 0.1 in {reached[0][0]} steps")
        for optimizer, s in steps.items():
            assert (f"optimizer={optimizer} never reached" in sentence) == (s is None)
        assert str(screen.query_one("#command", Static).render()) == (
            "reproduce: lab4 sweep mlp --hidden 16 --optimizer gd,momentum,nesterov --steps 250"
        )


async def test_bad_compare_is_refused(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#compare", Input).value = "lr=0.1,-2"
        await pilot.press("ctrl+r")
        assert "lr must be > 0" in str(screen.query_one("#compare-error", Static).render())
        assert screen.session is None and not screen.shown


@pytest.mark.slow  # the tree is in the quick tier's autograd snapshot
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
        await workers_done(app)
        area = screen.query_one("#notes", TextArea)
        area.focus()
        await pilot.press(*"central", "ctrl+e", *" wins")  # ctrl+e stays an editing key in the notes
        assert area.text == "central wins"
        await pilot.press("f6")  # the report key that works inside fields
        await workers_done(app)
        assert (tmp_path / "data" / "report.md").read_text().startswith("# Laboratory 4")
        screen.save_note()  # what the debounce timer calls
        assert (tmp_path / "data" / "notes" / "derivatives.md").read_text() == "central wins"


async def test_settings_open_focused_refuse_missing_cuda_and_are_kept(app_factory, config_file):
    import torch

    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        modal = app.screen
        assert isinstance(modal, SettingsScreen) and app.focused is modal.query_one("#device", Input)
        if not torch.cuda.is_available():
            modal.query_one("#device", Input).value = "cuda"
            await pilot.press("enter")  # in the device field: apply
            await workers_done(app)
            await pilot.pause()
            assert "not available" in str(modal.query_one("#settings-error", Static).render())
            assert "--device" not in str(modal.query_one("#settings-error", Static).render())  # no CLI flags here
            assert app.device == "cpu"
        modal.query_one("#device", Input).value = "cpu"
        modal.query_one("#dtype", Select).value = "float64"
        modal.query_one("#seed", Input).value = "7"
        themes = modal.query_one("#theme")
        themes.highlighted = themes.get_option_index("textual-light")
        modal.query_one("#apply").focus()
        await pilot.press("enter")
        await workers_done(app)
        await pilot.pause()
        assert (app.dtype, app.seed, app.theme) == ("float64", 7, "textual-light")
    assert 'dtype = "float64"' in config_file.read_text()
    again = app_factory()
    async with again.run_test(size=SIZE):
        assert (again.dtype, again.seed, again.theme) == ("float64", 7, "textual-light")
    flags = app_factory(dtype="float32", seed=3)  # options given on the command line win
    async with flags.run_test(size=SIZE):
        assert (flags.dtype, flags.seed) == ("float32", 3)


async def test_a_key_can_be_remapped_in_the_settings_file(app_factory, config_file):
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text('seed = 2\n[keys]\nnext-tab = "f2"\n')
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        tabs = app.screen.query_one("#tabs")
        assert tabs.active == "tab-loss" and app.seed == 2
        await pilot.press("f2")
        assert tabs.active == "tab-distance"
        await pilot.press("question_mark")
        assert "f2" in str(app.screen.query_one("Markdown")._markdown)


async def test_a_broken_settings_file_is_a_warning_not_a_crash(app_factory, config_file):
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text("device = [this is not toml\n")
    app = app_factory()
    told = notices(app)
    async with app.run_test(size=SIZE):
        assert app.device == "cpu" and any("was not read" in m for m in told)


@pytest.mark.slow  # 40x12: test_sizes_and_resizing_during_a_run's quick case
async def test_small_terminal_does_not_crash(app_factory):
    app = app_factory(task="mlp")
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.press("0", "5", "question_mark", "escape", "3")
        assert isinstance(app.screen, TaskScreen)


async def test_switching_screens_during_a_run(app_factory, gate):
    app = app_factory(task="gated")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await start_held_run(app, pilot, screen, gate, steps=20)
        await pilot.press("0", "2", "0")  # away while it runs
        assert isinstance(app.screen, HomeScreen) and screen.session is not None
        gate.open()
        await finish_run(app, pilot)  # it finishes while we are away
        assert screen.session is None
        await pilot.press(screen.task_def.key)  # back
        assert app.screen is screen
        await finish_run(app, pilot)
        assert screen.shown[0][1].status == "ok" and status(screen) == "ok"
        assert len(screen.query_one("#plot-loss", SeriesPlot).runs[0][1]["loss"]["y"]) == 21


async def test_q_during_a_run_asks_first(app_factory, gate):
    app = app_factory(task="gated")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await start_held_run(app, pilot, screen, gate)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen) and app.focused.id == "no"
        await pilot.press("escape")  # keep running
        assert app.screen is screen and screen.session is not None and app.is_running
        await pilot.press("q", "y")
        await pilot.pause()
    assert app.return_code == 0
    app.compute.close(wait=True)  # the run stops at its next check (it never passed its gate); the worker saves it
    runs = app.store.list_runs("gated").runs
    assert [r.status for r in runs] == ["cancelled"] and runs[0].step == 4


async def test_q_without_a_run_quits_at_once(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0


@pytest.mark.slow  # every tab; the remap test presses next-tab, the palette test opens the palette
async def test_next_tab_key_works_inside_a_field_and_palette_opens_tabs(app_factory):
    app = app_factory(task="derivatives")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        tabs = screen.query_one("#tabs")
        lr = screen.query_one("#in-h", Input)
        lr.focus()
        before = lr.value
        for expected in screen.tabs.tab_ids()[1:] + screen.tabs.tab_ids()[:1]:
            await pilot.press("ctrl+t")
            assert tabs.active == expected
        assert lr.value == before and app.focused is lr  # the field kept its text and the focus
        titles = dict(screen.tabs.tab_titles())
        assert list(titles.values()) == [
            "f and f'",
            "Errors",
            "h float32",
            "h float64",
            "Complex step",
            "Cost vs n",
            "Results",
            "Log",
            "Notes",
            "History",
        ]
        commands = [c.title for c in app.get_system_commands(screen)]
        assert "Tab: History" in commands and "Tab: Results" in commands
        screen.open_tab("tab-history")
        await pilot.pause()
        assert tabs.active == "tab-history" and app.focused is screen.query_one("#history", DataTable)
        await pilot.press("escape")  # out of the table
        assert app.focused is None


@pytest.mark.slow  # escape out of a field: test_typed_keys_stay_in_the_field
async def test_escape_leaves_the_tab_strip(app_factory):
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#tabs Tabs").focus()
        await pilot.press("right")
        assert screen.query_one("#tabs").active == "tab-distance"
        await pilot.press("escape")
        assert app.focused is None


def shown_lines(log) -> list[str]:
    """The log's text as the pane draws it."""
    from textual.geometry import Region

    static = log.text_widget
    return [
        "".join(seg.text for seg in strip).rstrip()
        for strip in static.render_lines(Region(0, 0, static.size.width, static.size.height))
    ]


@pytest.mark.parametrize("reach", ["ctrl+t", "open_tab"])
@pytest.mark.slow  # the Log tab is shown in the quick tier by the page-key test
async def test_the_log_wraps_at_its_pane_width(app_factory, reach):
    app = app_factory(task="clipped-ce")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await set_field(pilot, screen, "steps", "20")
        await set_field(pilot, screen, "hidden", "8")
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        if reach == "open_tab":
            screen.open_tab("tab-log")
        else:  # the way a user gets there: a tab never shown before, reached by keys
            while screen.query_one("#tabs").active != "tab-log":
                await pilot.press("ctrl+t")
                await pilot.pause()
        await pilot.pause()
        log = screen.log_pane
        longest = max(len(e) for e in log.entries)
        width = log.text_widget.size.width
        assert 0 < width < longest  # observations longer than the pane...
        lines = shown_lines(log)
        assert all(len(line) <= width for line in lines)  # ...are wrapped, none cut
        text = "".join(lines).replace(" ", "")
        for entry in log.entries:
            assert entry.replace(" ", "") in text
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        narrower = log.text_widget.size.width
        assert narrower < width and all(len(line) <= narrower for line in shown_lines(log))


@pytest.mark.slow  # the copy key: test_copy_and_export's test_copy_sends_every_variants_metrics
async def test_copy_sends_the_command_and_the_table(app_factory):
    app = app_factory(task="autograd")
    copied = []
    app.copy_to_clipboard = copied.append
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("y")  # nothing yet: a message, no copy
        assert copied == []
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        await pilot.press("y")
        assert copied and copied[0].startswith("lab4 run autograd\n")
        assert "gradient" in copied[0] and "36" in copied[0]


def test_the_help_lists_the_keys_the_bindings_have():
    """The help's key table is written beside the bindings: each binding's keys must be in it."""
    from textual.binding import Binding

    from lab4_tui.app import Lab4App
    from lab4_tui.screens.dialogs import KEYS
    from lab4_tui.screens.task_screen import TaskScreen
    from lab4_tui.widgets.history_pane import HistoryPane

    declared = {
        b.id: b.key
        for owner in (Lab4App, TaskScreen, HistoryPane)
        for b in owner.BINDINGS
        if isinstance(b, Binding) and b.id
    }
    shown = {binding_id: {k.strip().lower() for k in keys.split(",")} for binding_id, keys, _ in KEYS}
    names = {"question_mark": "?", "slash": "/"}
    for binding_id, keys in declared.items():
        if binding_id.startswith("task-"):
            continue  # the help's "1-6" is made from the tasks' keys, as the bindings are
        owner = binding_id.removesuffix("-f5").removesuffix("-f6")
        owner = "run" if owner == "run-r" else owner
        for key in keys.split(","):
            key = names.get(key, key)
            assert key in shown[owner] or (owner == "run" and key == "r"), (binding_id, key, shown[owner])
