"""The lab4 terminal app: a home screen, one screen per task (an app mode each), dialogs.

The app's process never imports torch: every computation runs in a compute worker process
(:mod:`lab4.engine.worker`, driven by :class:`lab4_tui.compute.Compute`), started in the background
after the first paint and kept warm; its state (starting torch, ready, computing, restarted
after a fault) is shown in the header.  Whatever ends the app (quit, a closed terminal, an
unexpected error) stops the computation at its next step; the worker saves what it computed,
and the app leaves; an unexpected error exits with status 1.  A worker that dies is a run
with status error, never a dead app.
"""

from __future__ import annotations

import asyncio
import sys
from functools import partial
from pathlib import Path
from typing import Any, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import Reactive
from textual.screen import Screen

from lab4.core.context import RunContext, jobs_count
from lab4.core.events import Result
from lab4.core.spec import ParamError
from lab4.maths.device import device_label, parse_device
from lab4.store import Store, StoreError
from lab4.tasks import TASK_IDS, TASKS
from lab4.tasks import specs as task_specs
from lab4_tui.compute import READY, Compute, ComputeState
from lab4_tui.config import Settings, config_path, load_settings, save_settings
from lab4_tui.screens.dialogs import ConfirmScreen, HelpScreen, HomeScreen, SettingsScreen

__all__ = ["Lab4App", "make_app"]


#: The GIL switch interval while the app runs.  The event loop gives up the GIL at each
#: select() on its file descriptors; a plot picture built in a thread (plotext, ~10-30 ms of
#: Python) or the compute thread then holds it, and the loop asks for it back only after the
#: switch interval (Python's default: 5 ms).  Measured: select(0) calls that returned 8-12 ms
#: late in the worst timer gaps of a streamed run.  Worst 20 ms timer gap of a streamed
#: 4,000-step mlp run, twenty runs each, alternated: median 29.95 ms (24.5-33.0, half of them
#: over 30) at 5 ms, 26.8 ms (24.6-29.6) at 1 ms.
SWITCH_INTERVAL_S = 0.001


def _task_screen(task_id: str, params: dict[str, Any] | None = None, compare: str = "") -> Screen:
    """Task screens (and plotext, tables, text areas) load when first opened, not at start."""
    from lab4_tui.screens.task_screen import TaskScreen

    return TaskScreen(task_id, params, compare)


