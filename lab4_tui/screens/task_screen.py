"""One screen per task: the control pane (left), the task's views and the Results, Log, Notes
and History tabs (right).

The screen holds two kinds of runs apart.  The *live* session (:class:`RunSession`, not a
widget) is what is being computed; its runs are drawn as they arrive.  The *shown* runs are
finished results: the session's once it ends, or runs opened from History.  History,
overlay and export only ever touch the shown ones, so nothing the user opens can reach a
computation in flight.  The session talks to the screen in typed messages; each pane is a
widget of its own.
"""

from __future__ import annotations

import time
from collections import Counter
from functools import cached_property
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, TabbedContent, TabPane

from lab4.core.comparison import compare_text
from lab4.core.events import Result
from lab4.core.spec import ParamError
from lab4.present.reproduce import command_line
from lab4.tasks import get_task
from lab4_tui.compute import CANCEL_GRACE_S
from lab4_tui.messages import RunEnded, RunEvents, RunStarted, SessionFinished
from lab4_tui.session import RunSession, describe_dtypes_and_seeds
from lab4_tui.widgets.control_pane import ControlPane
from lab4_tui.widgets.graph_pane import GraphPane
from lab4_tui.widgets.history_pane import HistoryPane
from lab4_tui.widgets.log_pane import LogPane
from lab4_tui.widgets.notes_pane import NotesPane
from lab4_tui.widgets.plots import PlotPane
from lab4_tui.widgets.results_pane import ResultsPane
from lab4_tui.widgets.title_bar import TitleBar
from lab4_tui.widgets.view_tabs import ViewTabs

__all__ = ["TaskScreen"]

PLOT_INTERVAL = (0.25, 1.0)  # seconds between live plot rebuilds: at most 4 a second, at least 1
PLOT_SHARE = 0.04  # ... and the plot thread may take at most ~4% of the time (it shares the GIL)


