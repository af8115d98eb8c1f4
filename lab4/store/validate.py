"""The shape of a run read from a file (``lab4 import``, lab4 0.1's ``runs/*.json``), checked
field by field before anything is saved: a run that would break a listing, a report or the
app is refused with the field that is wrong, and the other runs are imported."""

from __future__ import annotations

import math
from typing import Any, Collection

from lab4.core.events import STATUSES, Result
from lab4.store.files import valid_run_id

__all__ = ["check_run", "RunShapeError", "MAX_DEPTH"]

#: how deeply parameters, metrics, tables and artifacts may nest lists and objects
MAX_DEPTH = 16

_STRINGS = ("message", "device", "dtype", "started", "ended", "label")


class RunShapeError(ValueError):
    """A run read from a file is not shaped as lab4 writes runs; the message names the field."""


def _fail(field: str, why: str) -> RunShapeError:
    return RunShapeError(f"field {field!r}: {why}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_value(value: Any, field: str, depth: int = 0) -> None:
    """Any JSON value (what ``json.loads`` gives), nested at most MAX_DEPTH deep."""
    if depth > MAX_DEPTH:
        raise _fail(field, f"nested more than {MAX_DEPTH} deep")
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            _json_value(v, f"{field}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise _fail(field, "keys must be text")
            _json_value(v, f"{field}.{k}", depth + 1)
        return
    raise _fail(field, f"{type(value).__name__} is not a JSON value")


def _mapping(data: dict[str, Any], field: str) -> dict[str, Any]:
    value = data.get(field, {})
    if not isinstance(value, dict):
        raise _fail(field, f"must be an object, not {_type(value)}")
    return value


def _type(value: Any) -> str:
    return {list: "a list", dict: "an object", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if _number(value) else type(value).__name__
    )


def _numbers(values: Any, field: str) -> None:
    if not isinstance(values, list):
        raise _fail(field, f"must be a list of numbers, not {_type(values)}")
    for i, v in enumerate(values):
        if v is not None and not _number(v):
            raise _fail(f"{field}[{i}]", f"must be a number or null, not {_type(v)}")


def check_run(data: Any, tasks: Collection[str] = ()) -> Result:
    """``data`` (one run as ``lab4 export`` writes it) as a Result, or RunShapeError naming
    the first field that is wrong; ``tasks``, when given, are the task ids accepted."""
    if not isinstance(data, dict):
        raise RunShapeError(f"a run must be a JSON object, not {_type(data)}")
    run_id = data.get("id")
    if not valid_run_id(run_id):
        raise _fail(
            "id",
            f"{run_id!r} is not a run id (letters, digits, '_', '.', '-', at most 128, "
            "starting with a letter or a digit)",
        )
    task = data.get("task")
    if not isinstance(task, str) or not task:
        raise _fail("task", f"must be a task id, not {_type(task)}")
    if tasks and task not in tasks:
        raise _fail("task", f"unknown task {task!r}; known: {', '.join(sorted(tasks))}")
    if data.get("status") not in STATUSES:
        raise _fail("status", f"must be one of {', '.join(STATUSES)}, not {data.get('status')!r}")
    for name in ("params", "metrics", "artifacts"):
        for k, v in _mapping(data, name).items():
            _json_value(v, f"{name}.{k}", 1)
    if "params" not in data:
        raise _fail("params", "missing")
    for k, v in _mapping(data, "metrics").items():
        if isinstance(v, float) and not math.isfinite(v):
            raise _fail(f"metrics.{k}", "must be finite (null for none)")
    for k, v in _mapping(data, "versions").items():
        if not isinstance(v, str):
            raise _fail(f"versions.{k}", f"must be text, not {_type(v)}")
    for name, series in _mapping(data, "series").items():
        if not isinstance(series, dict):
            raise _fail(f"series.{name}", f"must be an object {{x: [...], y: [...]}}, not {_type(series)}")
        for axis in ("x", "y"):
            _numbers(series.get(axis, []), f"series.{name}.{axis}")
    for name, table in _mapping(data, "tables").items():
        if (
            not isinstance(table, dict)
            or not isinstance(table.get("columns"), list)
            or not isinstance(table.get("rows"), list)
            or not all(isinstance(r, list) for r in table["rows"])
        ):
            raise _fail(f"tables.{name}", "must be an object {columns: [...], rows: [[...], ...]}")
        _json_value(table, f"tables.{name}", 1)
    observations = data.get("observations", [])
    if not isinstance(observations, list) or not all(isinstance(o, str) for o in observations):
        raise _fail("observations", "must be a list of sentences (text)")
    for name in _STRINGS:
        if name in data and not isinstance(data[name], str):
            raise _fail(name, f"must be text, not {_type(data[name])}")
    group = data.get("group", "")
    if group != "" and not valid_run_id(group):
        raise _fail("group", f"{group!r} is not a comparison id")
    step = data.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
        raise _fail("step", f"must be a whole number or null, not {_type(step)}")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not -(2**63) <= seed < 2**63:
        raise _fail("seed", f"must be a whole number (64 bits), not {_type(seed)}")
    if not isinstance(step, (int, type(None))) or (step is not None and not -(2**63) <= step < 2**63):
        raise _fail("step", "out of range")
    duration = data.get("duration_s", 0.0)
    if not _number(duration) or not math.isfinite(duration) or duration < 0:
        raise _fail("duration_s", f"must be a number of seconds >= 0, not {duration!r}"[:120])
    marked = data.get("marked", False)
    if not isinstance(marked, bool):
        raise _fail("marked", f"must be true or false, not {_type(marked)}")
    result = Result.from_json(data)
    result.marked = marked
    return result
