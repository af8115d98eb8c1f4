"""The right side of a task screen: the task's views (plots, the graph), then Results, Log,
Notes and History, as tabs.  One key (ctrl+t) cycles them from anywhere; the palette opens
each one and puts the focus in it."""

from __future__ import annotations

from typing import Any, Callable

from textual.widget import Widget
from textual.widgets import TabbedContent

from lab4_tui.widgets.graph_pane import GraphPane
from lab4_tui.widgets.history_pane import HistoryPane
from lab4_tui.widgets.log_pane import LogPane
from lab4_tui.widgets.notes_pane import NotesPane
from lab4_tui.widgets.plots import PlotPane
from lab4_tui.widgets.results_pane import ResultsPane

__all__ = ["ViewTabs", "TABS"]

#: the tabs every task has after its own views: (id, title, what takes the focus there, the pane)
TABS: tuple[tuple[str, str, str, Callable[[Any], Widget]], ...] = (
    ("results", "Results", "#metrics", lambda task: ResultsPane(task)),
    ("log", "Log", "#log", lambda task: LogPane(id="log")),
    ("notes", "Notes", "#notes", lambda task: NotesPane(task.id, id="notes")),
    ("history", "History", "#history", lambda task: HistoryPane(task)),
)


class ViewTabs(TabbedContent):
    def __init__(self, task: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.task_def = task
        self._plots_of: dict[str, list[PlotPane]] = {}

    @staticmethod
    def panes(task: Any) -> list[tuple[str, str, Widget]]:
        """(title, tab id, content) of every tab, for the screen to compose inside ViewTabs."""
        views = [(v.title, f"tab-{v.id}", PlotPane(v) if v.is_plot else GraphPane()) for v in task.views]
        return views + [(title, f"tab-{key}", make(task)) for key, title, _, make in TABS]

    def tab_titles(self) -> list[tuple[str, str]]:
        """(tab id, title) of every tab, in order."""
        return [(f"tab-{v.id}", v.title) for v in self.task_def.views] + [(f"tab-{k}", t) for k, t, _, _ in TABS]

    def tab_ids(self) -> list[str]:
        return [tab_id for tab_id, _ in self.tab_titles()]

    def next(self) -> None:
        ids = self.tab_ids()
        self.active = ids[(ids.index(self.active) + 1) % len(ids)] if self.active in ids else ids[0]

    def open(self, tab_id: str) -> None:
        """Show a tab and put the focus in it (History: its table; Notes: the text)."""
        self.active = tab_id
        target = {f"tab-{k}": selector for k, _, selector, _ in TABS}.get(tab_id)
        if target:
            self.query_one(target).focus()

    def replot_visible(self) -> None:
        if not self.active:
            return
        panes = self._plots_of.get(self.active)
        if panes is None:  # once per tab: a query walks every widget of the tabs
            panes = self._plots_of[self.active] = list(self.query(f"#{self.active} PlotPane").results(PlotPane))
        for pane in panes:
            pane.replot()
