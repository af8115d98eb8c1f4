"""The Log tab: observations and run events, wrapped at the pane's width.

A ``RichLog`` renders each line once, at the width it knows then, and learns that width from
a Resize event; a Log tab first shown with ``ctrl+t`` may never get one (Textual 8), and its
lines stay deferred: a blank tab.  This log is a ``Static`` in a scrolling container: the
layout wraps its text at whatever width the pane has, every time, so an observation never
loses its end and never waits for an event.

The text is rebuilt only while the tab is shown, and caught up when the tab is activated:
a ``Static`` update re-lays out the screen, and a run adds lines while its plot is what the
student is watching.  (Whether it is shown is read from the tab's ``display``: Textual
sends no Show event to a pane of a tab reached in a real terminal.)
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

__all__ = ["LogPane"]


class LogPane(VerticalScroll, can_focus=True):
    DEFAULT_CSS = """
    LogPane > #log-text { width: 1fr; height: auto; }
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.entries: list[str] = []
        self._stale = False  # entries the text does not hold yet

    def compose(self) -> ComposeResult:
        yield Static(id="log-text", markup=False)

    @property
    def text_widget(self) -> Static:
        return self.query_one("#log-text", Static)

    def add(self, text: str) -> None:
        """Append an entry; a reader at the end keeps following, one scrolled back stays put."""
        following = self.scroll_y >= self.max_scroll_y
        self.entries.append(text)
        self._stale = True
        if self.is_mounted and self._tab_shown():
            self._render_entries(following)

    def _tab_shown(self) -> bool:
        node = self
        while isinstance(node, Widget):
            if not node.display:
                return False
            node = node.parent
        return True

    def catch_up(self) -> None:
        """The tab is shown: bring the text up to the entries (and follow the end)."""
        if self._stale:
            self._render_entries(following=True)

    def _render_entries(self, following: bool) -> None:
        self._stale = False
        self.text_widget.update(Text("\n".join(self.entries)))
        if following:
            self.call_after_refresh(self.scroll_end, animate=False)

    def on_mount(self) -> None:
        self.catch_up()
