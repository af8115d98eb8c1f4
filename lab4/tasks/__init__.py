"""The registry of lab tasks: id -> :class:`Task` (spec, run generator, texts).

Importing this package imports each task's spec and texts but not torch: task modules
import torch inside their ``run`` functions, so the TUI can build its forms before torch
is loaded.

More tasks come from the environment: ``LAB4_EXTRA_TASKS=pkg.mytask,other.tasks`` names
modules (importable from ``sys.path``) that each expose ``TASK`` (a :class:`Task`) or
``TASKS`` (a sequence of them).  They are added after the six, in that order, and reach
everything that reads the registry: the CLI, the app's keys, a worker process (which
inherits the environment).  A module that cannot be imported, or exposes no valid task,
is left out and its reason kept in :data:`EXTRA_TASK_ERRORS`; ``lab4`` and ``lab4-tui``
stop with that message instead of a traceback.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import replace

from lab4.core.spec import Spec
from lab4.core.task import Comparison, Task

__all__ = [
    "Task",
    "Comparison",
    "TASKS",
    "TASK_IDS",
    "BUILT_IN",
    "EXTRA_TASKS_ENV",
    "EXTRA_TASK_ERRORS",
    "get_task",
    "find_task",
    "task_keys",
    "specs",
]

#: the environment variable naming modules of extra tasks (comma-separated)
EXTRA_TASKS_ENV = "LAB4_EXTRA_TASKS"
_TASK_ID = re.compile(r"[a-z][a-z0-9_-]{0,30}\Z")


_MODULES = ("autograd", "derivatives", "minimize", "mlp", "clipped_ce", "scaled_mse")


def _load() -> dict[str, Task]:
    tasks = {}
    for name in _MODULES:
        module = importlib.import_module(f"lab4.tasks.{name}")
        task: Task = module.TASK
        tasks[task.id] = replace(task, key=str(len(tasks) + 1))
    return tasks


def _load_extra(names: str, known: dict[str, Task]) -> tuple[dict[str, Task], list[str]]:
    """The tasks of the modules named in ``names`` (comma-separated), and why any were left out."""
    tasks: dict[str, Task] = {}
    errors: list[str] = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        where = f"{EXTRA_TASKS_ENV}: module {name!r}"
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, never a traceback
            errors.append(f"{where} cannot be imported: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        found = [module.TASK] if hasattr(module, "TASK") else list(getattr(module, "TASKS", None) or [])
        if not found:
            errors.append(f"{where} has no TASK (a lab4.tasks.Task) or TASKS (a list of them)")
        for task in found:
            if not isinstance(task, Task):
                errors.append(f"{where}: {task!r:.60} is not a lab4.tasks.Task")
            elif not _TASK_ID.match(task.id):
                errors.append(f"{where}: task id {task.id!r} must be lowercase letters, digits, '-' or '_'")
            elif task.id in known or task.id in tasks:
                errors.append(f"{where}: task id {task.id!r} is already taken")
            else:
                tasks[task.id] = replace(task, key=str(len(known) + len(tasks) + 1))
    return tasks, errors


TASKS: dict[str, Task] = _load()
#: the tasks lab4 ships (the handout's six), before any of LAB4_EXTRA_TASKS
BUILT_IN: tuple[str, ...] = tuple(TASKS)
_extra, EXTRA_TASK_ERRORS = _load_extra(os.environ.get(EXTRA_TASKS_ENV, ""), TASKS)
TASKS.update(_extra)
TASK_IDS: tuple[str, ...] = tuple(TASKS)
del _extra


def get_task(task_id: str) -> Task:
    try:
        return TASKS[task_id]
    except KeyError:
        why = "".join(f"; {e}" for e in EXTRA_TASK_ERRORS)
        raise KeyError(f"unknown task {task_id!r}; known: {', '.join(TASK_IDS)}{why}") from None


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