class TaskScreen(Screen):
    """The screen of one task (one per app mode, so it survives switching away)."""

    AUTO_FOCUS = ""
    BINDINGS = [
        Binding("ctrl+r", "run", "Run", priority=True, id="run"),
        Binding("f5", "run", "Run", show=False, priority=True, id="run-f5"),
        Binding("r", "run", "Run", show=False, id="run-r"),
        Binding("escape", "escape", "Cancel/leave", id="escape"),
        Binding("ctrl+t", "next_tab", "Next tab", priority=True, id="next-tab"),
        Binding("c", "preset", "Compare", id="compare"),
        Binding("x", "export", "Export", show=False, id="export"),
        Binding("y", "copy", "Copy", show=False, id="copy"),
        *[Binding(key, f"scroll_view('{key}')", key, show=False) for key in ("pageup", "pagedown", "home", "end")],
    ]

    def __init__(self, task_id: str, params: dict[str, Any] | None = None, compare: str = ""):
        super().__init__(id=f"screen-{task_id}")
        self.task_def = get_task(task_id)
        self.initial = (params, compare)
        self.session: RunSession | None = None  # the live runs
        self.shown: list[tuple[str, Result]] = []  # finished runs on display
        self.shown_command = ""
        self.shown_saved = False  # the runs shown were opened from History (not this screen's last run)
        self.showing_live = False
        self._last_plot = 0.0
        self._preset = -1  # the compare preset c ran last
        self._end_armed: RunSession | None = None  # a cancelled session a second escape may end
        self.title = f"{task_id} - handout task {self.task_def.number}"

    def compose(self) -> ComposeResult:
        params, compare = self.initial
        yield TitleBar()
        with Horizontal(id="body"):
            yield ControlPane(self.task_def, params and self.task_def.spec.parse(params), compare, id="left")
            with ViewTabs(self.task_def, id="tabs"):
                for title, tab_id, content in ViewTabs.panes(self.task_def):
                    with TabPane(title, id=tab_id):
                        yield content
        yield Footer()

    def on_mount(self) -> None:
        self.call_after_refresh(self._look_up_panes)

    def on_resize(self, event: Any) -> None:
        """At 80 columns the form gives the views 6 of its columns (the answer needs them)."""
        self.query_one("#left").styles.width = 30 if event.size.width < 90 else 36

    def _look_up_panes(self) -> None:
        """Fill the caches below after the first paint, so that a run never pays for it."""
        for name, attribute in vars(TaskScreen).items():
            if isinstance(attribute, cached_property):
                getattr(self, name)
        self.control.form.fields()

    # The panes never change once composed; a query walks the whole screen (~600 widgets),
    # and a run reaches them several times a second.

    @cached_property
    def control(self) -> ControlPane:
        return self.query_one(ControlPane)

    @cached_property
    def log_pane(self) -> LogPane:
        return self.query_one(LogPane)

    @cached_property
    def tabs(self) -> ViewTabs:
        return self.query_one(ViewTabs)

    @cached_property
    def results_pane(self) -> ResultsPane:
        return self.query_one(ResultsPane)

    @cached_property
    def history_pane(self) -> HistoryPane:
        return self.query_one(HistoryPane)

    @cached_property
    def plot_panes(self) -> list[PlotPane]:
        return list(self.query(PlotPane))

    @cached_property
    def graph_panes(self) -> list[GraphPane]:
        return list(self.query(GraphPane))

    @property
    def running(self) -> bool:
        return self.session is not None

    # ---- running

    def action_run(self) -> None:
        try:
            params, axes = self.control.read()
        except ParamError as exc:
            self.control.refuse(exc.param)
            self.app.clear_notifications()  # pressing run again must not stack up toasts
            where = "the compare field" if exc.param == "compare" else "the marked field"
            self.notify(exc.message, title=f"Fix {where}", severity="error")
            return
        for warning in self.task_def.preflight(params) if self.task_def.preflight else ():
            self.log_pane.add(f"warning: {warning}")
            self.notify(warning, title="Before it runs", severity="warning", timeout=8)
        if self.session is not None:
            self.session.cancel()
            self.log_pane.add("previous run cancelled: replaced by a new run")
        compute = self.app.compute
        self.session = RunSession(
            self.task_def,
            params,
            axes,
            self.app.run_context(),
            self.post_message,
            self.app.save_run,
            on_cancel=compute.cancel,
        )
        self._end_armed = None
        if self.shown_saved:  # a saved run is on screen: the new run's dtype and seed may not be its
            self._say_what_runs(self.session)
        self.showing_live = True
        runs = f" {self.session.total} runs" if self.session.total > 1 else ""
        self.control.set_status(
            f"running{runs}..." if compute.ready else f"starting torch: the run{runs} begins once it is loaded..."
        )
        self.log_pane.add(f"run: {self.session.command}")
        self._redraw(settled=True)
        compute.submit(self.session)

    def _say_what_runs(self, session: RunSession) -> None:
        """Say the dtype and seed the new run computes with (the settings', or the compare
        field's), beside those of the saved run shown: ctrl+r never reads them from it."""
        uses = session.uses()
        then = describe_dtypes_and_seeds([(r.dtype, r.seed) for _, r in self.shown])
        text = f"The new run uses {uses}" + (
            ", as the run shown." if uses == then else f"; the run shown used {then} (s changes the settings)."
        )
        self.log_pane.add(text)
        self.notify(text, title="Run", severity="information" if uses == then else "warning", timeout=10)

    def on_run_started(self, message: RunStarted) -> None:
        if message.session is self.session:
            message.session.started(message)
            self._redraw(settled=True)

    def on_run_events(self, message: RunEvents) -> None:
        if message.session is not self.session:
            return  # a replaced session's late events
        for label, text in message.session.apply(message):
            self.log_pane.add(f"[{label}] {text}" if label else text)
        self.control.show_progress(message.session.fraction())
        self.control.set_status(message.session.status())  # lays out only when its height changes
        if time.monotonic() - self._last_plot >= self._plot_interval():
            self._redraw(settled=False)

    def on_run_ended(self, message: RunEnded) -> None:
        if message.session is not self.session:
            return
        run = message.session.ended(message)
        self.log_pane.add(
            f"{run.label + ': ' if run.label else ''}{message.result.describe()}"
            + (f" (not saved: {run.unsaved})" if run.unsaved else "")
        )
        if run.unsaved:
            self.notify(
                f"The run was not saved: {run.unsaved}. It stays on screen; export it with x.",
                severity="warning",
                timeout=8,
            )
        self.control.show_progress(message.session.fraction())
        self._redraw(settled=True)

    def on_session_finished(self, message: SessionFinished) -> None:
        session = message.session
        if session is not self.session:
            return
        self.session = None
        results = session.results()
        if not results:
            self.control.set_status("cancelled before the first result")
        else:
            counts = Counter(r.status for _, r in results)
            text = (
                results[0][1].describe()
                if len(results) == 1
                else ", ".join(f"{v} {k}" for k, v in counts.items()) + f" of {session.total} runs"
            )
            self.control.set_status(text, error="error" in counts)
        if self.showing_live:
            self.show_runs(results, session.command)
        elif results:
            self.notify(f"The run finished ({results[-1][1].describe()}); it is first in History.")
        if self.tabs.active == "tab-history":  # hidden, it reloads when its tab opens: no layout now
            self.history_pane.reload()

    def action_escape(self) -> None:
        if self.focused is not None:
            self.set_focus(None)  # out of a field, a select, the tab strip, a table
        elif self.session is not None and self._end_armed is self.session:
            if self.app.compute.end_worker():  # the run never came back to its cancel check
                self.control.set_status("ending the compute worker (the events received are kept)...")
                self.log_pane.add("the compute worker was ended; a fresh one starts")
        elif self.session is not None:
            session = self.session
            session.cancel()
            self.control.set_status("cancelling...")
            self.set_timer(CANCEL_GRACE_S, lambda: self._cancel_overdue(session))

    def _cancel_overdue(self, session: RunSession) -> None:
        """The worker has not ended a cancelled run in CANCEL_GRACE_S: say so; escape ends it."""
        if self.session is session:
            self._end_armed = session
            text = (
                f"the run did not stop within {CANCEL_GRACE_S:g} s (a step that never returns?): "
                "escape again ends the compute worker, keeping what it sent"
            )
            self.control.set_status(text, error=True)
            self.notify(text, severity="warning", timeout=10)

    def action_preset(self, label: str | None = None) -> None:
        """Fill the compare field with a preset and run it; pressed again, the next preset."""
        presets = list((self.task_def.presets or {}).items())
        if not presets:
            self.notify("This task has no compare preset; type one in the compare field.")
            return
        if label is None:
            self._preset = (self._preset + 1) % len(presets)
            label, axes = presets[self._preset]
        else:
            axes = dict(presets)[label]
        text = compare_text(self.task_def.spec, axes)
        self.control.set_compare(text)
        self.notify(f"Preset: {label}" + (f" ({text})" if text else " (this task compares within one run)"))
        self.action_run()

    @on(Button.Pressed, "#run")
    def _run_pressed(self) -> None:
        self.action_run()

    # ---- showing runs

    def show_runs(self, runs: list[tuple[str, Result]], command: str) -> None:
        """Show finished runs (a session's, or opened from History)."""
        self.shown, self.shown_command, self.showing_live = runs, command, False
        self.shown_saved = False
        self._redraw(settled=True)

    @on(HistoryPane.Open)
    def _open_from_history(self, message: HistoryPane.Open) -> None:
        """Show runs opened in History; History keeps the tab and the focus (ctrl+t goes on
        to the views).  The form changes only when asked (``l``), and never during a run."""
        runs, axes = message.runs, {}
        first = runs[0][1]
        if message.load:
            if self.running:
                self.notify("A run is computing: its form stays as it is.", title="Not loaded", severity="warning")
                return
            params, axes = message.load
            self.control.load(params, axes)
        self.show_runs(
            runs, command_line(self.task_def, first.typed_params(), first.device, first.dtype, first.seed, axes)
        )
        self.shown_saved = True
        what = f"{message.what} {first.id}" if len(runs) == 1 else f"{len(runs)} {message.what}"
        if message.load:
            now, then = (self.app.dtype, self.app.seed), (first.dtype, first.seed)
            differs = f" with {now[0]}, seed {now[1]} (it ran with {then[0]}, seed {then[1]}: s changes them)"
            self.control.set_status(f"loaded {what}: ctrl+r runs it again" + (differs if now != then else ""))
        else:
            self.control.set_status(f"showing {what} (l loads its parameters, ctrl+t shows its views)")

    def displayed(self) -> list[tuple[str, Result]]:
        if self.showing_live and self.session is not None:
            return self.session.shown()
        return self.shown

    def _redraw(self, settled: bool) -> None:
        """Hand the runs to the plots (the visible one rebuilds); tables only when ``settled``:
        rebuilding them re-lays out the screen, so during a run they wait for its end."""
        self._last_plot = time.monotonic()
        runs = self.displayed()
        pictures = [(label, r.series, r.artifacts) for label, r in runs]
        for pane in self.plot_panes:
            pane.set_runs(pictures)
        self.tabs.replot_visible()
        if settled:
            command = self.session.command if self.showing_live and self.session else self.shown_command
            self.results_pane.show(runs, command)
            for graph in self.graph_panes:
                graph.show(runs[-1][1] if runs else None)

    def _plot_interval(self) -> float:
        """Live redraws are paced by what the last picture cost, within PLOT_INTERVAL."""
        cost = max((p.plot.build_seconds for p in self.plot_panes), default=0.0)
        low, high = PLOT_INTERVAL
        return min(high, max(low, cost / PLOT_SHARE))

    def action_scroll_view(self, how: str) -> None:
        """The page keys scroll the tab shown when what has the focus does not take them
        (nothing, the tab strip, a plot)."""
        self.tabs.scroll_view(how)

    def action_next_tab(self) -> None:
        self.tabs.next()

    def open_tab(self, tab_id: str) -> None:
        self.tabs.open(tab_id)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.tabs.replot_visible()
        if event.pane.id == "tab-results":
            self.results_pane.flush()  # what it computed while hidden, before its first frame
        if event.pane.id == "tab-history":
            self.history_pane.reload()
        elif event.pane.id == "tab-log":
            self.log_pane.catch_up()

    # ---- export and copy (the shown runs only)

    def action_export(self) -> None:
        results = [r for _, r in self.shown if r.ended]
        if not results:
            self.notify("Nothing to export yet: the runs shown are still computing, or none ran.")
            return
        try:
            paths = self.app.export_results(results)
        except OSError as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return
        self.notify("Exported " + ", ".join(str(p) for p in paths), timeout=8)

    def action_copy(self) -> None:
        text = self.results_pane.text
        if not text:
            self.notify("Nothing to copy yet: run the task first.")
            return
        self.app.copy_to_clipboard(text)
        self.notify(
            "Copied the Results tab: the lab4 command, the sentence and every table (through the terminal: OSC 52)."
        )

    def save_note(self) -> bool:
        return self.query_one(NotesPane).save()
