"""Typed task parameters, declared once per task.

A :class:`Spec` is the single source of truth for a task's parameters: the CLI builds its
options from it, the TUI builds its form from it, and both parse user text through
:meth:`Param.parse`, which raises :class:`ParamError` with a human message
("h must be > 0, got -1").  Values are plain Python objects (int, float, str, bool, tuples,
dicts) so they serialise to JSON as they are.

This module is pure Python: importing it never imports torch, textual or click.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

__all__ = [
    "ParamError",
    "Param",
    "IntParam",
    "FloatParam",
    "ChoiceParam",
    "BoolParam",
    "TextParam",
    "ExprParam",
    "FloatListParam",
    "IntListParam",
    "AssignParam",
    "Spec",
]

MAX_TEXT = 500


class ParamError(ValueError):
    """A value a user typed is not acceptable; ``param`` names the field."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param
        self.message = message


def _short(text: Any, limit: int = 40) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_number(value: float) -> str:
    """Shortest honest text for a number: 0.01, 1e-05, 1000, 64."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value)) if abs(value) >= 1 or value == 0 else repr(value)
    return repr(value)


#: a number as people type it in ASCII: ``4``, ``-0.5``, ``.5``, ``1e3``, ``inf``, ``nan``.  Python's
#: ``float``/``int`` also take ``1_000`` and any script's digits (``１０``, ``𝟏``): refused, so that
#: what was typed is what the reproduce line, the report and the store show
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)\Z", re.IGNORECASE)


def parse_number(text: Any) -> float:
    """``float(text)`` for ASCII number syntax only; ValueError for anything else."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    text = str(text).strip()
    if not text.isascii() or not _NUMBER.match(text):
        raise ValueError(f"not a number: {text!r}")
    return float(text)


def whole_number(value: Any) -> int:
    """The one integer rule of every spec: ``4``, ``4.0``, ``"4"``, ``"4.0"``, ``"1e3"``.

    Raises ValueError for anything that is not a finite whole number (``4.5``, ``True``, ``"abc"``,
    ``"1_000"``, ``"１０"``).
    """
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    text = str(value).strip()
    if text.isascii() and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    number = parse_number(text)  # "1e3", "4.0"; raises ValueError for junk
    if not math.isfinite(number) or not number.is_integer():
        raise ValueError(value)
    return int(number)


