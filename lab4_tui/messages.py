"""Typed messages from a run session (computing on the app's compute thread) to its task screen.

A session posts them in order; the screen folds them in on the UI thread.  Each carries the
session it comes from, so a message of a replaced session is recognised and dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from lab4.core.comparison import PlannedRun
    from lab4.core.context import RunContext
    from lab4.core.events import Result
    from lab4_tui.session import RunSession

__all__ = ["RunStarted", "RunEvents", "RunEnded", "SessionFinished"]


class RunStarted(Message):
    """Run ``index`` of the session starts, with these parameters and context."""

    def __init__(self, session: "RunSession", index: int, planned: "PlannedRun", ctx: "RunContext"):
        super().__init__()
        self.session = session
        self.index = index
        self.planned = planned
        self.ctx = ctx


class RunEvents(Message):
    """What the runs yielded since the last message: ``(run index, lab4 event)`` in order."""

    def __init__(self, session: "RunSession", events: list[tuple[int, Any]]):
        super().__init__()
        self.session = session
        self.events = events


class RunEnded(Message):
    """Run ``index`` ended in ``result``; ``unsaved`` says why it was not saved ("" if it was)."""

    def __init__(self, session: "RunSession", index: int, result: "Result", unsaved: str):
        super().__init__()
        self.session = session
        self.index = index
        self.result = result
        self.unsaved = unsaved


class SessionFinished(Message):
    """Every run of the session has ended (or it was cancelled before the next one)."""

    def __init__(self, session: "RunSession"):
        super().__init__()
        self.session = session
