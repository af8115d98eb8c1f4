"""A parameter form generated from a task's :class:`~lab4.core.spec.Spec`.

Choices become a ``Select``, booleans a ``Switch``, everything else an ``Input`` holding
the parameter's text.  Each value is parsed by the spec as it is typed; a bad value is
marked at its field with the spec's message.  :meth:`ParamForm.to_model` returns the
validated parameter dict, or raises :class:`~lab4.core.spec.ParamError` after marking the
fields.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static, Switch

from lab4.core.spec import BoolParam, ChoiceParam, Param, ParamError, Spec

__all__ = ["ParamForm"]


class ParamField(Vertical):
    """One parameter: its label, its editor, and the line that shows its problem."""

    DEFAULT_CSS = """
    ParamField { height: auto; margin: 0 0 0 0; }
    ParamField > .field-label { color: $text-muted; }
    ParamField > .field-error { color: $error; display: none; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    ParamField.-invalid > .field-error { display: block; }
    ParamField.-invalid > Input { border-left: outer $error; }
    """

    def __init__(self, param: Param, value: Any):
        super().__init__(id=f"field-{param.name}")
        self.param = param
        self.initial = value
        self._marked: str | None = None  # the message the field shows

    def compose(self) -> ComposeResult:
        p = self.param
        hint = p.describe()
        tooltip = f"{p.help}\n{hint}" if hint else p.help
        label = p.title if p.title == p.name else f"{p.title}  ({p.name})"
        yield Label(label + (f" [{p.unit}]" if p.unit else ""), classes="field-label")
        if isinstance(p, ChoiceParam):
            widget: Any = Select(
                [(c, c) for c in p.choices], value=self.initial, allow_blank=False, compact=True, id=f"in-{p.name}"
            )
        elif isinstance(p, BoolParam):
            widget = Switch(value=bool(self.initial), id=f"in-{p.name}")
        else:
            widget = Input(value=p.format(self.initial), compact=True, select_on_focus=False, id=f"in-{p.name}")
        widget.tooltip = tooltip
        yield widget
        yield Static("", classes="field-error")

    @cached_property
    def editor(self) -> Any:  # looked up once: the form is read on every run
        return self.query_one(f"#in-{self.param.name}")

    @cached_property
    def _error(self) -> Static:
        return self.query_one(".field-error", Static)

    @property
    def text(self) -> Any:
        widget = self.editor
        if isinstance(widget, Switch):
            return widget.value
        if isinstance(widget, Select):
            return widget.value
        return widget.value

    def set_value(self, value: Any) -> None:
        widget = self.editor
        if isinstance(widget, (Switch, Select)):
            widget.value = value
        else:
            widget.value = self.param.format(value)

    @property
    def marked(self) -> str | None:
        """The problem the field shows (None when it shows none)."""
        return self._marked

    def mark(self, message: str | None) -> None:
        """Show ``message`` on one line under the editor (cut with an ellipsis where the column
        is narrower; the whole of it in the line's tooltip), or clear it."""
        self.set_class(bool(message), "-invalid")
        if message != self._marked:  # an update re-lays out the screen: only when it changes
            self._marked = message
            self._error.update(message or "")
            self._error.tooltip = message or None


class ParamForm(Vertical):
    """The form of one task's spec."""

    DEFAULT_CSS = """
    ParamForm { height: auto; }
    """

    class Changed(Message):
        """A field changed; ``valid`` tells whether the whole form parses."""

        def __init__(self, form: "ParamForm", valid: bool):
            super().__init__()
            self.form = form
            self.valid = valid

    def __init__(self, spec: Spec, values: dict[str, Any] | None = None, id: str | None = None):
        super().__init__(id=id)
        self.spec = spec
        self.initial = values or spec.defaults()
        self._fields: list[ParamField] = []

    def compose(self) -> ComposeResult:
        for p in self.spec:
            yield ParamField(p, self.initial.get(p.name, p.parse(p.default)))

    def fields(self) -> list[ParamField]:
        if not self._fields:  # composed once; a query walks the form's every widget
            self._fields = list(self.query(ParamField))
        return self._fields

    def field(self, name: str) -> ParamField:
        return self.query_one(f"#field-{name}", ParamField)

    def raw_values(self) -> dict[str, Any]:
        return {f.param.name: f.text for f in self.fields()}

    def validate_field(self, field: ParamField) -> bool:
        try:
            field.param.parse(field.text)
        except ParamError as exc:
            field.mark(exc.message)
            return False
        field.mark(None)
        return True

    def errors(self) -> dict[str, str]:
        """Every field's problem (cross-field checks too), marked at the fields."""
        problems = self.spec.errors(self.raw_values())
        for f in self.fields():
            f.mark(problems.get(f.param.name))
        return problems

    def to_model(self) -> dict[str, Any]:
        problems = self.errors()
        if problems:
            name, message = next(iter(problems.items()))
            raise ParamError(name, message)
        return self.spec.parse(self.raw_values())

    def set_values(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name in self.spec:
                self.field(name).set_value(self.spec[name].parse(value))

    def _field_of(self, widget: Any) -> ParamField | None:
        node = widget
        while node is not None and not isinstance(node, ParamField):
            node = node.parent
        return node

    def _changed(self, field: ParamField) -> None:
        """A field changed: it shows its own problem as typed; a problem shown elsewhere (a
        cross-field check: stop > start) goes as soon as the values no longer have it."""
        problems = self.spec.errors(self.raw_values())
        shown = field.marked
        if self.validate_field(field) and shown:  # it parses; a cross-field problem it showed may stay
            field.mark(problems.get(field.param.name))
        for other in self.fields():
            if other is not field and other.marked is not None:
                other.mark(problems.get(other.param.name))
        self.post_message(self.Changed(self, not problems))

    def on_input_changed(self, event: Input.Changed) -> None:
        field = self._field_of(event.input)
        if field is not None:
            event.stop()
            self._changed(field)

    def on_select_changed(self, event: Select.Changed) -> None:
        field = self._field_of(event.select)
        if field is not None:
            event.stop()
            self._changed(field)

    def on_switch_changed(self, event: Switch.Changed) -> None:
        field = self._field_of(event.switch)
        if field is not None:
            event.stop()
            self._changed(field)