@dataclass(frozen=True)
class Param:
    """One parameter of a task.

    ``parse`` accepts either text (from a form field or a command line) or an already
    typed value, and returns the validated typed value.
    """

    name: str
    default: Any
    help: str = ""
    unit: str = ""
    #: a short label for forms; defaults to the name
    label: str = ""
    kind: str = field(default="text", init=False)

    @property
    def option(self) -> str:
        """The command-line spelling: ``--batch-size``."""
        return "--" + self.name.replace("_", "-")

    @property
    def title(self) -> str:
        return self.label or self.name

    def error(self, message: str) -> ParamError:
        return ParamError(self.name, f"{self.name} {message}")

    def parse(self, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def format(self, value: Any) -> str:
        """The text that ``parse`` turns back into ``value``."""
        return str(value)

    def describe(self) -> str:
        """Bounds or choices, for help text and tooltips."""
        return ""

    def to_json(self, value: Any) -> Any:
        return value

    def sweep_values(self, text: str) -> list[Any]:
        """Parse a list of alternatives for a sweep: ``a,b,c``."""
        parts = [p.strip() for p in str(text).split(",")]
        if not parts or any(p == "" for p in parts):
            raise self.error(f"needs values separated by ',', got {_short(text)!r}")
        return [self.parse(p) for p in parts]


def _text(value: Any) -> str:
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise ValueError(f"is too long ({len(text)} characters, at most {MAX_TEXT})")
    return text


@dataclass(frozen=True)
class _Bounded(Param):
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def check_bounds(self, value: float) -> None:
        if self.gt is not None and not value > self.gt:
            raise self.error(f"must be > {format_number(self.gt)}, got {format_number(value)}")
        if self.ge is not None and not value >= self.ge:
            raise self.error(f"must be >= {format_number(self.ge)}, got {format_number(value)}")
        if self.lt is not None and not value < self.lt:
            raise self.error(f"must be < {format_number(self.lt)}, got {format_number(value)}")
        if self.le is not None and not value <= self.le:
            raise self.error(f"must be <= {format_number(self.le)}, got {format_number(value)}")

    def describe(self) -> str:
        parts = []
        if self.gt is not None:
            parts.append(f"> {format_number(self.gt)}")
        if self.ge is not None:
            parts.append(f">= {format_number(self.ge)}")
        if self.lt is not None:
            parts.append(f"< {format_number(self.lt)}")
        if self.le is not None:
            parts.append(f"<= {format_number(self.le)}")
        return ", ".join(parts)


@dataclass(frozen=True)
class IntParam(_Bounded):
    kind: str = field(default="int", init=False)

    def parse(self, value: Any) -> int:
        if isinstance(value, str):
            try:
                value = _text(value)
            except ValueError as exc:
                raise self.error(str(exc)) from None
            if value == "":
                raise self.error("needs a value")
        try:
            number = whole_number(value)
        except ValueError:
            shown = format_number(value) if isinstance(value, float) else value
            raise self.error(f"must be a whole number, got {_short(shown)!r}") from None
        self.check_bounds(number)
        return number

    def describe(self) -> str:
        bounds = super().describe()
        return f"integer{', ' + bounds if bounds else ''}"


@dataclass(frozen=True)
class FloatParam(_Bounded):
    """A number; ``symbols`` are words it also takes (``optimal``), resolved by the task
    into numbers before it runs."""

    symbols: tuple[str, ...] = ()
    kind: str = field(default="float", init=False)

    def parse(self, value: Any) -> float | str:
        if isinstance(value, bool):
            raise self.error(f"must be a number, got {value!r}")
        if isinstance(value, str) and value.strip().lower() in self.symbols:
            return value.strip().lower()
        if isinstance(value, (int, float)):
            number = float(value)
        else:
            try:
                text = _text(value)
            except ValueError as exc:
                raise self.error(str(exc)) from None
            if text == "":
                raise self.error("needs a value")
            try:
                number = parse_number(text)
            except (ValueError, OverflowError):
                words = "".join(f" or {s}" for s in self.symbols)
                raise self.error(f"must be a number{words}, got {_short(text)!r}") from None
        if not math.isfinite(number):
            raise self.error(f"must be a finite number, got {format_number(number)}")
        self.check_bounds(number)
        return number

    def format(self, value: Any) -> str:
        return value if isinstance(value, str) else format_number(float(value))

    def describe(self) -> str:
        bounds = super().describe()
        words = "".join(f" or {s}" for s in self.symbols)
        return f"number{', ' + bounds if bounds else ''}{words}"


@dataclass(frozen=True)
class ChoiceParam(Param):
    choices: tuple[str, ...] = ()
    kind: str = field(default="choice", init=False)

    def parse(self, value: Any) -> str:
        text = str(value).strip().lower()
        if text in self.choices:
            return text
        raise self.error(f"must be one of {', '.join(self.choices)}; got {_short(value)!r}")

    def describe(self) -> str:
        return "one of " + ", ".join(self.choices)


_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


@dataclass(frozen=True)
class BoolParam(Param):
    kind: str = field(default="bool", init=False)

    def parse(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self.error(f"must be true or false, got {_short(value)!r}")

    def format(self, value: Any) -> str:
        return "true" if value else "false"

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class TextParam(Param):
    """Free text with an optional checker that returns the parsed value or raises."""

    check: Callable[[str], Any] | None = None
    kind: str = field(default="text", init=False)

    def parse(self, value: Any) -> str:
        try:
            text = _text(value)
        except ValueError as exc:
            raise self.error(str(exc)) from None
        if text == "":
            raise self.error("needs a value")
        if self.check is not None:
            try:
                self.check(text)
            except ParamError as exc:
                raise ParamError(self.name, f"{self.name}: {exc.message}") from None
            except ValueError as exc:
                raise ParamError(self.name, f"{self.name}: {exc}") from None
        return text


@dataclass(frozen=True)
class ExprParam(Param):
    """A user-typed function of named variables, parsed by :mod:`lab4.maths.expr`."""

    variables: tuple[str, ...] | None = None
    kind: str = field(default="expr", init=False)

    def parse(self, value: Any) -> str:
        from lab4.core.expr import ExprError, parse_expression

        try:
            text = _text(value)
        except ValueError as exc:
            raise self.error(str(exc)) from None
        try:
            expr = parse_expression(text)
        except ExprError as exc:
            raise self.error(f"is not a valid expression: {exc}") from None
        if self.variables is not None:
            unknown = [v for v in expr.variables if v not in self.variables]
            if unknown:
                allowed = ", ".join(self.variables)
                raise self.error(
                    f"may only use the variable{'s' if len(self.variables) > 1 else ''} "
                    f"{allowed}; found {', '.join(unknown)}"
                )
        return text

    def describe(self) -> str:
        if self.variables:
            return "expression in " + ", ".join(self.variables)
        return "expression"


@dataclass(frozen=True)
class _ListParam(_Bounded):
    min_len: int = 1
    max_len: int = 64
    item: type = float

    def parse(self, value: Any) -> tuple:
        if isinstance(value, (list, tuple)):
            items = list(value)
        else:
            try:
                text = _text(value)
            except ValueError as exc:
                raise self.error(str(exc)) from None
            if text.lower() == "none" and self.min_len == 0:
                items = []  # the empty list, said in words (an empty field is a forgotten value)
            elif not text and self.min_len == 0:
                raise self.error("needs values, or 'none' for no values")
            elif not text:
                items = []  # "needs at least ..." below
            else:
                items = [p.strip() for p in re.split(r"\s*,\s*|\s+", text)]
                if any(not p for p in items):
                    raise self.error(f"has an empty value between commas: {_short(text)!r}")
        if len(items) < self.min_len:
            raise self.error(f"needs at least {self.min_len} value{'s' if self.min_len > 1 else ''}")
        if len(items) > self.max_len:
            raise self.error(f"takes at most {self.max_len} values, got {len(items)}")
        out = []
        for raw in items:
            try:
                number = whole_number(raw) if self.item is int else parse_number(raw)
            except (ValueError, OverflowError):
                kind = "whole numbers" if self.item is int else "numbers"
                raise self.error(f"must be {kind} separated by commas, got {_short(raw)!r}") from None
            if self.item is float and not math.isfinite(number):
                raise self.error(f"must hold finite numbers, got {format_number(number)}")
            self.check_bounds(number)
            out.append(number)
        return tuple(out)

    def check_bounds(self, value: float) -> None:
        try:
            super().check_bounds(value)
        except ParamError as exc:
            raise ParamError(self.name, exc.message.replace(f"{self.name} must", f"{self.name} values must", 1))

    def format(self, value: Any) -> str:
        return ",".join(format_number(v) for v in value) if len(value) else "none"

    def to_json(self, value: Any) -> Any:
        return list(value)

    def sweep_values(self, text: str) -> list[Any]:
        """Alternatives of a list parameter are separated by ``;``: ``64,64;32``."""
        parts = [p.strip() for p in str(text).split(";")]
        if any(p == "" for p in parts):
            raise self.error(f"needs lists separated by ';', got {_short(text)!r}")
        return [self.parse(p) for p in parts]


@dataclass(frozen=True)
class FloatListParam(_ListParam):
    kind: str = field(default="floats", init=False)

    def describe(self) -> str:
        bounds = _Bounded.describe(self)
        return f"numbers separated by commas{', each ' + bounds if bounds else ''}"


@dataclass(frozen=True)
class IntListParam(_ListParam):
    item: type = int
    kind: str = field(default="ints", init=False)

    def describe(self) -> str:
        bounds = _Bounded.describe(self)
        return f"whole numbers separated by commas{', each ' + bounds if bounds else ''}"


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")


@dataclass(frozen=True)
class AssignParam(Param):
    """Assignments of numbers to names: ``x=2, y=3``."""

    kind: str = field(default="assign", init=False)

    def parse(self, value: Any) -> dict[str, float]:
        if isinstance(value, Mapping):
            items = [(str(k), v) for k, v in value.items()]
        else:
            try:
                text = _text(value)
            except ValueError as exc:
                raise self.error(str(exc)) from None
            if not text:
                raise self.error("needs at least one assignment like x=2")
            items = []
            for part in re.split(r"[,;]", text):
                part = part.strip()
                if not part:
                    continue
                if "=" not in part:
                    raise self.error(f"needs assignments like x=2, got {_short(part)!r}")
                name, _, number = part.partition("=")
                items.append((name.strip(), number.strip()))
        out: dict[str, float] = {}
        for name, raw in items:
            if not _NAME.match(name):
                raise self.error(f"has an invalid variable name {_short(name)!r}")
            if name in out:
                raise self.error(f"assigns {name} twice")
            try:
                number = parse_number(raw)
            except (TypeError, ValueError, OverflowError):
                raise self.error(f"needs a number for {name}, got {_short(raw)!r}") from None
            if not math.isfinite(number):
                raise self.error(f"needs a finite number for {name}, got {format_number(number)}")
            out[name] = number
        if not out:
            raise self.error("needs at least one assignment like x=2")
        return out

    def format(self, value: Any) -> str:
        return ", ".join(f"{k}={format_number(v)}" for k, v in value.items())

    def describe(self) -> str:
        return "assignments like x=2, y=3"

    def sweep_values(self, text: str) -> list[Any]:
        parts = [p.strip() for p in str(text).split(";")]
        if any(p == "" for p in parts):
            raise self.error(f"needs assignments separated by ';', got {_short(text)!r}")
        return [self.parse(p) for p in parts]


Check = Callable[[dict[str, Any]], "tuple[str, str] | None"]


@dataclass(frozen=True)
class Spec:
    """The parameters of a task, in form order, and cross-field checks.

    ``checks`` are functions of the whole parameter dict that return ``(name, message)``
    for the first problem they find, or ``None``.
    """

    params: tuple[Param, ...]
    checks: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate parameter names in {names}")

    def __iter__(self) -> Iterable[Param]:
        return iter(self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.params)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.parse(p.default) for p in self.params}

    def parse(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validate ``values`` (text or typed) over the defaults; raise the first error."""
        values = dict(values or {})
        unknown = [k for k in values if k not in self]
        if unknown:
            raise ParamError(unknown[0], f"unknown parameter {unknown[0]!r}; known: {', '.join(self.names)}")
        out = {}
        for p in self.params:
            out[p.name] = p.parse(values[p.name]) if p.name in values else p.parse(p.default)
        self.check(out)
        return out

    def errors(self, values: Mapping[str, Any]) -> dict[str, str]:
        """Every field's problem at once (for forms): name -> message."""
        problems: dict[str, str] = {}
        out = {}
        for p in self.params:
            try:
                out[p.name] = p.parse(values.get(p.name, p.default))
            except ParamError as exc:
                problems[p.name] = exc.message
        if not problems:
            try:
                self.check(out)
            except ParamError as exc:
                problems[exc.param] = exc.message
        return problems

    def check(self, values: dict[str, Any]) -> None:
        for check in self.checks:
            problem = check(values)
            if problem:
                raise ParamError(*problem)

    def to_json(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {p.name: p.to_json(values[p.name]) for p in self.params if p.name in values}

    def format(self, values: Mapping[str, Any]) -> dict[str, str]:
        return {p.name: p.format(values[p.name]) for p in self.params if p.name in values}
