"""The lab4 terminal app: a home screen, one screen per task (an app mode each), help.

Importing this module does not import torch: the first screen paints at once, and torch
is loaded by the first run's worker thread (or warmed in the background after start).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Iterable

from rich.markup import escape
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Header, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from lab4.context import DTYPES, device_label, parse_device, parse_dtype, parse_seed
from lab4.events import Result
from lab4.spec import ParamError
from lab4.store import Store
from lab4.tasks import TASK_IDS, TASKS

__all__ = ["Lab4App", "make_app"]


class HomeScreen(Screen):
    """The list of the six tasks with the state of their last run."""

    AUTO_FOCUS = "#tasks"

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home"):
            yield Static(
                "[b]Tensor differentiation lab[/b] - pick a task (1-6, or enter).  "
                "ctrl+r runs, escape cancels, ? help, ctrl+p commands, q quits.",
                id="home-intro",
            )
            yield OptionList(*[Option(self._prompt(i, t.id, None), id=t.id) for i, t in enumerate(TASKS.values(), 1)],
                             id="tasks")
            yield Static("", id="task-about")
        yield Footer()

    @staticmethod
    def _prompt(number: int, task_id: str, last: Result | None) -> str:
        task = TASKS[task_id]
        if last is None:
            state = "no runs yet"
        else:
            value = last.metrics.get(task.headline)
            shown = f"{value:.4g}" if isinstance(value, float) else value
            state = last.describe() + (f", {task.headline} = {shown}" if value is not None else "")
        return f"[b]{number}[/b]  {task_id:<12} {task.title:<30} [i]{state}[/i]"

    def on_mount(self) -> None:
        self.refresh_states()

    def on_screen_resume(self) -> None:
        self.refresh_states()

    @work(thread=True, exclusive=True, group="home")
    def refresh_states(self) -> None:
        listing = self.app.store.list_runs()
        last: dict[str, Result] = {}
        for r in listing.runs:
            last[r.task] = r
        self.app.call_from_thread(self._show_states, last)

    def _show_states(self, last: dict[str, Result]) -> None:
        options = self.query_one("#tasks", OptionList)
        for i, task_id in enumerate(TASK_IDS, 1):
            options.replace_option_prompt(task_id, self._prompt(i, task_id, last.get(task_id)))

    @on(OptionList.OptionHighlighted, "#tasks")
    def _about(self, event: OptionList.OptionHighlighted) -> None:
        task = TASKS[event.option.id]
        self.query_one("#task-about", Static).update(
            f"[b]{task.title}[/b] (handout task {task.number}): {task.summary}.\n\n{escape(task.help)}"
        )

    @on(OptionList.OptionSelected, "#tasks")
    def _open(self, event: OptionList.OptionSelected) -> None:
        self.app.switch_mode(event.option.id)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        keys = """\
| key | action |
|---|---|
| 1-6 | open a task (when no field has focus) |
| 0 / h | home screen |
| ctrl+r / F5 (r) | run the task (works inside fields) |
| escape | leave a field; otherwise cancel the run |
| c | compare preset (gd vs momentum vs Nesterov, clip bounds, ...) |
| x | export the shown run(s) as JSON and CSV |
| ctrl+e / F6 | write the lab report (Markdown); in a text field ctrl+e edits, F6 still works |
| m / o | in History: mark a run / overlay the marked runs |
| s | settings: device, dtype, seed |
| ? | this help |
| ctrl+p | command palette |
| q / ctrl+q | quit |

