"""The home screen and the dialogs: help, settings, and "quit during a run?"."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, Markdown, OptionList, Select, Static
from textual.widgets.option_list import Option

from lab4.core.context import DTYPES, device_syntax, parse_dtype, parse_jobs, parse_seed
from lab4.core.events import Result, format_value
from lab4.core.spec import ParamError
from lab4.maths.device import parse_device
from lab4.store import StoreError
from lab4.tasks import TASK_IDS, TASKS, task_keys
from lab4_tui.widgets.title_bar import TitleBar

__all__ = ["HomeScreen", "HelpScreen", "SettingsScreen", "ConfirmScreen", "KEYS"]

#: (binding id, default keys, what it does): the help's table, with the user's overrides applied
KEYS = (
    ("task-N", task_keys(), "open a task (outside the form)"),
    ("home", "0, h", "home screen (outside the form)"),
    ("run", "ctrl+r, F5", "run the task (anywhere; r outside the form)"),
    ("escape", "escape", "leave a field, the tab strip or a table; then cancel the run"),
    ("next-tab", "ctrl+t", "next tab of the task screen (anywhere, inside fields too)"),
    ("compare", "c", "compare preset (gd vs momentum vs Nesterov, clip bounds, ...)"),
    ("export", "x", "export the shown run(s) as JSON and CSV"),
    ("copy", "y", "copy the Results tab: the lab4 command, the sentence, every table (OSC 52)"),
    ("history-mark", "m", "History: mark a run (kept between sessions)"),
    ("history-overlay", "o", "History: overlay the marked runs"),
    ("history-comparison", "g", "History: open the run's whole comparison"),
    ("history-load", "l", "History: load the run's parameters into the form (not during a run)"),
    ("history-find", "/", "History: filter the runs (enter or escape: back to the table)"),
    ("report", "ctrl+e, F6", "write the lab report (in a text field ctrl+e edits, F6 works)"),
    ("settings", "s", "settings: device, dtype, seed, parallel runs, theme (saved)"),
    ("help", "?", "this help"),
    ("quit", "q, ctrl+q", "quit (asks first while a run computes; notes are saved)"),
)


class HomeScreen(Screen):
    """The list of the tasks with the state of their last run."""

    AUTO_FOCUS = "#tasks"

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="home"):
            yield Static(
                f"[b]Tensor differentiation lab[/b] - pick a task ({task_keys()}, or enter).  "
                "ctrl+r runs, escape cancels, ? help, ctrl+p commands, q quits.",
                id="home-intro",
            )
            yield OptionList(*[Option(self._prompt(t.id, None), id=t.id) for t in TASKS.values()], id="tasks")
            yield Static("", id="task-about")
        yield Footer()

    @staticmethod
    def _prompt(task_id: str, last: Result | None) -> str:
        task = TASKS[task_id]
        if last is None:
            state = "no runs yet"
        else:
            value = last.metrics.get(task.headline)
            whose = f" [{last.label}]" if last.label else ""
            state = last.describe() + (f", {task.headline}{whose} = {format_value(value)}" if value is not None else "")
        return f"[b]{task.key}[/b]  {task_id:<12} {task.title:<30} [i]{escape(state)}[/i]"

    def on_mount(self) -> None:
        self.refresh_states()

    def on_screen_resume(self) -> None:
        self.refresh_states()

    @work(thread=True, exclusive=True, group="home")
    def refresh_states(self) -> None:
        try:
            last = {task_id: self.app.store.latest(task_id) for task_id in TASK_IDS}
        except StoreError as exc:
            self.app.call_from_thread(self.query_one("#task-about", Static).update, escape(str(exc)))
            return
        self.app.call_from_thread(self._show_states, last)

    def _show_states(self, last: dict[str, Result | None]) -> None:
        options = self.query_one("#tasks", OptionList)
        for task_id in TASK_IDS:
            options.replace_option_prompt(task_id, self._prompt(task_id, last.get(task_id)))

    @on(OptionList.OptionHighlighted, "#tasks")
    def _about(self, event: OptionList.OptionHighlighted) -> None:
        task = TASKS[event.option.id]
        self.query_one("#task-about", Static).update(
            f"[b]{task.title}[/b] (handout task {task.number}): {escape(task.summary)}.\n\n{escape(task.help)}"
        )

    @on(OptionList.OptionSelected, "#tasks")
    def _open(self, event: OptionList.OptionSelected) -> None:
        self.app.switch_mode(event.option.id)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    AUTO_FOCUS = "#help"

    def compose(self) -> ComposeResult:
        rows = "\n".join(
            f"| {escape(self.app.keys_for(binding_id, keys))} | {text} | `{binding_id}` |"
            for binding_id, keys, text in KEYS
        )
        keys = (
            "| key | action | binding id |\n|---|---|---|\n" + rows + "\n\n"
            "Digits and letters act only outside the form: while a field, a select, a switch or the "
            "Run button has the focus, they are typed or ignored, never a command (escape leaves the form).\n\n"
            'Remap a key in the settings file (`[keys]`, e.g. `next-tab = "f2"`): '
            f"`{escape(str(self.app.config_path))}`.\n\n"
            "The **compare** field runs a sweep: `optimizer=gd,momentum lr=0.1,0.01` (list parameters "
            "separate alternatives with `;`: `hidden=64,64;32`). `ctrl+p` finds tasks, tabs and actions."
        )
        tasks = "\n".join(
            f"### {t.key}. {t.title} (`{t.id}`, handout {t.number})\n\n```\n{t.help}\n```\n" for t in TASKS.values()
        )
        with VerticalScroll(id="help"):
            yield Markdown("# lab4-tui keys\n\n" + keys + "\n\n# Tasks and formulas\n\n" + tasks)
            yield Button("Close (escape)", id="close", compact=True)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class SettingsScreen(ModalScreen[dict | None]):
    """Device, dtype, seed and theme; the device is checked in a thread, against what the
    compute worker found on the machine (the app never imports torch)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#device"

    def __init__(self, device: str, dtype: str, seed: int, theme: str, themes: list[str], jobs: int | str = 1):
        super().__init__()
        self.values = (device, dtype, seed, theme)
        self.jobs = jobs
        self.themes = themes

    def compose(self) -> ComposeResult:
        device, dtype, seed, theme = self.values
        with Vertical(id="settings"):
            yield Static("[b]Settings[/b] (enter applies and saves them)")
            yield Label("device: cpu, cuda, cuda:N, mps, auto")
            yield Input(device, id="device", compact=True)
            yield Label("dtype")
            yield Select([(d, d) for d in DTYPES], value=dtype, allow_blank=False, id="dtype", compact=True)
            yield Label("seed")
            yield Input(str(seed), id="seed", compact=True)
            yield Label("parallel runs: N or auto (a compare's)")
            yield Input(str(self.jobs), id="jobs", compact=True)
            yield Label("theme")
            # a list in the dialog, not a Select: a Select's overlay of 20 themes drew over the
            # dialog's border and off its bottom (at 80x24 below the screen's footer)
            yield OptionList(*[Option(t, id=t) for t in self.themes], id="theme")
            yield Static("", id="settings-error", classes="field-error")
            with Horizontal(id="settings-buttons"):
                yield Button("Apply", id="apply", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        theme = self.values[3]
        self.query_one("#theme", OptionList).highlighted = self.themes.index(theme) if theme in self.themes else 0

    @property
    def theme(self) -> str:
        """The theme highlighted in the list."""
        option = self.query_one("#theme", OptionList).highlighted_option
        return option.id if option is not None and option.id else self.values[3]

    @on(Button.Pressed, "#apply")
    @on(Input.Submitted)
    @on(OptionList.OptionSelected, "#theme")
    def _apply(self) -> None:
        self.query_one("#settings-error", Static).update("checking...")
        self.check(
            self.query_one("#device", Input).value,
            self.query_one("#dtype", Select).value,
            self.query_one("#seed", Input).value,
            self.theme,
            self.query_one("#jobs", Input).value,
        )

    @work(thread=True, exclusive=True)
    def check(self, device: str, dtype: Any, seed: str, theme: Any, jobs: str = "1") -> None:
        try:
            text = device_syntax(device)
            machine = None if text == "cpu" else self.app.compute.machine_info()
            if machine is None and text != "cpu":
                raise ParamError("device", "the compute worker did not start: only cpu can be checked now")
            values = {
                "device": parse_device(device, machine),
                "dtype": parse_dtype(dtype),
                "seed": parse_seed(seed),
                "theme": str(theme),
                "jobs": parse_jobs(jobs),
            }
        except ParamError as exc:
            self.app.call_from_thread(self.query_one("#settings-error", Static).update, exc.message)
            return
        self.app.call_from_thread(self.dismiss, values)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; escape and n say no."""

    BINDINGS = [Binding("escape,n", "answer(False)", "No"), Binding("y", "answer(True)", "Yes")]
    AUTO_FOCUS = "#no"

    def __init__(self, question: str, yes: str = "Yes", no: str = "No"):
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(self.question)
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error", compact=True)
                yield Button(f"{self.no} (n)", id="no", variant="primary", compact=True)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
