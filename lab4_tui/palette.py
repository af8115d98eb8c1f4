"""The command palette's entries: every task, every tab of the task screen, every action."""

from __future__ import annotations

from functools import partial
from typing import Any, Iterable

from textual.app import SystemCommand

from lab4.tasks import TASKS

__all__ = ["commands"]


def commands(app: Any, screen: Any) -> Iterable[SystemCommand]:
    for task in TASKS.values():
        yield SystemCommand(
            f"Task {task.key}: {task.title} ({task.id})", task.summary, partial(app.switch_mode, task.id)
        )
    yield SystemCommand("Home", "The list of tasks", partial(app.switch_mode, "home"))
    yield SystemCommand("Settings: device, dtype, seed, theme", "Where and how runs compute", app.action_settings)
    yield SystemCommand("Write the lab report", "One Markdown file: comparisons, marked runs, notes", app.action_report)
    yield SystemCommand("Keys and formulas", "The help screen", app.action_help)
    if not hasattr(screen, "open_tab"):
        return
    for tab_id, title in screen.tabs.tab_titles():
        yield SystemCommand(f"Tab: {title}", f"Show the {title} tab", partial(screen.open_tab, tab_id))
    yield SystemCommand("Run this task", "Same as ctrl+r", screen.action_run)
    yield SystemCommand(
        "Cancel the run", "Same as escape outside fields", lambda: screen.session and screen.session.cancel()
    )
    for label in screen.task_def.presets or {}:
        yield SystemCommand(
            f"Compare preset: {label}", "Fill the compare field with it and run", partial(screen.action_preset, label)
        )
    yield SystemCommand("Export the shown run(s)", "JSON and CSV", screen.action_export)
    yield SystemCommand("Copy the command and the results", "To the clipboard (OSC 52)", screen.action_copy)
