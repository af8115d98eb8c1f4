"""A run session: what one press of Run computes (one run, or every run of a comparison).

The session is not a widget.  It owns the context (device, dtype, seed, cancel flag), the
validated plan, and the live runs as they arrive.  :meth:`RunSession.body` runs on the
app's compute thread: it drives the engine's sweep, saves each result as it ends, and talks
to the screen only through typed messages (:mod:`lab4_tui.messages`), batching the events of
a fast run into a few messages a second.  The screen folds them in on the UI thread with
:meth:`started`, :meth:`apply` and :meth:`ended`: nothing here is touched by two threads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from lab4.core.comparison import PlannedRun, plan
from lab4.core.context import RunContext
from lab4.core.events import Finding, Observation, Result, ResultBuilder
from lab4.engine.runner import new_group_id
from lab4.present.reproduce import command_line
from lab4_tui.messages import RunEnded, RunEvents, RunStarted, SessionFinished

__all__ = ["RunSession", "LiveRun", "BATCH_INTERVAL"]

#: seconds between two messages of events (observations go at once)
BATCH_INTERVAL = 0.25


@dataclass
class LiveRun:
    """One run of a session as the screen sees it."""

    label: str
    builder: ResultBuilder
    result: Result | None = None  # the saved result, once it ended
    unsaved: str = ""

    @property
    def current(self) -> Result:
        return self.result if self.result is not None else self.builder.result

    @property
    def progress(self) -> float:
        if self.result is not None:
            return 1.0
        p = self.builder.progress
        return min(1.0, p.step / p.total) if p.total > 0 else 0.0


@dataclass
class RunSession:
    task: Any
    params: dict[str, Any]
    axes: dict[str, list[Any]]
    ctx: RunContext
    post: Callable[[Any], Any]
    save: Callable[[Result], str]  # "" when saved, else why not
    runs: list[LiveRun] = field(default_factory=list)
    finished: bool = False

    def __post_init__(self) -> None:
        self.plan: list[PlannedRun] = plan(self.task.spec, self.params, self.axes)  # raises ParamError
        self.group = new_group_id(self.task.id) if len(self.plan) > 1 else ""
        self._pending: list[tuple[int, Any]] = []
        self._last_post = 0.0

    # ---- what the screen asks

    @property
    def total(self) -> int:
        return len(self.plan)

    @property
    def command(self) -> str:
        """The ``lab4 run`` / ``lab4 sweep`` line that computes the same runs."""
        return command_line(self.task, self.params, self.ctx.device, self.ctx.dtype, self.ctx.seed, self.axes)

    def fraction(self) -> float:
        done = sum(run.progress for run in self.runs)
        return done / max(1, self.total)

    def status(self) -> str:
        if not self.runs:
            return "starting..."
        run = self.runs[-1]
        which = f"run {len(self.runs)}/{self.total} " if self.total > 1 else ""
        p = run.builder.progress
        return f"running {which}step {p.step}/{p.total}" if p.total else f"running {which}..."

    def shown(self) -> list[tuple[str, Result]]:
        """(label, result so far) of every run that started."""
        return [(run.label, run.current) for run in self.runs]

    def results(self) -> list[tuple[str, Result]]:
        """(label, result) of every run that ended."""
        return [(run.label, run.result) for run in self.runs if run.result is not None]

    def cancel(self) -> None:
        self.ctx.cancel()

    # ---- UI thread: fold the messages in

    def started(self, message: RunStarted) -> LiveRun:
        r = Result(task=self.task.id, params=self.task.spec.to_json(message.planned.params), device=message.ctx.device,
                   dtype=message.ctx.dtype, seed=message.ctx.seed, group=self.group, label=message.planned.label)
        run = LiveRun(message.planned.label, ResultBuilder(r))
        self.runs.append(run)
        return run

    def apply(self, message: RunEvents) -> list[tuple[str, str]]:
        """Fold events into the live runs; return the new observations as (label, text)."""
        said = []
        for index, event in message.events:
            run = self.runs[index]
            run.builder.add(event)
            if isinstance(event, (Observation, Finding)):
                said.append((run.label, event.text))
        return said

    def ended(self, message: RunEnded) -> LiveRun:
        run = self.runs[message.index]
        run.result, run.unsaved = message.result, message.unsaved
        return run

    # ---- compute thread

    def body(self) -> None:
        """Every run of the plan, through the engine's sweep; saved as each ends."""
        from lab4.engine.runner import sweep

        try:
            runs = sweep(self.task.id, self.params, self.axes, self.ctx, on_start=self._on_start,
                         on_event=self._on_event, group=self.group)
            for index, (_, result) in enumerate(runs):
                unsaved = self.save(result)
                self._flush()
                self.post(RunEnded(self, index, result, unsaved))
        finally:
            self._flush()
            self.post(SessionFinished(self))

    def _on_start(self, index: int, planned: PlannedRun, ctx: RunContext) -> None:
        self._flush()
        self.post(RunStarted(self, index, planned, ctx))

    def _on_event(self, index: int, event: Any) -> None:
        self._pending.append((index, event))
        now = time.monotonic()
        if isinstance(event, (Observation, Finding)) or now - self._last_post >= BATCH_INTERVAL:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            events, self._pending = self._pending, []
            self._last_post = time.monotonic()
            self.post(RunEvents(self, events))

