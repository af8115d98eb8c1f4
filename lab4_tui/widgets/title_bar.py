"""The header: Textual's, with a title line that changes without a layout.

The sub-title carries the compute worker's state (starting torch, ready, computing, ...), so
it changes at every run's start and end.  Textual's title is a Static whose ``update``
re-lays out the whole screen (~10-30 ms with the ~170 widgets of a task screen), a stall the
live plot feels.  The title is one line of the header's full width whatever it says: its
size never changes, so its text is replaced with a repaint only.
"""

from __future__ import annotations

from typing import Any, Iterator

from textual.widget import Widget
from textual.widgets import Header
from textual.widgets._header import HeaderTitle

__all__ = ["TitleBar"]


class _Title(HeaderTitle):
    def update(self, content: Any = "", *, layout: bool = True) -> None:
        super().update(content, layout=False)  # one line, the header's width: nothing moves


class TitleBar(Header):
    def compose(self) -> Iterator[Widget]:
        for widget in super().compose():
            yield _Title() if type(widget) is HeaderTitle else widget
