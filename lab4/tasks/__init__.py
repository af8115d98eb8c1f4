"""The registry of lab tasks: id -> :class:`Task` (spec, run generator, texts).

Importing this package imports each task's spec and texts but not torch: task modules
import torch inside their ``run`` functions, so the TUI can build its forms before torch
is loaded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from lab4.core.comparison import Comparison
from lab4.core.spec import Spec
from lab4.core.views import PlotView

__all__ = ["Task", "Comparison", "TASKS", "TASK_IDS", "get_task", "find_task", "task_keys"]


@dataclass(frozen=True)
class Task:
    id: str
    number: str  # the handout's task number: "1", "4 + 4.1"
    title: str
    summary: str
    spec: Spec
    run: Callable[[dict[str, Any], Any], Iterator[Any]]
    #: formulas and notes for the help screen and the report (plain text)
    help: str
    #: the metric that best sums up a run, for histories and tables
    headline: str = ""
    #: sweeps that answer the handout's "compare" questions: label -> {param: [values]}
    presets: dict[str, dict[str, list[Any]]] | None = None
    #: what the screen shows beside the form, in tab order (plots, the graph...)
    views: tuple[PlotView, ...] = ()
    #: the metric a comparison of runs is about, and its goal (for tables and sentences)
    comparison: Comparison | None = None
    #: resolves symbolic values (``lr = optimal``) into numbers before a run; returns the
    #: parameters and sentences that say what was resolved
    resolve: Callable[[dict[str, Any], Any], tuple[dict[str, Any], list[str]]] | None = None
    #: warnings about the parameters known before anything is computed (no torch)
    preflight: Callable[[dict[str, Any]], list[str]] | None = None

    @property
    def key(self) -> str:
        """The key that opens this task in the app: its position, 1-based."""
        return str(TASK_IDS.index(self.id) + 1)

    def compare_metrics(self) -> tuple[str, ...]:
        """The metrics a table of several runs leads with."""
        first = (self.comparison.metric, *self.comparison.also) if self.comparison else ()
        return tuple(m for m in dict.fromkeys([*first, self.headline]) if m)


_MODULES = ("autograd", "derivatives", "minimize", "mlp", "clipped_ce", "scaled_mse")


def _load() -> dict[str, Task]:
    tasks = {}
    for name in _MODULES:
        module = importlib.import_module(f"lab4.tasks.{name}")
        task: Task = module.TASK
        tasks[task.id] = task
    return tasks


TASKS: dict[str, Task] = _load()
TASK_IDS: tuple[str, ...] = tuple(TASKS)


def get_task(task_id: str) -> Task:
    try:
        return TASKS[task_id]
    except KeyError:
        raise KeyError(f"unknown task {task_id!r}; known: {', '.join(TASK_IDS)}") from None


def task_keys() -> str:
    """``1-6``: the keys that open the tasks, from the registry."""
    return f"1-{len(TASK_IDS)}"


def find_task(text: str) -> Task | None:
    """A task by id or by its position (as the app's keys number them)."""
    text = str(text).strip().lower()
    if text in TASKS:
        return TASKS[text]
    if text.isdigit() and 1 <= int(text) <= len(TASK_IDS):
        return TASKS[TASK_IDS[int(text) - 1]]
    return None
