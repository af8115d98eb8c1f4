"""A run session: what one press of Run computes (one run, or every run of a comparison).

The session is not a widget.  It owns the context (device, dtype, seed, cancel flag), the
validated plan, and the live runs as they arrive.  The app's compute thread
(:class:`lab4_tui.compute.Compute`) sends the plan's runs to the compute worker and posts the
session's typed messages (:mod:`lab4_tui.messages`) to the screen, batching the events of a
fast run into a few messages a second; the worker saves each result as it ends.  The screen
folds the messages in on the UI thread with :meth:`started`, :meth:`apply` and
:meth:`ended`: nothing here is touched by two threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from lab4.core.comparison import PlannedRun, plan
from lab4.core.context import RunContext
from lab4.core.events import Finding, Observation, Result, ResultBuilder
from lab4.engine.runner import new_group_id
from lab4.present.reproduce import command_line
from lab4_tui.messages import RunEnded, RunEvents, RunStarted

__all__ = ["RunSession", "LiveRun", "describe_dtypes_and_seeds"]


def describe_dtypes_and_seeds(pairs: list[tuple[str, int]]) -> str:
    """(dtype, seed) pairs in words: "float32, seed 0"; "float64, seeds 1, 2"."""
    dtypes = list(dict.fromkeys(dtype for dtype, _ in pairs))
    seeds = list(dict.fromkeys(seed for _, seed in pairs))
    return f"{', '.join(dtypes)}, seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


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
    save: Callable[[Result], str]  # "" when saved, else why not (a run whose worker died)
    #: tells the compute side that the run should stop (the worker's flag)
    on_cancel: Callable[["RunSession"], None] | None = None
    runs: list[LiveRun] = field(default_factory=list)
    finished: bool = False

    def __post_init__(self) -> None:
        self.plan: list[PlannedRun] = plan(self.task.spec, self.params, self.axes)  # raises ParamError
        self.group = new_group_id(self.task.id) if len(self.plan) > 1 else ""

    # ---- what the screen asks

    @property
    def total(self) -> int:
        return len(self.plan)

    @property
    def command(self) -> str:
        """The ``lab4 run`` / ``lab4 sweep`` line that computes the same runs."""
        return command_line(self.task, self.params, self.ctx.device, self.ctx.dtype, self.ctx.seed, self.axes)

    def dtype_and_seed(self, planned: PlannedRun) -> tuple[str, int]:
        """The dtype and seed ``planned`` computes with: a compare axis's, else the session's."""
        return planned.dtype or self.ctx.dtype, self.ctx.seed if planned.seed is None else planned.seed

    def uses(self) -> str:
        """The dtype(s) and seed(s) the session's runs compute with: "float32, seed 0"."""
        return describe_dtypes_and_seeds([self.dtype_and_seed(p) for p in self.plan])

    def fraction(self) -> float:
        done = sum(run.progress for run in self.runs)
        return done / max(1, self.total)

    def status(self) -> str:
        if not self.runs:
            return "starting..."
        going = [i for i, run in enumerate(self.runs) if run.result is None] or [len(self.runs) - 1]
        run = self.runs[going[0]]
        if self.total == 1:
            which = ""
        elif len(going) == 1:
            which = f"run {going[0] + 1}/{self.total} "
        else:  # side by side (the jobs setting): the first one's step
            which = f"runs {', '.join(str(i + 1) for i in going)}/{self.total} "
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
        if self.on_cancel is not None:
            self.on_cancel(self)

    @property
    def cancelled(self) -> bool:
        return self.ctx.cancelled

    # ---- UI thread: fold the messages in

    def started(self, message: RunStarted) -> LiveRun:
        r = Result(
            task=self.task.id,
            params=self.task.spec.to_json(message.planned.params),
            device=message.ctx.device,
            dtype=message.ctx.dtype,
            seed=message.ctx.seed,
            group=self.group,
            label=message.planned.label,
        )
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
