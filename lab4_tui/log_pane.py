"""The Log tab: observations and run events, wrapped at the pane's width.

RichLog renders each line once, at the width it has then (at least 78 columns by default,
whatever the pane): this log keeps its lines as text and wraps them again when the pane's
width changes, so an observation never loses its end.
"""

from __future__ import annotations

from typing import Any

from textual.events import Resize
from textual.widgets import RichLog

__all__ = ["LogPane"]


class LogPane(RichLog):
    def __init__(self, **kwargs: Any):
        super().__init__(wrap=True, markup=False, highlight=False, min_width=1, **kwargs)
        self.entries: list[str] = []
        self._width = 0

    def add(self, text: str) -> None:
        self.entries.append(text)
        self.write(text)

    def on_resize(self, event: Resize) -> None:
        width = event.size.width
        if not width:
            return  # a hidden tab: wrap when it is shown again
        if width != self._width and self._width:
            self.clear()
            for text in self.entries:
                self.write(text)
        self._width = width
