"""The registry of lab tasks: id -> :class:`Task` (spec, run generator, texts).

Importing this package imports each task's spec and texts but not torch: task modules
import torch inside their ``run`` functions, so the TUI can build its forms before torch
is loaded.
"""

from __future__ import annotations

import importlib
from dataclasses import replace

from lab4.core.spec import Spec
from lab4.core.task import Comparison, Task

__all__ = ["Task", "Comparison", "TASKS", "TASK_IDS", "get_task", "find_task", "task_keys", "specs"]


_MODULES = ("autograd", "derivatives", "minimize", "mlp", "clipped_ce", "scaled_mse")


def _load() -> dict[str, Task]:
    tasks = {}
    for name in _MODULES:
        module = importlib.import_module(f"lab4.tasks.{name}")
        task: Task = module.TASK
        tasks[task.id] = replace(task, key=str(len(tasks) + 1))
    return tasks


TASKS: dict[str, Task] = _load()
TASK_IDS: tuple[str, ...] = tuple(TASKS)


def get_task(task_id: str) -> Task:
    try:
        return TASKS[task_id]
    except KeyError:
        raise KeyError(f"unknown task {task_id!r}; known: {', '.join(TASK_IDS)}") from None


def specs() -> dict[str, Spec]:
    """Task id -> its spec (what the store needs to read ``name=value`` conditions)."""
    return {task_id: task.spec for task_id, task in TASKS.items()}


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
