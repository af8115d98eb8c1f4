"""The right side of a task screen: the task's views (plots, the graph), then Results, Log,
Notes and History, as tabs.  One key (ctrl+t) cycles them from anywhere; the palette opens
each one and puts the focus in it."""

from __future__ import annotations

from typing import Any, Callable

from textual import on
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane
from textual.widgets._tabbed_content import ContentTabs

from lab4_tui.widgets.graph_pane import GraphPane
from lab4_tui.widgets.history_pane import HistoryPane
from lab4_tui.widgets.log_pane import LogPane
from lab4_tui.widgets.notes_pane import NotesPane
from lab4_tui.widgets.plots import PlotPane
from lab4_tui.widgets.results_pane import ResultsPane

__all__ = ["ViewTabs", "TABS"]

#: the tabs every task has after its own views: (id, title, what takes the focus there, the pane)
TABS: tuple[tuple[str, str, str, Callable[[Any], Widget]], ...] = (
    ("results", "Results", "ResultsPane", lambda task: ResultsPane(task)),
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
        """The next tab; the focus follows when it was in the tab left (else a hidden widget
        keeps it, and Textual brings its tab back: ctrl+t from History stayed on History)."""
        ids = self.tab_ids()
        tab_id = ids[(ids.index(self.active) + 1) % len(ids)] if self.active in ids else ids[0]
        focused = self.screen.focused
        inside = focused is not None and self in focused.ancestors
        if inside or focused is None:
            self.open(tab_id, strip=inside)
        else:
            self.active = tab_id  # the form keeps its focus

    def open(self, tab_id: str, strip: bool = True) -> None:
        """Show a tab and put the focus in it (History: its table; Notes: the text; a plot:
        the tab strip, where the arrows move on, unless ``strip`` is false).

        The focus moves now, not at the loop's next turn (``Widget.focus``): the next ctrl+t,
        already typed, must find it in this tab to go on from it."""
        self.screen.set_focus(None)  # first: a focused widget of a hidden tab would bring it back
        self.active = tab_id
        target = {f"tab-{k}": selector for k, _, selector, _ in TABS}.get(tab_id)
        if target:
            self.screen.set_focus(self.query_one(target))
        elif strip:
            self.screen.set_focus(self.query_one(ContentTabs))

    @on(TabPane.Focused)
    def _stale_focus(self, event: TabPane.Focused) -> None:
        """A pane says a widget in it took the focus, and Textual shows that pane.  The word
        comes a few turns of the loop late: when the focus has moved on since (ctrl+t typed
        fast), showing that pane again would undo the keys after it (three quick presses
        from Results ended on Notes, the focus there, instead of History)."""
        focused = self.screen.focused
        if focused is None or event.tab_pane not in focused.ancestors_with_self:
            event.prevent_default()  # TabbedContent's own handler would show the pane
            event.stop()

    def scroller(self) -> Widget | None:
        """What scrolls in the tab shown: its pane, or the pane's scrolling part."""
        if not self.active:
            return None
        pane = self.get_pane(self.active)
        for widget in (*pane.children, *pane.query("*")):
            if widget.allow_vertical_scroll or isinstance(widget, (ResultsPane, LogPane)):
                return widget
        return None

    def scroll_view(self, how: str) -> None:
        """page up/down, home, end on the tab shown, wherever the focus is on the right."""
        widget = self.scroller()
        if widget is not None:
            getattr(
                widget,
                {
                    "pageup": "scroll_page_up",
                    "pagedown": "scroll_page_down",
                    "home": "scroll_home",
                    "end": "scroll_end",
                }[how],
            )(animate=False)

    def replot_visible(self) -> None:
        if not self.active:
            return
        panes = self._plots_of.get(self.active)
        if panes is None:  # once per tab: a query walks every widget of the tabs
            panes = self._plots_of[self.active] = list(self.query(f"#{self.active} PlotPane").results(PlotPane))
        for pane in panes:
            pane.replot()
