"""The registry of lab tasks: id -> :class:`Task` (spec, run generator, texts).

Importing this package imports each task's spec and texts but not torch: task modules
import torch inside their ``run`` functions, so the TUI can build its forms before torch
is loaded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from lab4.spec import Spec

__all__ = ["Task", "TASKS", "TASK_IDS", "get_task", "find_task"]


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


def find_task(text: str) -> Task | None:
    """A task by id or by its position 1-6 (as the TUI's keys number them)."""
    text = str(text).strip().lower()
    if text in TASKS:
        return TASKS[text]
    if text.isdigit() and 1 <= int(text) <= len(TASK_IDS):
        return TASKS[TASK_IDS[int(text) - 1]]
    return None