class Lab4App(App):
    """The tensor-differentiation lab in the terminal."""

    CSS_PATH = "app.tcss"
    TITLE = "lab4-tui"
    #: the header's second half: the worker's state | device | dtype | seed.  Textual's own
    #: repaints the whole screen when it changes (~25 ms at 120x40, at each run's start and
    #: end); the header watches it and repaints its title, which is all that changes.
    sub_title: Reactive[str] = Reactive("", compute=False, repaint=False)
    AUTO_FOCUS = None
    MODES = {"home": HomeScreen, **{tid: partial(_task_screen, tid) for tid in TASK_IDS}}
    DEFAULT_MODE = "home"
    BINDINGS = [
        *[
            Binding(task.key, f"open('{task.id}')", task.id, show=False, id=f"task-{task.key}")
            for task in TASKS.values()
        ],
        Binding("0,h", "open('home')", "Home", show=False, id="home"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("s", "settings", "Settings", show=False, id="settings"),
        Binding("ctrl+e", "report", "Report", show=False, id="report"),  # not priority: end of line in fields
        Binding("f6", "report", "Report", show=False, priority=True, id="report-f6"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(
        self,
        task: str | None = None,
        params: dict[str, Any] | None = None,
        compare: str = "",
        device: str | None = None,
        dtype: str | None = None,
        seed: int | None = None,
        data_dir: Path | str | None = None,
        warm_torch: bool = True,
        config: Path | None = None,
    ):
        self.config_path = config or config_path()
        self.settings, self._config_warnings = load_settings(self.config_path)
        super().__init__()
        self.device = device or self.settings.device
        self.dtype = dtype or self.settings.dtype
        self.seed = self.settings.seed if seed is None else seed
        self.store = Store(data_dir, specs=task_specs())
        self.start_task = task
        if task:
            self._modes[task] = partial(_task_screen, task, params, compare)
        self.warm_torch = warm_torch
        self._note_warned = False
        self._theme_kept = False  # on_mount applies the saved theme first
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        #: the compute worker (a process of its own) and the thread that talks to it
        self.compute = Compute(self.post_message, self.store.root, jobs_count(self.settings.jobs))
        self._device_checked = self.device == "cpu"

    # ---- lifecycle

    async def run_async(self, *args: Any, **kwargs: Any) -> Any:
        """Run with a GIL switch interval of :data:`SWITCH_INTERVAL_S` (restored after): the
        event loop, waiting for the interpreter, asks the plot and compute threads for it
        after 1 ms instead of 5."""
        before = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        try:
            return await super().run_async(*args, **kwargs)
        finally:
            sys.setswitchinterval(before)

    def on_mount(self) -> None:
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        self._theme_kept = True  # from now on a theme chosen anywhere is saved
        self.update_subtitle()
        for warning in self._config_warnings:
            self.notify(warning, severity="warning", timeout=10)
        if self.start_task:
            self.switch_mode(self.start_task)
        try:
            import signal

            loop = asyncio.get_running_loop()
            for sig in (signal.SIGHUP, signal.SIGTERM):
                loop.add_signal_handler(sig, self.shut_down)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            pass  # not the main thread (tests) or no signals on this platform
        if self.warm_torch:
            self.set_timer(0.5, self._warm)

    def _warm(self) -> None:
        """Start the compute worker (it imports torch in its own process) after the first paint."""
        self.compute.start()
        _freeze_gc()

    def on_compute_state(self, message: ComputeState) -> None:
        if message.state == READY and not self._device_checked and self.compute.machine is not None:
            self._device_checked = True
            try:
                self.device = parse_device(self.device, self.compute.machine)
            except ParamError as exc:
                self.notify(f"{exc.message}: runs use the cpu.", severity="warning", timeout=10)
                self.device = "cpu"
        self.update_subtitle()

    def on_unmount(self) -> None:
        self.compute.close()  # the worker ends a run in flight at its next step, saves it, exits

    def shut_down(self) -> None:
        """Save every note, stop every run at its next step (what it computed is saved), exit."""
        self.save_all_notes()
        self.stop_computations()
        self.exit()

    def stop_computations(self, wait: bool = False) -> None:
        """Cancel every live session and let it go: the worker ends its run (saved as
        cancelled), and the messages still posted are ignored by the closing screens.  With
        ``wait``, return once the worker has saved it and exited."""
        for screen in self._task_screens():
            if screen.session is not None:
                screen.session.cancel()
                screen.session = None
        self.compute.close(wait=wait)

    def _handle_exception(self, error: Exception) -> None:
        """An unexpected error anywhere: stop the computation first, then Textual restores the
        terminal, prints the error and exits with status 1."""
        try:
            self.save_all_notes()
            self.stop_computations()
        finally:
            super()._handle_exception(error)

    def save_all_notes(self) -> None:
        for screen in self._task_screens():
            try:
                screen.save_note()
            except Exception:  # noqa: BLE001 - a note that cannot be saved was already warned about
                pass

    def _task_screens(self) -> Iterable[Any]:
        from lab4_tui.screens.task_screen import TaskScreen

        for stack in self._screen_stacks.values():
            for screen in stack:
                if isinstance(screen, TaskScreen):
                    yield screen

    def running_screens(self) -> list[Any]:
        return [s for s in self._task_screens() if s.running]

    async def action_quit(self) -> None:
        running = self.running_screens()
        if not running:
            self.shut_down()
            return
        names = ", ".join(s.task_def.id for s in running)
        question = f"A run of {names} is computing. Quit anyway? It is saved as cancelled with every step it computed."

        def answer(yes: bool | None) -> None:
            if yes:
                self.shut_down()

        self.push_screen(ConfirmScreen(question, yes="Quit", no="Keep running"), answer)

    def watch_theme(self, theme: str) -> None:
        """A theme chosen anywhere (Settings, or the command palette's "Change theme", which
        knows nothing of our settings) is saved in the settings file, so it outlives the app."""
        if not getattr(self, "_theme_kept", False) or theme == self.settings.theme:
            return
        self.settings.theme = theme
        try:
            save_settings(self.settings, self.config_path)
        except OSError as exc:
            self.notify(f"Theme {theme} not saved: {exc.strerror or exc}", severity="warning", timeout=8)

    # ---- actions

    def action_open(self, mode: str) -> None:
        self.switch_mode(mode)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_settings(self) -> None:
        def apply(values: dict | None) -> None:
            if not values:
                return
            self.device, self.dtype, self.seed = values["device"], values["dtype"], values["seed"]
            self.settings = Settings(
                self.device, self.dtype, self.seed, values["theme"], keys=self.settings.keys, jobs=values["jobs"]
            )
            self.compute.jobs = jobs_count(values["jobs"])  # from the next comparison on
            self.theme = values["theme"]  # saved below, with the rest
            self.update_subtitle()
            try:
                save_settings(self.settings, self.config_path)
                kept = f" (saved in {self.config_path})"
            except OSError as exc:
                kept = f" (not saved: {exc.strerror or exc})"
            self.notify(
                f"Runs now use {device_label(self.device, self.compute.machine)}, {self.dtype}, seed {self.seed}{kept}."
            )

        themes = sorted(self.available_themes)
        self.push_screen(
            SettingsScreen(self.device, self.dtype, self.seed, self.theme, themes, self.settings.jobs), apply
        )

    def action_report(self) -> None:
        self.save_all_notes()
        self.run_worker(self._write_report, thread=True, exclusive=True, group="report")

    def _write_report(self) -> None:
        from lab4.present.report import write_report

        try:
            path, _ = write_report(self.store)
        except (OSError, StoreError) as exc:
            self.call_from_thread(self.notify, f"Report failed: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, f"Report written to {path}", timeout=10)

    def update_subtitle(self) -> None:
        state = self.compute.state  # first: at 80 columns the end of the line is what gets cut
        self.sub_title = (
            "" if state == "not started" else f"{state} | "
        ) + f"{device_label(self.device, self.compute.machine)} | {self.dtype} | seed {self.seed}"

    def keys_for(self, binding_id: str, default: str) -> str:
        """The keys of a binding, the user's override first (for the help)."""
        return self._keymap.get(binding_id, default)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        from lab4_tui.palette import commands

        yield from super().get_system_commands(screen)
        yield from commands(self, screen)

    # ---- data, used by the screens (and the compute thread)

    def run_context(self) -> RunContext:
        return RunContext(device=self.device, dtype=self.dtype, seed=self.seed)

    def save_run(self, result: Result) -> str:
        """Save a run the worker could not (it died): "" when saved, else the reason. Thread-safe."""
        try:
            self.store.save_run(result)
        except (OSError, StoreError) as exc:
            return str(exc)
        return ""

    def save_note(self, task_id: str, text: str, base: str | None = None) -> Any:
        """Write a task's notes; False when they could not be written.  With ``base`` (what
        the pane read) the store's NoteWrite: another app's changes merged, or kept apart."""
        try:
            if base is not None:
                written = self.store.write_note(task_id, text, base)
                self._note_warned = False
                return written
            self.store.save_note(task_id, text)
        except OSError as exc:
            if not self._note_warned:
                self._note_warned = True
                self.notify(f"Notes are not being saved: {exc.strerror or exc}", severity="error", timeout=10)
            return False
        self._note_warned = False
        return True

    def export_results(self, results: list[Result]) -> list[Path]:
        from lab4.present.report import export_run

        return [p for r in results for p in export_run(self.store, r)]


def _freeze_gc() -> None:
    """Move the app's long-lived objects out of the collector's way (a full collection
    would pause the event loop in the middle of a run)."""
    import gc

    gc.collect()
    gc.freeze()


def make_app(**kwargs: Any) -> Lab4App:
    return Lab4App(**kwargs)