The **compare** field runs a sweep: `optimizer=gd,momentum lr=0.1,0.01`
(list parameters separate alternatives with `;`: `hidden=64,64;32`).
"""
        tasks = "\n".join(
            f"### {i}. {t.title} (`{t.id}`, handout {t.number})\n\n```\n{t.help}\n```\n"
            for i, t in enumerate(TASKS.values(), 1)
        )
        from textual.widgets import Markdown

        with VerticalScroll(id="help"):
            yield Markdown("# lab4-tui keys\n\n" + keys + "\n# Tasks and formulas\n\n" + tasks)
            yield Button("Close (escape)", id="close", compact=True)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class SettingsScreen(ModalScreen[dict | None]):
    """Device, dtype and seed; the device is checked (it may import torch) in a thread."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, device: str, dtype: str, seed: int):
        super().__init__()
        self.values = (device, dtype, seed)

    def compose(self) -> ComposeResult:
        device, dtype, seed = self.values
        with Vertical(id="settings"):
            yield Static("[b]Settings[/b] (apply with enter)")
            yield Label("device: cpu, cuda, cuda:N, mps, auto")
            yield Input(device, id="device", compact=True)
            yield Label("dtype")
            yield Select([(d, d) for d in DTYPES], value=dtype, allow_blank=False, id="dtype", compact=True)
            yield Label("seed")
            yield Input(str(seed), id="seed", compact=True)
            yield Static("", id="settings-error", classes="field-error")
            with Horizontal(id="settings-buttons"):
                yield Button("Apply", id="apply", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    @on(Button.Pressed, "#apply")
    @on(Input.Submitted)
    def _apply(self) -> None:
        self.query_one("#settings-error", Static).update("checking...")
        self.check(self.query_one("#device", Input).value, self.query_one("#dtype", Select).value,
                   self.query_one("#seed", Input).value)

    @work(thread=True, exclusive=True)
    def check(self, device: str, dtype: Any, seed: str) -> None:
        try:
            values = {"device": parse_device(device), "dtype": parse_dtype(dtype), "seed": parse_seed(seed)}
        except ParamError as exc:
            self.app.call_from_thread(self.query_one("#settings-error", Static).update, exc.message)
            return
        self.app.call_from_thread(self.dismiss, values)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _task_screen(task_id: str) -> Screen:
    """Task screens (and plotext, tables, text areas) load when first opened, not at start."""
    from lab4_tui.task_screen import TaskScreen

    return TaskScreen(task_id)


class Lab4App(App):
    """The tensor-differentiation lab in the terminal."""

    CSS_PATH = "app.tcss"
    TITLE = "lab4-tui"
    AUTO_FOCUS = None
    MODES = {"home": HomeScreen, **{tid: partial(_task_screen, tid) for tid in TASK_IDS}}
    DEFAULT_MODE = "home"
    BINDINGS = [
        *[Binding(str(i), f"open('{tid}')", tid, show=False) for i, tid in enumerate(TASK_IDS, 1)],
        Binding("0", "open('home')", "Home", show=False),
        Binding("h", "open('home')", "Home"),
        Binding("question_mark", "help", "Help"),
        Binding("s", "settings", "Settings"),
        Binding("ctrl+e", "report", "Report"),  # not priority: ctrl+e is end-of-line in text fields
        Binding("f6", "report", "Report", show=False, priority=True),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, task: str | None = None, device: str = "cpu", dtype: str = "float32", seed: int = 0,
                 data_dir: Path | str | None = None, warm_torch: bool = True):
        super().__init__()
        self.device = device
        self.dtype = dtype
        self.seed = seed
        self.store = Store(data_dir)
        self.start_task = task
        self.warm_torch = warm_torch
        self._note_warned = False
        self._probe: BenchProbe | None = None
        #: the one thread on which every torch computation of the app runs (see TaskScreen)
        self.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lab4-compute", initializer=_import_torch)

    # ---- lifecycle

    def on_mount(self) -> None:
        self.update_subtitle()
        if self.start_task:
            self.switch_mode(self.start_task)
        try:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGHUP, signal.SIGTERM):
                loop.add_signal_handler(sig, self.hang_up)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            pass  # not the main thread (tests) or no signals on this platform
        probe = os.environ.get("LAB4_BENCH_PROBE")
        if probe:
            self._probe = BenchProbe(self, json.loads(probe))
        elif self.warm_torch:
            self.set_timer(0.5, self._warm)

    def _warm(self) -> None:
        async def warm() -> None:
            await asyncio.wrap_future(self.compute.submit(int))  # starts the thread: imports torch
            _freeze_gc()

        self.run_worker(warm(), group="warm", exit_on_error=False)

    def hang_up(self) -> None:
        """The terminal closed (SIGHUP) or we were asked to stop (SIGTERM): keep the notes, leave."""
        self.shut_down()

    def shut_down(self) -> None:
        """Save every note, stop every run at its next step (what it computed is saved), exit."""
        self.save_all_notes()
        for screen in self._task_screens():
            if screen.ctx is not None:
                screen.ctx.cancel()
        self.compute.shutdown(wait=False, cancel_futures=True)
        self.exit()

    def save_all_notes(self) -> None:
        for screen in self._task_screens():
            screen.save_note()

    def _task_screens(self) -> Iterable[Any]:
        from lab4_tui.task_screen import TaskScreen

        for stack in self._screen_stacks.values():
            for screen in stack:
                if isinstance(screen, TaskScreen):
                    yield screen

    async def action_quit(self) -> None:
        self.shut_down()

    # ---- actions

    def action_open(self, mode: str) -> None:
        self.switch_mode(mode)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_settings(self) -> None:
        def apply(values: dict | None) -> None:
            if values:
                self.device, self.dtype, self.seed = values["device"], values["dtype"], values["seed"]
                self.update_subtitle()
                self.notify(f"Runs now use {device_label(self.device)}, {self.dtype}, seed {self.seed}.")

        self.push_screen(SettingsScreen(self.device, self.dtype, self.seed), apply)

    def action_report(self) -> None:
        self.write_report()

    @work(thread=True, exclusive=True, group="report")
    def write_report(self) -> None:
        from lab4.report import write_report

        self.call_from_thread(self.save_all_notes)
        try:
            path = write_report(self.store)
        except OSError as exc:
            self.call_from_thread(self.notify, f"Report failed: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, f"Report written to {path}", timeout=10)

    def update_subtitle(self) -> None:
        self.sub_title = f"{device_label(self.device)} | {self.dtype} | seed {self.seed}"

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for i, task in enumerate(TASKS.values(), 1):
            yield SystemCommand(f"Task {i}: {task.title} ({task.id})", task.summary, partial(self.switch_mode, task.id))
        yield SystemCommand("Home", "The list of tasks", partial(self.switch_mode, "home"))
        yield SystemCommand("Settings: device, dtype, seed", "Where and how runs compute", self.action_settings)
        yield SystemCommand("Write the lab report", "One Markdown file with every task's latest run and notes",
                            self.action_report)
        yield SystemCommand("Keys and formulas", "The help screen", self.action_help)
        if hasattr(screen, "action_run"):
            yield SystemCommand("Run this task", "Same as ctrl+r", screen.action_run)
            yield SystemCommand("Cancel the run", "Same as escape", lambda: screen.ctx and screen.ctx.cancel())
            yield SystemCommand("Compare preset", "Sweep that answers the handout's compare question",
                                screen.action_preset)
            yield SystemCommand("Export the shown run(s)", "JSON and CSV", screen.action_export)

    # ---- data, used by the screens (and their workers)

    def save_run(self, result: Result) -> bool | str:
        """Save a finished run; True, or the reason it could not be saved. Thread-safe."""
        try:
            self.store.save_run(result)
        except OSError as exc:
            return exc.strerror or str(exc)
        return True

    def save_note(self, task_id: str, text: str) -> bool:
        try:
            self.store.save_note(task_id, text)
        except OSError as exc:
            if not self._note_warned:
                self._note_warned = True
                self.notify(f"Notes are not being saved: {exc.strerror or exc}", severity="error", timeout=10)
            return False
        self._note_warned = False
        return True

    def export_results(self, results: list[Result]) -> list[Path]:
        from lab4.report import export_run

        return [p for r in results for p in export_run(self.store, r)]

    def task_finished(self, task_id: str, result: Result) -> None:
        """A task screen finished a run (the home screen refreshes when shown)."""
        if self._probe is not None:
            self._probe.finished(result)


class BenchProbe:
    """``lab4 bench`` drives the app through this (``LAB4_BENCH_PROBE`` = JSON spec).

    It loads torch, sets the task form's values, starts one run, measures the largest gap
    of a 20 ms timer while the run goes, writes its figures to ``spec["out"]`` and exits.
    """

    def __init__(self, app: "Lab4App", spec: dict[str, Any]):
        self.app = app
        self.spec = spec
        self.max_gap = 0.0
        self.last = 0.0
        self.started = 0.0
        app.run_worker(self._load_torch, thread=True, group="probe")

    def _load_torch(self) -> None:
        self.app.compute.submit(int).result()  # starts the compute thread, which imports torch
        self.app.call_from_thread(_freeze_gc)
        self.app.call_from_thread(self.app.set_timer, 0.3, self.start)

    def start(self) -> None:
        screen = self.app.screen
        screen.query_one("#form").set_values(self.spec.get("params", {}))
        self.started = time.time()
        self.last = time.perf_counter()
        self.app.set_interval(0.02, self.tick)
        screen.action_run()

    def tick(self) -> None:
        now = time.perf_counter()
        self.max_gap = max(self.max_gap, now - self.last)
        self.last = now

    def finished(self, result: Result) -> None:
        rss_mb = 0.0
        try:
            with open("/proc/self/status") as fh:
                rss_mb = next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmRSS"))
        except (OSError, StopIteration):
            pass
        report = {"run_started": self.started, "run_ended": time.time(), "duration_s": result.duration_s,
                  "status": result.status, "max_gap_s": self.max_gap, "rss_mb": rss_mb}
        Path(self.spec["out"]).write_text(json.dumps(report))

        self.app.exit()


def _import_torch() -> None:
    """Load torch on the compute thread (so the first run starts at once), and leave the
    UI one core: torch's intra-op threads spin at their barriers, so a UI thread that
    takes a core they count on slows a whole parallel region, not just its own share."""
    import torch

    cores = os.cpu_count() or 1
    if cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)


def _freeze_gc() -> None:
    """Move the app's and torch's long-lived objects out of the collector's way.

    Without this a full collection (hundreds of thousands of objects once torch is
    loaded) pauses every thread for ~100 ms in the middle of a run.
    """
    import gc

    gc.collect()
    gc.freeze()


def make_app(**kwargs: Any) -> Lab4App:
    return Lab4App(**kwargs)
