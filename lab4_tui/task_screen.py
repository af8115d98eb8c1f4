"""One screen per task: the form from the spec, live plots in tabs, results, log, notes, history.

A run executes :func:`lab4.runner.execute` in a thread worker.  The worker never touches a
widget: it appends ``(generation, run index, kind, payload)`` tuples to a deque, and the UI
thread drains the deque ten times a second, folds the events into results and redraws only
the visible plot.  A new run bumps the generation and cancels the old one, whose late
events are then ignored - a second run replaces the first and never mixes with it.
"""

from __future__ import annotations

import collections
import re
import time
from typing import Any

from rich.table import Table as RichTable
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button, DataTable, Footer, Header, Input, Label, RichLog, Select, Static, Switch, TabbedContent,
    TabPane, TextArea, Tree,
)

from lab4.context import RunContext
from lab4.events import Observation, Progress, Result, ResultBuilder, format_value, scalar_metric_names
from lab4.spec import ParamError
from lab4.tasks import get_task
from lab4.views import views_for
from lab4_tui.form import ParamForm
from lab4_tui.plots import SeriesPlot

__all__ = ["TaskScreen", "parse_compare", "compare_text"]

DRAIN_INTERVAL = 0.25  # seconds: progress and status update four times a second
PLOT_INTERVAL = (0.25, 1.0)  # seconds between live plot rebuilds: at most 4 a second, at least 1
PLOT_SHARE = 0.04  # ... and the plot thread may take at most ~4% of the time (it shares the GIL)
NOTE_DEBOUNCE = 0.5


def parse_compare(spec: Any, text: str) -> dict[str, list[Any]]:
    """``optimizer=gd,momentum lr=0.1,0.01``: the sweep axes typed in the compare field.

    Entries are separated by spaces; a list parameter separates its alternatives with ';'
    (``hidden=64,64;32``).  ``dtype`` and ``seed`` may be swept too.
    """
    from lab4.context import parse_dtype, parse_seed

    axes: dict[str, list[Any]] = {}
    for entry in text.split():
        if "=" not in entry:
            raise ParamError("compare", f"compare needs name=v1,v2 entries, got {entry[:30]!r}")
        name, _, values = entry.partition("=")
        name = name.strip().replace("-", "_")
        if name in ("dtype", "seed"):
            parse = parse_dtype if name == "dtype" else parse_seed
            axes[name] = [parse(v) for v in values.split(",") if v]
        elif name in spec:
            axes[name] = spec[name].sweep_values(values)
        else:
            raise ParamError("compare", f"compare: unknown parameter {name!r}; known: {', '.join(spec.names)}")
        if not axes[name]:
            raise ParamError("compare", f"compare: {name} needs at least one value")
    return axes


def compare_text(spec: Any, axes: dict[str, list[Any]]) -> str:
    """The compare field's text for ``axes`` (the inverse of :func:`parse_compare`)."""
    def values(name: str, items: list[Any]) -> str:
        param = spec[name] if name in spec else None
        sep = ";" if param is not None and param.kind in ("ints", "floats", "assign") else ","
        return sep.join(param.format(v) if param is not None else str(v) for v in items)

    return " ".join(f"{name}={values(name, items)}" for name, items in axes.items())


class RunProgress(Static):
    """A one-line progress bar: one cheap text update, no layout (the run shares the GIL)."""

    DEFAULT_CSS = "RunProgress { height: 1; }"

    def show(self, fraction: float) -> None:
        width = max(4, self.size.width - 6)
        fraction = min(1.0, max(0.0, fraction))
        filled = round(fraction * width)
        self.update(f"[$accent]{'━' * filled}[/][$foreground 30%]{'━' * (width - filled)}[/] {fraction:4.0%}",
                    layout=False)

    def on_mount(self) -> None:
        self.call_after_refresh(self.show, 0.0)


