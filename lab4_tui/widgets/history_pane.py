"""The History tab: the task's saved runs, newest first, a page at a time.

Columns are the parameters that differ between the listed runs (so two sweeps over
different expressions do not look alike), the run's label in its comparison, and the
task's headline metric.  A filter line (opened by ``/``, left by enter or escape) takes
``name=value`` terms (parameters, ``status``, ``dtype``, ``seed``) and ``sort=metric``
(``sort=-metric`` for largest first).  Listing never loads series: opening a run (enter),
the marked runs (``o``) or a run's whole comparison (``g``) loads them in a thread and posts
:class:`HistoryPane.Open`.  The table keeps the focus after each of them, as in ``less`` or
``htop``; putting a run's parameters into the form is a key of its own (``l``), never a side
effect of showing it.
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from lab4.core.comparison import axes_of, differing, param_value
from lab4.core.events import Result, format_value, plural
from lab4.store import StoreError, where_term

__all__ = ["HistoryPane", "parse_filter", "labels_for"]

PAGE = 100  # rows loaded at a time
HINT = "enter show · l load params · m mark · o overlay · g comparison · / filter"


def parse_filter(text: str) -> tuple[dict[str, str], str | None, bool]:
    """``optimizer=momentum status=ok sort=-final_loss`` -> (where, sort, descending)."""
    where: dict[str, str] = {}
    sort, descending = None, True
    for term in text.split():
        name, value = where_term(term)
        if name == "sort":
            descending = value.startswith("-")
            sort = value.lstrip("-")
        else:
            where[name] = value
    return where, sort, descending if sort else True


def labels_for(results: list[Result]) -> list[str]:
    """Short labels that tell ``results`` apart: the parameters that differ between them."""
    names = differing(results)
    labels = [" ".join(f"{k}={format_value(param_value(r, k))}" for k in names) for r in results]
    return [label or r.id[9:15] + "-" + r.id[-6:] for label, r in zip(labels, results)]


class FilterInput(Input):
    """The filter line: reached by ``/`` only (never by tab), left by enter or escape."""

    BINDINGS = [Binding("escape", "leave", "Back to the table", id="history-filter-leave")]

    def on_mount(self) -> None:
        self.can_focus = False

    def on_blur(self) -> None:
        self.can_focus = False

    def action_leave(self) -> None:
        pane = self.parent
        if isinstance(pane, HistoryPane):
            pane.table.focus()


class HistoryPane(Vertical):
    BINDINGS = [
        Binding("m", "mark", "Mark", id="history-mark"),
        Binding("o", "overlay", "Overlay marked", id="history-overlay"),
        Binding("g", "comparison", "Its comparison", id="history-comparison"),
        Binding("l", "load", "Load params", id="history-load"),
        Binding("slash", "filter", "Filter", id="history-find"),
    ]
    DEFAULT_CSS = """
    HistoryPane > #history-hint { color: $text-muted; height: auto; }
    HistoryPane > #history-filter { margin-bottom: 0; }
    HistoryPane > #history { height: 1fr; }
    """

    class Open(Message):
        """Show these runs; ``load`` are the parameters (and compare axes) to put in the form."""

        def __init__(
            self, runs: list[tuple[str, Result]], what: str, load: tuple[dict[str, Any], dict[str, list[Any]]] | None
        ):
            super().__init__()
            self.runs = runs
            self.what = what
            self.load = load

    def __init__(self, task: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.task_def = task
        self.rows: list[Result] = []
        self.total = 0
        self.marked: set[str] = set()
        self._query: tuple[dict[str, str], str | None, bool] = ({}, None, True)

    def compose(self) -> ComposeResult:
        yield Static(HINT, id="history-hint")
        yield FilterInput(
            placeholder="/ filter, e.g. optimizer=momentum status=ok sort=final_loss", compact=True, id="history-filter"
        )
        yield DataTable(id="history", cursor_type="row", zebra_stripes=True)

    @property
    def table(self) -> DataTable:
        return self.query_one("#history", DataTable)

    def on_mount(self) -> None:
        self.reload()  # the first page is ready before the tab is first opened

    # ---- listing

    def reload(self) -> None:
        self._load(self._query, 0)

    @work(thread=True, exclusive=True, group="history")
    def _load(self, query: tuple[dict[str, str], str | None, bool], offset: int) -> None:
        where, sort, descending = query
        try:
            listing = self.app.store.list_runs(
                self.task_def.id, where=where, sort=sort, descending=descending, limit=PAGE, offset=offset
            )
        except StoreError as exc:
            self.app.call_from_thread(self._say, str(exc))
            return
        self.app.call_from_thread(self._fill, listing.runs, listing.total, offset)

    def _say(self, text: str) -> None:
        self.query_one("#history-hint", Static).update(text)

    def _fill(self, runs: list[Result], total: int, offset: int) -> None:
        self.rows = (self.rows[:offset] if offset else []) + runs
        self.total = total
        self.marked |= {r.id for r in runs if r.marked}
        table = self.table
        cursor = table.cursor_row if offset else 0
        differ = differing(self.rows)[:4]
        headline = self.task_def.headline or "metric"
        columns = (" ", "when", "status", *differ, "in comparison", headline)
        if tuple(str(c.label) for c in table.ordered_columns) == columns:
            table.clear()  # the same columns keep their widths: a reload does not flicker
        else:
            table.clear(columns=True)
            table.add_columns(*columns)
        for r in self.rows:
            table.add_row(
                "*" if r.id in self.marked else " ",
                r.started[5:16].replace("T", " "),
                r.status,
                *[format_value(param_value(r, k)) for k in differ],
                r.label or "-",
                format_value(r.metrics.get(self.task_def.headline)),
                key=r.id,
            )
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))
        shown = f"{len(self.rows)} of {plural(total, 'run')}" if total > len(self.rows) else plural(total, "run")
        self._say(f"{shown} · {HINT}")

    @on(Input.Submitted, "#history-filter")
    @on(Input.Changed, "#history-filter")
    def _filter(self, event: Input.Changed | Input.Submitted) -> None:
        try:
            self._query = parse_filter(event.value)
        except ValueError as exc:
            self._say(str(exc))
            return
        self.reload()
        if isinstance(event, Input.Submitted):
            self.table.focus()

    @on(DataTable.RowHighlighted, "#history")
    def _maybe_more(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= len(self.rows) - 3 and len(self.rows) < self.total:
            self._load(self._query, len(self.rows))

    # ---- actions

    def _current(self) -> Result | None:
        row = self.table.cursor_row
        return self.rows[row] if self.rows and row is not None and 0 <= row < len(self.rows) else None

    def action_mark(self) -> None:
        run = self._current()
        if run is None:
            return
        self.marked ^= {run.id}
        marked = run.id in self.marked
        self.table.update_cell(run.id, self.table.ordered_columns[0].key, "*" if marked else " ")
        self._save_mark(run.id, marked)

    @work(thread=True, group="history-mark")
    def _save_mark(self, run_id: str, marked: bool) -> None:
        try:
            self.app.store.set_marked([run_id], marked)
        except StoreError as exc:
            self.app.call_from_thread(self.notify, f"The mark was not saved: {exc}", severity="warning")

    def action_filter(self) -> None:
        box = self.query_one("#history-filter", FilterInput)
        box.can_focus = True
        box.focus()

    @on(DataTable.RowSelected, "#history")
    def _selected(self) -> None:
        run = self._current()
        if run is not None:
            self._open([run.id], "saved run", load=False)

    def action_load(self) -> None:
        """The run under the cursor into the form (its comparison's axes too, when that
        comparison is what is shown); refused while a run computes."""
        run = self._current()
        if run is None:
            return
        screen = self.screen
        if getattr(screen, "running", False):
            self.notify(
                "A run is computing: its form stays as it is. Cancel it (escape) or wait, then press l.",
                title="Not loaded",
                severity="warning",
            )
            return
        shown = [r.id for _, r in getattr(screen, "shown", [])]
        if run.group and run.id in shown and len(shown) > 1:  # its comparison is shown: load its axes too
            self._open_group(run.group, load=True)
        else:
            self._open([run.id], "saved run", load=True)

    def action_overlay(self) -> None:
        chosen = [r.id for r in self.rows if r.id in self.marked]
        if not chosen:
            self.notify("Mark runs with m first (they are kept between sessions).")
            return
        self._open(chosen, "marked runs", load=False)

    def action_comparison(self) -> None:
        run = self._current()
        if run is None or not run.group:
            self.notify("This run is not part of a comparison.")
            return
        self._open_group(run.group)

    @work(thread=True, group="history-open")
    def _open_group(self, group: str, load: bool = False) -> None:
        ids = [r.id for r in self.app.store.list_runs(self.task_def.id, group=group).runs]
        self._open_ids(ids, "comparison", load)

    @work(thread=True, group="history-open")
    def _open(self, ids: list[str], what: str, load: bool) -> None:
        self._open_ids(ids, what, load)

    def _open_ids(self, ids: list[str], what: str, load: bool) -> None:
        """In a thread: load the runs with their series, then post Open."""
        try:
            results = self.app.store.load_runs(ids)
        except (KeyError, StoreError) as exc:
            self.app.call_from_thread(self.notify, f"Could not open: {exc}", severity="error")
            return
        labels = labels_for(results) if len(results) > 1 else [""]
        form = None
        if load and results:
            form = (results[0].typed_params(), axes_of(results))
        self.post_message(self.Open(list(zip(labels, results)), what, form))
