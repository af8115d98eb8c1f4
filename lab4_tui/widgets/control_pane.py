"""The left column of a task screen: the form, the compare field, and the run controls.

The form scrolls; the Run button, the progress bar and the status stay in view at any
height.  A key typed anywhere in this column (a field, a select, a switch, the Run button)
never triggers a single-key command of the app: digits and letters stop here, so typing
``1000`` on the Run button does nothing instead of opening task 1.  Keys with a modifier
(ctrl+r runs) and function keys still work.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

from rich.console import Console
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from lab4.core.comparison import compare_text, parse_compare, plan
from lab4.core.spec import ParamError
from lab4_tui.widgets.form import ParamForm

__all__ = ["CompareInput", "ControlPane", "RunProgress"]

PLAN_WHILE_TYPING = 1000  # a compare text's combinations checked as it is typed (all of them on run)


class RunProgress(Static):
    """A one-line progress bar: one cheap text update, no layout (the run shares the GIL)."""

    DEFAULT_CSS = "RunProgress { height: 1; }"

    def show(self, fraction: float) -> None:
        width = max(4, self.size.width - 6)
        fraction = min(1.0, max(0.0, fraction))
        filled = round(fraction * width)
        self.update(
            f"[$accent]{'━' * filled}[/][$foreground 30%]{'━' * (width - filled)}[/] {fraction:4.0%}", layout=False
        )

    def on_mount(self) -> None:
        self.call_after_refresh(self.show, 0.0)


class CompareInput(Input):
    """The compare field: its placeholder is an example ("e.g. optimizer=gd,momentum") cut to
    the field's width, whole values only: an Input wraps a longer placeholder at its spaces and
    shows only its first line ("e.g."), which reads like a value.  The full example is in the
    tooltip."""

    def __init__(self, value: str, examples: list[str], **kwargs: Any):
        super().__init__(value, **kwargs)
        self.examples = examples
        self.placeholder = self.fitted(80)
        if examples:
            self.tooltip = f"A sweep: name=v1,v2 (several names: their product), e.g.\n{examples[0]}"

    def fitted(self, width: int) -> str:
        """The first example that fits ``width`` cells after "e.g. ", else the shortest, cut."""
        texts = [f"e.g. {text}" for text in self.examples]
        for text in texts:
            if len(text) <= width:
                return text
        shortest = min(texts, key=len, default="")
        return shortest[: max(0, width - 1)] + "…" if shortest else ""

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width > 0:
            self.placeholder = self.fitted(width)


class ControlPane(Vertical):
    """The task's parameters and the Run controls; :meth:`read` returns what to run."""

    def __init__(self, task: Any, values: dict[str, Any] | None = None, compare: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self.task_def = task
        self.values = values
        self.compare = compare
        self._refused: tuple[str, bool] | None = None  # the status a refused run replaced

    def compose(self) -> ComposeResult:
        task = self.task_def
        with VerticalScroll(id="form-scroll"):
            yield Static(f"[b]{task.title}[/b]  (task {task.number})", classes="task-title")
            yield Static(task.summary, classes="task-summary")
            yield ParamForm(task.spec, self.values, id="form")
            yield Label("compare: name=v1,v2 ...", classes="field-label")
            yield CompareInput(self.compare, self._examples(), compact=True, select_on_focus=False, id="compare")
            yield Static("", id="compare-error", classes="field-error")
        with Vertical(id="controls"):
            yield Button("Run (ctrl+r)", id="run", variant="primary", compact=True)
            yield RunProgress(id="progress")
            yield Static("ready", id="status")

    def _examples(self) -> list[str]:
        """Compare texts this task takes, the most telling first: its first preset whole, then
        each of its axes alone with fewer values (down to two), then a name=value it has."""
        spec = self.task_def.spec
        axes = next(iter((self.task_def.presets or {}).values()), None) or {}
        texts = [compare_text(spec, axes)]
        for name, values in axes.items():
            texts += [compare_text(spec, {name: list(values)[:k]}) for k in range(len(values), 1, -1)]
        names = [p.name for p in spec]
        numbers = [p for p in spec if p.kind in ("int", "float") and isinstance(p.default, (int, float))]
        if "lr" in names:
            texts.append("lr=0.1,0.01")
        elif numbers:  # the last number the task has, and a tenth (ten times) of it
            p = numbers[-1]
            other = p.default * 10 if p.kind == "int" else p.default / 10
            texts.append(compare_text(spec, {p.name: [p.parse(p.default), p.parse(other)]}))
        elif names:  # the syntax only
            texts.append(f"{names[0]}=v1,v2")
        return list(dict.fromkeys(t for t in texts if t))

    def on_key(self, event: events.Key) -> None:
        """Digits and letters typed in the form are the form's: never a command."""
        if event.is_printable and event.character != " ":  # space toggles switches, opens selects
            event.stop()

    # ---- what to run

    def read(self) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        """The validated parameters and compare axes; raise ParamError after marking the
        field that is wrong (the compare field's message under it) and scrolling it into view."""
        try:
            params = self.form.to_model()
        except ParamError as exc:
            self.form.field(exc.param).scroll_visible(animate=False)
            raise
        try:
            axes = parse_compare(self.task_def.spec, self._compare.value)
            plan(self.task_def.spec, params, axes)  # every combination checked before anything runs
        except ParamError as exc:
            self._mark_compare(exc.message)
            self._compare_error.scroll_visible(animate=False)
            raise ParamError("compare", exc.message) from None
        self._mark_compare(None)
        return params, axes

    # ---- problems: one line under their field, gone once the value is right

    def _mark_compare(self, message: str | None) -> None:
        error = self._compare_error
        error.update((message or "").removeprefix("compare: "))  # the label above names the field
        error.tooltip = message or None
        error.display = bool(message)

    def _check_compare(self) -> None:
        """The compare text as it is typed: its own problem under it (a combination that the
        form's values refuse too, where the form is valid and the product small)."""
        spec = self.task_def.spec
        try:
            axes = parse_compare(spec, self._compare.value)
            if axes and math.prod(len(v) for v in axes.values()) <= PLAN_WHILE_TYPING:
                params = self.form.raw_values()
                if not spec.errors(params):
                    plan(spec, spec.parse(params), axes)
        except ParamError as exc:
            self._mark_compare(exc.message)
            return
        self._mark_compare(None)

    @on(Input.Changed, "#compare")
    def _compare_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._check_compare()
        self._settle()

    def on_param_form_changed(self, message: ParamForm.Changed) -> None:
        if self._compare_error.display:  # the form's values may have fixed it
            self._check_compare()
        self._settle()

    def refuse(self, param: str) -> None:
        """Say on the status line that the run was refused, in a line: the message itself is
        under the field; the status before comes back once every value is right."""
        before = self._refused or (self.status_text, self._status.has_class("-error"))
        self.set_status(f"not run: fix {param}", error=True)
        self._refused = before

    def _settle(self) -> None:
        if (
            self._refused is not None
            and not self._compare_error.display
            and not self.form.spec.errors(self.form.raw_values())
        ):
            text, error = self._refused
            self._refused = None
            self.set_status(text, error=error)
            self.app.clear_notifications()  # the toast that said what to fix, too

    def load(self, params: dict[str, Any], axes: dict[str, list[Any]] | None = None) -> None:
        """Fill the form (and the compare field) with a run's values."""
        self.form.set_values(params)
        self._compare.value = compare_text(self.task_def.spec, axes or {})

    def set_compare(self, text: str) -> None:
        self._compare.value = text

    # ---- run controls

    @cached_property
    def form(self) -> ParamForm:
        return self.query_one(ParamForm)

    @cached_property
    def _compare(self) -> Input:
        return self.query_one("#compare", Input)

    @cached_property
    def _status(self) -> Static:  # reached on every batch of a run: looked up once
        return self.query_one("#status", Static)

    @cached_property
    def _progress(self) -> RunProgress:
        return self.query_one("#progress", RunProgress)

    @cached_property
    def _compare_error(self) -> Static:
        return self.query_one("#compare-error", Static)

    def set_status(self, text: str, error: bool = False) -> None:
        """A text that wraps to as many lines as the status has now is shown without a layout
        (a screen-wide stall of tens of ms during a run); one of another height lays out."""
        self._refused = None  # a new state: the refusal is over
        status = self._status
        width = status.content_size.width
        same_height = width > 0 and _wrapped_lines(text, width) == status.content_size.height
        status.update(text, layout=not same_height)
        status.set_class(error, "-error")

    @property
    def status_text(self) -> str:
        return str(self._status.render())

    def show_progress(self, fraction: float) -> None:
        self._progress.show(fraction)


_MEASURE = Console(width=1000, color_system=None, legacy_windows=False)


def _wrapped_lines(text: str, width: int) -> int:
    """Lines ``text`` takes wrapped at ``width`` cells, words whole (as the status wraps it)."""
    return max(1, len(Text(text).wrap(_MEASURE, width))) if text else 1