class TaskScreen(Screen):
    """The screen of one task (one per app mode, so it survives switching away)."""

    AUTO_FOCUS = ""
    BINDINGS = [
        Binding("ctrl+r", "run", "Run", priority=True),
        Binding("f5", "run", "Run", show=False, priority=True),
        Binding("r", "run", "Run", show=False),
        Binding("escape", "escape", "Cancel / leave field"),
        Binding("c", "preset", "Compare preset"),
        Binding("x", "export", "Export run"),
        Binding("m", "mark", "Mark run", show=False),
        Binding("o", "overlay", "Overlay marked", show=False),
    ]

    def __init__(self, task_id: str):
        super().__init__(id=f"screen-{task_id}")
        self.task_def = get_task(task_id)
        self.views = views_for(task_id)
        self.queue: collections.deque = collections.deque()
        self.generation = 0
        self.ctx: RunContext | None = None
        self.running = False
        self.runs: list[tuple[str, Any]] = []  # (label, ResultBuilder or Result)
        self.combos: list[dict[str, Any]] = []
        self.progress_of: dict[int, Progress] = {}
        self.marked: set[str] = set()
        self.history: list[Result] = []
        self._note_timer: Any = None
        self._note_loaded = False
        self._saved_note = ""
        self._last_plot = 0.0
        self.log_history: list[str] = []  # what the log shows, as text
        self.title = f"{task_id} - handout task {self.task_def.number}"

    # ---- layout

    def compose(self) -> ComposeResult:
        task = self.task_def
        yield Header()
        with Horizontal(id="body"):
            with Vertical(id="left"):
                with VerticalScroll(id="form-scroll"):
                    yield Static(f"[b]{task.title}[/b]  (task {task.number})", classes="task-title")
                    yield Static(task.summary, classes="task-summary")
                    yield ParamForm(task.spec, id="form")
                    yield Label("compare (sweep): name=v1,v2 ...", classes="field-label")
                    yield Input(placeholder=self._compare_placeholder(), compact=True, id="compare")
                    yield Static("", id="compare-error", classes="field-error")
                with Vertical(id="controls"):  # always in view, whatever the height
                    yield Button("Run (ctrl+r)", id="run", variant="primary", compact=True)
                    yield RunProgress(id="progress")
                    yield Static("ready", id="status")
            with TabbedContent(id="tabs"):
                if task.id == "autograd":
                    with TabPane("Graph", id="tab-graph"):
                        yield Static("", id="graph-summary")
                        yield Tree("run to see the graph of grad_fn nodes", id="graph")
                for view in self.views:
                    with TabPane(view.title, id=f"tab-{view.id}"):
                        yield SeriesPlot(view, id=f"plot-{view.id}")
                with TabPane("Results", id="tab-results"):
                    with VerticalScroll():
                        yield DataTable(id="metrics", zebra_stripes=True)
                        yield Static("", id="tables")
                with TabPane("Log", id="tab-log"):
                    yield RichLog(id="log", wrap=True, markup=False, highlight=False)
                with TabPane("Notes", id="tab-notes"):
                    yield TextArea(id="notes", soft_wrap=True)
                with TabPane("History", id="tab-history"):
                    yield Static("enter: show a run   m: mark   o: overlay marked", classes="hint")
                    yield DataTable(id="history", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def _compare_placeholder(self) -> str:
        axes = next(iter((self.task_def.presets or {}).values()), None)
        return compare_text(self.task_def.spec, axes) if axes else "e.g. lr=0.1,0.01"

    def on_mount(self) -> None:
        self.set_interval(DRAIN_INTERVAL, self.drain)
        self._load_note()

    # ---- running

    def action_run(self) -> None:
        form = self.query_one(ParamForm)
        try:
            params = form.to_model()
        except ParamError as exc:
            self.set_status(f"not run: {exc.message}", error=True)
            self.app.clear_notifications()  # pressing run again must not stack up toasts
            self.notify(exc.message, title="Fix the marked field", severity="error")
            return
        try:
            axes = parse_compare(self.task_def.spec, self.query_one("#compare", Input).value)
            from lab4.runner import sweep_combinations

            combos = sweep_combinations(axes) if axes else [{}]
            for combo in combos:
                self.task_def.spec.parse({**params, **{k: v for k, v in combo.items() if k in self.task_def.spec}})
        except ParamError as exc:
            self.query_one("#compare-error", Static).update(exc.message)
            self.set_status(f"not run: {exc.message}", error=True)
            self.app.clear_notifications()
            self.notify(exc.message, title="Fix the compare field", severity="error")
            return
        self.query_one("#compare-error", Static).update("")
        if self.ctx is not None and self.running:
            self.ctx.cancel()
            self.log_line("previous run cancelled: replaced by a new run")
        self.generation += 1
        app = self.app
        self.ctx = RunContext(device=app.device, dtype=app.dtype, seed=app.seed)
        self.runs = []
        self.combos = combos
        self.progress_of = {}
        self.running = True
        varying = [k for k in (axes or {}) if len(axes[k]) > 1]
        self.set_status(f"running{f' {len(combos)} runs' if len(combos) > 1 else ''}...")
        self.log_line(f"run: {self.task_def.spec.format(params)}" + (f"  compare {axes}" if axes else ""))
        self.execute_runs(self.generation, params, axes, varying, self.ctx)

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def execute_runs(self, generation: int, params: dict[str, Any], axes: dict[str, list[Any]],
                     varying: list[str], ctx: RunContext) -> None:
        """Thread worker: hand the runs to the app's compute thread and wait for them.

        Every torch computation of the app happens on that one thread: torch's OpenMP
        pool belongs to the thread that uses it, and a second live thread using torch
        makes both pools spin against each other (a run became 2x slower)."""
        self.app.compute.submit(self._runs_body, generation, params, axes, varying, ctx).result()

    def _runs_body(self, generation: int, params: dict[str, Any], axes: dict[str, list[Any]],
                   varying: list[str], ctx: RunContext) -> None:
        """On the compute thread: the engine's sweep; talk to the UI only through the queue."""
        from lab4.runner import sweep

        push = self.queue.append

        def started(i: int, combo: dict[str, Any], run_params: dict[str, Any], run_ctx: RunContext) -> None:
            label = " ".join(f"{k}={format_value(combo[k])}" for k in varying)
            push((generation, i, "start", (label, run_params, run_ctx)))

        try:
            runs = sweep(self.task_def.id, params, axes, ctx, on_start=started,
                         on_event=lambda i, event: push((generation, i, "event", event)))
            for i, (_, result) in enumerate(runs):
                push((generation, i, "done", (result, self.app.save_run(result))))
        finally:
            push((generation, None, "finished", None))

    def drain(self) -> None:
        """UI thread, ten times a second: apply what the worker queued, redraw once."""
        if not self.queue:
            return
        changed = False
        settled = False  # a run started or ended: tables and plots update at once
        while self.queue:
            generation, i, kind, payload = self.queue.popleft()
            if generation != self.generation:
                continue
            changed = True
            if kind == "start":
                label, run_params, run_ctx = payload
                builder = ResultBuilder(Result(task=self.task_def.id, params=self.task_def.spec.to_json(run_params),
                                               device=run_ctx.device, dtype=run_ctx.dtype, seed=run_ctx.seed))
                self.runs.append((label, builder))
                settled = True
            elif kind == "event":
                label, builder = self.runs[i]
                builder.add(payload)
                if isinstance(payload, Progress):
                    self.progress_of[i] = payload
                elif isinstance(payload, Observation):
                    self.log_line(("" if not label else f"[{label}] ") + payload.text)
            elif kind == "done":
                result, saved = payload
                label = self.runs[i][0]
                self.runs[i] = (label, result)
                settled = True
                self.log_line(f"{label + ': ' if label else ''}{result.describe()}"
                              + ("" if saved is True else f" (not saved: {saved})"))
                if saved is not True:
                    self.notify(f"The run was not saved: {saved}. It stays on screen; export it with x.",
                                severity="warning", timeout=8)
            elif kind == "finished":
                self.running = False
                settled = True
                self.finish()
        if changed:
            self.update_progress()
            now = time.monotonic()
            if settled or now - self._last_plot >= self.plot_interval():
                self._last_plot = now
                self.show_runs(tables=settled)

    def plot_interval(self) -> float:
        """Live redraws are paced by what the last picture cost, within PLOT_INTERVAL."""
        cost = max((p.build_seconds for p in self.query(SeriesPlot)), default=0.0)
        low, high = PLOT_INTERVAL
        return min(high, max(low, cost / PLOT_SHARE))

    def update_progress(self) -> None:
        bar = self.query_one("#progress", RunProgress)
        n = max(1, len(self.combos))
        done = 0.0
        for i in range(n):
            p = self.progress_of.get(i)
            if i < len(self.runs) and isinstance(self.runs[i][1], Result):
                done += 1
            elif p is not None and p.total > 0:
                done += min(1.0, p.step / p.total)
        bar.show(done / n)
        if self.running:
            last = self.progress_of.get(len(self.runs) - 1)
            run = f"run {len(self.runs)}/{n} " if n > 1 else ""
            self.set_status(f"running {run}step {last.step}/{last.total}" if last else f"running {run}...",
                            layout=False)

    def finish(self) -> None:
        results = [r for _, r in self.runs if isinstance(r, Result)]
        if not results:
            self.set_status("cancelled before the first result")
            return
        if len(results) == 1:
            self.set_status(results[0].describe(), error=results[0].status == "error")
        else:
            counts = collections.Counter(r.status for r in results)
            self.set_status(", ".join(f"{v} {k}" for k, v in counts.items()) + f" of {len(self.combos)} runs",
                            error=bool(counts.get("error")))
        self.app.task_finished(self.task_def.id, results[-1])

    def action_escape(self) -> None:
        focused = self.focused
        if isinstance(focused, (Input, TextArea, Select, Switch, Button, DataTable)):
            self.set_focus(None)
            return
        if self.running and self.ctx is not None:
            self.ctx.cancel()
            self.set_status("cancelling...")

    def action_preset(self) -> None:
        presets = self.task_def.presets or {}
        if not presets:
            self.notify("This task has no compare preset; type one in the compare field.")
            return
        label, axes = next(iter(presets.items()))
        text = compare_text(self.task_def.spec, axes)
        self.query_one("#compare", Input).value = text
        self.notify(f"Preset: {label}" + (f" ({text})" if text else " (this task compares within one run)"))
        self.action_run()

    @on(Button.Pressed, "#run")
    def _run_pressed(self) -> None:
        self.action_run()

    # ---- showing results

    def display_runs(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        out = []
        for label, item in self.runs:
            result = item.result if isinstance(item, ResultBuilder) else item
            out.append((label, result.series, result.artifacts))
        return out

    def show_runs(self, tables: bool = True) -> None:
        """Hand the runs to the plots (the visible one rebuilds); tables only when asked:
        rebuilding them re-lays out the screen, so during a run they wait for its end."""
        runs = self.display_runs()
        for plot in self.query(SeriesPlot):
            plot.set_runs(runs)
        self.replot_visible()
        if not tables:
            return
        self.show_results()
        if self.task_def.id == "autograd" and runs and runs[-1][2].get("graph"):
            self.show_graph(runs[-1][2]["graph"])
            last = self.runs[-1][1]
            result = last.result if isinstance(last, ResultBuilder) else last
            self.query_one("#graph-summary", Static).update("\n".join(result.observations[:2]))

    def replot_visible(self) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        active = tabs.active
        if active and active.startswith("tab-"):
            plots = list(self.query(f"#plot-{active[4:]}").results(SeriesPlot))
            for plot in plots:
                plot.replot()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.replot_visible()
        if event.pane.id == "tab-history":
            self.load_history()
            self.query_one("#history", DataTable).focus()

    def show_results(self) -> None:
        table = self.query_one("#metrics", DataTable)
        table.clear(columns=True)
        results = [(label, item.result if isinstance(item, ResultBuilder) else item) for label, item in self.runs]
        if not results:
            return
        if len(results) == 1:
            result = results[0][1]
            table.add_columns("metric", "value")
            table.add_row("status", result.describe() if result.ended else "running")
            for k, v in result.flat_metrics():
                table.add_row(k, format_value(v))
        else:
            names = scalar_metric_names([r for _, r in results], self.task_def.headline)
            table.add_columns("run", "status", *names)
            for label, r in results:
                table.add_row(label, r.describe() if r.ended else "running", *[format_value(r.metrics.get(k)) for k in names])
        tables = self.query_one("#tables", Static)
        last = results[-1][1]
        renderables = []
        for name, data in last.tables.items():
            t = RichTable(title=name, title_justify="left", expand=False)
            for col in data["columns"]:
                t.add_column(str(col))
            for row in data["rows"]:
                t.add_row(*[format_value(v) for v in row])
            renderables.append(t)
        from rich.console import Group

        tables.update(Group(*renderables) if renderables else "")

    def show_graph(self, graph: dict[str, Any]) -> None:
        tree = self.query_one("#graph", Tree)
        tree.clear()
        tree.root.set_label(graph["name"] + ("  (output)" if graph.get("children") else ""))

        def add(node: Any, data: dict[str, Any]) -> None:
            for child in data.get("children", []):
                label = child["name"] + (f"  -> leaf {child['variable']}" if "variable" in child else "")
                if child.get("children"):
                    add(node.add(label, expand=True), child)
                else:
                    node.add_leaf(label)

        add(tree.root, graph)
        tree.root.expand_all()

    def set_status(self, text: str, error: bool = False, layout: bool = True) -> None:
        status = self.query_one("#status", Static)
        status.update(text, layout=layout)
        status.set_class(error, "-error")

    def log_line(self, text: str) -> None:
        self.log_history.append(text)
        self.query_one("#log", RichLog).write(text)

    # ---- notes

    def _load_note(self) -> None:
        try:
            text = self.app.store.load_note(self.task_def.id)
        except OSError as exc:
            text = ""
            self.notify(f"Could not read the notes: {exc}", severity="warning")
        area = self.query_one("#notes", TextArea)
        area.load_text(text)
        self._saved_note = text
        self._note_loaded = True

    @on(TextArea.Changed, "#notes")
    def _note_changed(self) -> None:
        if not self._note_loaded:
            return
        if self._note_timer is not None:
            self._note_timer.stop()
        self._note_timer = self.set_timer(NOTE_DEBOUNCE, self.save_note)

    def save_note(self) -> bool:
        if not self._note_loaded:
            return True
        text = self.query_one("#notes", TextArea).text
        if text == self._saved_note:
            return True  # nothing new: opening a screen writes nothing
        saved = self.app.save_note(self.task_def.id, text)
        if saved:
            self._saved_note = text
        return saved

    # ---- history

    @work(thread=True, exclusive=True, group="history")
    def load_history(self) -> None:
        listing = self.app.store.list_runs(self.task_def.id)
        self.app.call_from_thread(self._show_history, listing.runs, listing.warnings)

    def _show_history(self, runs: list[Result], warnings: list[str]) -> None:
        self.history = list(reversed(runs))
        table = self.query_one("#history", DataTable)
        table.clear(columns=True)
        table.add_columns(" ", "when", "status", "params", self.task_def.headline or "metric")
        for r in self.history:
            params = ", ".join(f"{k}={format_value(v)}" for k, v in r.params.items() if k not in ("expr", "derivative"))
            table.add_row("*" if r.id in self.marked else " ", r.started[:19].replace("T", " "), r.status,
                          params[:60], format_value(r.metrics.get(self.task_def.headline)), key=r.id)
        for w in warnings:
            self.log_line(w)

    @on(DataTable.RowSelected, "#history")
    def _history_selected(self, event: DataTable.RowSelected) -> None:
        result = next((r for r in self.history if r.id == event.row_key.value), None)
        if result is not None:
            self.runs = [(result.id, result)]
            self.combos = [{}]
            self.show_runs()
            self.set_status(f"showing saved run {result.id}: {result.describe()}")

    def action_mark(self) -> None:
        table = self.query_one("#history", DataTable)
        if not self.history or table.cursor_row is None or table.cursor_row >= len(self.history):
            return
        run_id = self.history[table.cursor_row].id
        self.marked ^= {run_id}
        table.update_cell(run_id, table.ordered_columns[0].key, "*" if run_id in self.marked else " ")

    def action_overlay(self) -> None:
        chosen = [r for r in self.history if r.id in self.marked]
        if not chosen:
            self.notify("Mark runs in the History tab with m first.")
            return
        self.runs = [(re.sub(r"^\d{8}T", "", r.id)[:13], r) for r in chosen]
        self.combos = [{} for _ in chosen]
        self.show_runs()
        self.set_status(f"overlaying {len(chosen)} saved runs")

    # ---- export

    def action_export(self) -> None:
        results = [item for _, item in self.runs if isinstance(item, Result)]
        if not results:
            self.notify("Nothing to export yet: run the task first.")
            return
        try:
            paths = self.app.export_results(results)
        except OSError as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return
        self.notify("Exported " + ", ".join(str(p) for p in paths), timeout=8)
