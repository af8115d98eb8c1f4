"""The Log tab: observations and run events, wrapped at the pane's width.

A ``RichLog`` renders each line once, at the width it knows then, and learns that width from
a Resize event; a Log tab first shown with ``ctrl+t`` may never get one (Textual 8), and its
lines stay deferred: a blank tab.  This log is a ``Static`` in a scrolling container: the
layout wraps its text at whatever width the pane has, every time, so an observation never
loses its end and never waits for an event.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

__all__ = ["LogPane"]


class LogPane(VerticalScroll, can_focus=True):
    DEFAULT_CSS = """
    LogPane > #log-text { width: 1fr; height: auto; }
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.entries: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(id="log-text", markup=False)

    @property
    def text_widget(self) -> Static:
        return self.query_one("#log-text", Static)

    def add(self, text: str) -> None:
        """Append an entry; a reader at the end keeps following, one scrolled back stays put."""
        following = self.scroll_y >= self.max_scroll_y
        self.entries.append(text)
        if self.is_mounted:
            self.text_widget.update(Text("\n".join(self.entries)))
            if following:
                self.call_after_refresh(self.scroll_end, animate=False)

    def on_mount(self) -> None:
        if self.entries:
            self.text_widget.update(Text("\n".join(self.entries)))
