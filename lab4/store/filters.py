"""Which runs a listing keeps (``name=value`` conditions) and in what order."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from lab4.core.events import Result
from lab4.core.spec import ParamError, Spec

__all__ = ["where_term", "matcher", "sort_runs"]


def where_term(text: str) -> tuple[str, str]:
    """One condition of a listing, ``optimizer=momentum`` -> ("optimizer", "momentum") (a dash
    in the name reads as an underscore); ValueError when it is not name=value."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise ValueError(f"needs name=value, got {text!r}")
    return name.replace("-", "_"), value


_CONTEXT_FIELDS = {"status": str, "dtype": str, "device": str, "seed": int, "label": str}


def matcher(where: Mapping[str, str], specs: Mapping[str, Spec]) -> Callable[[Result], bool]:
    """A test of one run against ``name=value`` conditions, values parsed by the spec of each
    run's task (``specs``: task id -> spec; a run of a task not there matches no parameter)."""
    parsed: dict[tuple[str, str], Any] = {}

    def wanted(task: str, name: str) -> Any:
        key = (task, name)
        if key not in parsed:
            spec = specs.get(task)
            try:
                parsed[key] = spec[name].parse(where[name]) if spec is not None and name in spec else None
            except ParamError:
                parsed[key] = None
        return parsed[key]

    def keep(result: Result) -> bool:
        for name, text in where.items():
            if name in _CONTEXT_FIELDS:
                try:
                    if getattr(result, name) != _CONTEXT_FIELDS[name](text):
                        return False
                except ValueError:
                    return False
                continue
            spec = specs.get(result.task)
            if spec is None or name not in spec or name not in result.params:
                return False
            value = wanted(result.task, name)
            try:
                if value is None or spec[name].parse(result.params[name]) != value:
                    return False
            except ParamError:
                return False
        return True

    return keep


def sort_runs(runs: list[Result], key: str, descending: bool) -> list[Result]:
    def value(r: Result) -> Any:
        if key in ("started", "ended", "duration_s", "id", "status"):
            return getattr(r, key)
        v = r.metrics.get(key)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else None

    present = [r for r in runs if value(r) is not None]
    absent = [r for r in runs if value(r) is None]
    return sorted(present, key=value, reverse=descending) + absent
