"""What a running task yields, and the result it ends in.

A task's ``run(params, ctx)`` is a generator of these small dataclasses.  The CLI and the
TUI drive the same generator; :class:`ResultBuilder` folds events into a :class:`Result`,
so what a run showed while it went and what is saved afterwards are the same data.

Pure Python: no torch, no UI.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Progress",
    "Points",
    "Table",
    "Observation",
    "Finding",
    "finding",
    "FINDINGS",
    "RELATIONS",
    "Metric",
    "Artifact",
    "Diverged",
    "Cancelled",
    "Result",
    "ResultBuilder",
    "STATUSES",
    "REQUEST",
    "jsonable",
    "format_value",
    "plural",
    "scalar_metric_names",
]

STATUSES = ("ok", "diverged", "cancelled", "error")
#: the artifact that keeps the parameters as typed where the run resolved them (``lr: optimal``)
REQUEST = "request"


@dataclass(frozen=True)
class Progress:
    step: int
    total: int


@dataclass(frozen=True)
class Points:
    """Points appended to the named series (x and y of equal length)."""

    series: str
    x: list[float]
    y: list[float]


@dataclass(frozen=True)
class Table:
    """A table, replacing any earlier one of the same name."""

    name: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class Observation:
    text: str


#: the relations a finding may assert between two of its values
RELATIONS = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "==": lambda a, b: a == b,
}
#: the artifact that keeps a run's findings (a list of :meth:`Finding.to_json`)
FINDINGS = "findings"


@dataclass(frozen=True)
class Finding:
    """A claim a run makes about itself, as data: the numbers its sentence states
    (``values``) and the conditions it asserts, each ``values[lhs] relation values[rhs]``;
    ``holds`` when every one does.  The right-hand side is usually a named threshold
    (``ratio_limit``), kept among the values so that the sentence names it.  The sentence
    (``text``) is rendered from the values by :func:`finding`, never written apart from them;
    tests check the conditions against the run's own series and metrics, never by reading
    the text."""

    name: str
    values: dict[str, Any]
    conditions: tuple[tuple[str, str, str], ...]
    holds: bool
    text: str

    def evaluate(self) -> bool:
        """Whether every condition holds on the values (None, a missing number, never holds)."""
        return _all_hold(self.values, self.conditions)

    def check(self) -> bool:
        """Whether ``holds`` is what the values say: the claim is consistent with its numbers."""
        return self.evaluate() == self.holds

    def to_json(self) -> dict[str, Any]:
        return jsonable(
            {
                "name": self.name,
                "values": self.values,
                "conditions": [list(c) for c in self.conditions],
                "holds": self.holds,
                "text": self.text,
            }
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Finding":
        conditions = tuple((str(a), str(r), str(b)) for a, r, b in data.get("conditions") or ())
        return cls(
            str(data["name"]),
            dict(data.get("values") or {}),
            conditions,
            bool(data["holds"]),
            str(data.get("text", "")),
        )


def _all_hold(values: dict[str, Any], conditions: Any) -> bool:
    for lhs, relation, rhs in conditions:
        a, b = values.get(lhs), values.get(rhs)
        if a is None or b is None or not RELATIONS[relation](a, b):
            return False
    return True


def finding(name: str, values: dict[str, Any], conditions: Any, if_holds: str, if_not: str) -> Finding:
    """A :class:`Finding` whose verdict is computed from ``values`` (every condition
    ``(lhs, relation, rhs)`` holds) and whose sentence is the template for that verdict filled
    with the same values (``{ratio:.2g}``)."""
    conditions = tuple((str(a), str(r), str(b)) for a, r, b in conditions)
    for lhs, relation, rhs in conditions:
        if relation not in RELATIONS or lhs not in values or rhs not in values:
            raise ValueError(f"finding {name}: bad condition {lhs} {relation} {rhs}")
    holds = _all_hold(values, conditions)
    return Finding(name, dict(values), conditions, holds, (if_holds if holds else if_not).format(**values))


@dataclass(frozen=True)
class Metric:
    name: str
    value: Any


@dataclass(frozen=True)
class Artifact:
    """Structured data for a view: a graph, a landscape grid, a decision boundary."""

    name: str
    data: Any


class Diverged(Exception):
    """Raised by a task when its numbers stopped being finite."""

    def __init__(self, step: int, hint: str = ""):
        self.step = step
        self.hint = hint
        super().__init__(f"diverged at step {step}" + (f": {hint}" if hint else ""))


class Cancelled(Exception):
    """Raised (through ``ctx.check()``) when the user cancelled the run."""


@dataclass
class Result:
    task: str
    params: dict[str, Any]
    status: str = "ok"
    metrics: dict[str, Any] = field(default_factory=dict)
    series: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    observations: list[str] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    step: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    started: str = ""
    ended: str = ""
    duration_s: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)
    id: str = ""
    #: the comparison (sweep) this run belongs to, and its label there ("optimizer=gd")
    group: str = ""
    label: str = ""
    #: marked in History (kept by the store; not part of the exported JSON)
    marked: bool = False

    def typed_params(self) -> dict[str, Any]:
        """The parameters as the user gave them: ``params`` holds what the run used (``lr`` as
        the number ``optimal`` resolved to); the symbols typed are kept in the ``request``
        artifact (written by the runner), which a reproduce line must repeat."""
        request = (self.artifacts or {}).get(REQUEST) if isinstance(self.artifacts, dict) else None
        return {**self.params, **(request if isinstance(request, dict) else {})}

    @property
    def findings(self) -> list[Finding]:
        """The claims the run made, as data (none for runs saved before findings existed)."""
        items = (self.artifacts or {}).get(FINDINGS) if isinstance(self.artifacts, dict) else None
        return [Finding.from_json(d) for d in items or () if isinstance(d, dict)]

    def flat_metrics(self) -> list[tuple[str, Any]]:
        """The metrics a two-column table can show (nested per-variant dicts left out)."""
        return [
            (k, v)
            for k, v in self.metrics.items()
            if not (isinstance(v, dict) and any(isinstance(x, dict) for x in v.values()))
        ]

    def describe(self) -> str:
        """The status in words: ok / diverged at step k - hint / cancelled at step k / error: ..."""
        if self.status == "diverged":
            hint = self.message.split(": ", 1)[1] if ": " in self.message else ""
            return f"diverged at step {self.step}" + (f" - {hint}" if hint else "")
        if self.status == "cancelled":
            return f"cancelled at step {self.step}"
        if self.status == "error":
            return f"error: {self.message}"
        return "ok"

    def to_json(self, series: bool = True) -> dict[str, Any]:
        """Plain JSON data; ``series=False`` leaves the (possibly long) series out."""
        return jsonable(
            {
                "id": self.id,
                "task": self.task,
                "params": self.params,
                "status": self.status,
                "message": self.message,
                "step": self.step,
                "device": self.device,
                "dtype": self.dtype,
                "seed": self.seed,
                "started": self.started,
                "ended": self.ended,
                "duration_s": self.duration_s,
                "versions": self.versions,
                "metrics": self.metrics,
                "series": self.series if series else {},
                "tables": self.tables,
                "observations": self.observations,
                "artifacts": self.artifacts,
                "group": self.group,
                "label": self.label,
            }
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Result":
        if not isinstance(data, dict) or "task" not in data or "status" not in data:
            raise ValueError("not a saved run (no task or status)")
        if data["status"] not in STATUSES:
            raise ValueError(f"unknown status {data['status']!r}")
        known = set(cls.__dataclass_fields__)
        result = cls(**{k: v for k, v in data.items() if k in known})
        result.series = {
            name: {"x": _floats(s.get("x", ())), "y": _floats(s.get("y", ()))}
            for name, s in (result.series or {}).items()
        }
        return result


def _floats(values: Any) -> array:
    """A series' values as a compact array of doubles (JSON's null, a non-finite value, is NaN)."""
    return array("d", (math.nan if v is None else v for v in values))


def scalar_metric_names(results: list["Result"], first: str | tuple[str, ...] = (), limit: int = 6) -> list[str]:
    """The metric columns of a table of several runs: scalar metrics, ``first`` (the metric
    the comparison is about, the headline) leading."""
    names: list[str] = []
    for r in results:
        for k, v in r.metrics.items():
            if k not in names and (v is None or isinstance(v, (int, float, bool))):
                names.append(k)
    lead = [first] if isinstance(first, str) else list(first)
    names = [k for k in lead if k in names] + [k for k in names if k not in lead]
    return names[:limit]


def plural(count: Any, noun: str) -> str:
    """``1 step``, ``2 steps``, ``0 runs``: a count and its noun, agreeing."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_value(value: Any) -> str:
    """A metric or parameter as short text: 6 significant digits, yes/no, '-' for none."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value)


def jsonable(value: Any) -> Any:
    """Plain JSON data: tuples become lists, non-finite floats become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, array) and value.typecode in "fd":  # a series: one pass, not a call per point
        return [v if v - v == 0.0 else None for v in value.tolist()]  # v - v is nan for nan and +-inf
    if isinstance(value, Steps):
        return value.tolist()  # finite floats, 0.0 .. n - 1
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    return str(value)


def variant_series_name(name: str, artifacts: dict[str, Any] | None) -> str:
    """A run comparing variants inside itself (tasks 5 and 6) records its first variant's series
    without a suffix (``loss`` beside ``loss [S=10]``): its name with the suffix, for legends
    and exports."""
    variants = (artifacts or {}).get("variants")
    if variants and "[" not in name and variants[0].get("suffix") == "":
        return f"{name} [{variants[0]['label']}]"
    return name


class Steps:
    """The x of a series that counts 0, 1, 2, ... (a run's steps), kept as its length: a
    10,000,000-step run's loss and distance need no 80 MB of step numbers each.  Reads as a
    sequence of floats (``len``, indexing, slicing, iteration, ``numpy.asarray``, ``tolist``)."""

    __slots__ = ("n",)
    #: what the store's codec asks: x0 = 0, dx = 1, stored as a range
    counts_steps = True

    def __init__(self, n: int = 0):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):  # numpy's arange: a live plot slices a 10,000,000-step x each redraw
            import numpy as np

            r = range(self.n)[i]
            return np.arange(r.start, r.stop, r.step, dtype=np.float64)
        return float(range(self.n)[i])

    def __iter__(self) -> Any:
        return map(float, range(self.n))

    def __eq__(self, other: Any) -> Any:
        if isinstance(other, Steps):
            return self.n == other.n
        try:
            return len(other) == self.n and all(a == b for a, b in zip(self, other))
        except TypeError:  # not a sequence
            return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # it grows

    def __repr__(self) -> str:
        return f"Steps({self.n})"

    def tolist(self) -> list[float]:
        return list(self)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np

        return np.arange(self.n, dtype=dtype or np.float64)


def _extended(values: Any, more: Any) -> Any:
    """``values`` (a :class:`Steps`, a float32 or a float64 array) with ``more`` appended, widened
    where ``more`` does not fit: steps that do not continue the count, a value float32 rounds."""
    if isinstance(values, Steps):
        n = values.n
        if all(x == n + i for i, x in enumerate(more)):
            values.n += len(more)
            return values
        # a trajectory's x, say: float32 until a value does not fit (step numbers fit below 2**24)
        values = array("f" if n <= 2**24 else "d", map(float, range(n)))
    if values.typecode == "f":
        narrow = array("f", more)
        # a block of a run at C speed; a whole 10,000,000-value series (your own f's run hands
        # its curves over at the end) value by value, never as two lists of Python floats
        short = len(more) <= 1 << 16 and narrow.tolist() == list(more)
        if short or all(a == b or b != b for a, b in zip(narrow, more)):
            values.extend(narrow)
            return values
        values = array("d", values)
    values.extend(more)
    return values


class ResultBuilder:
    """Folds events into a :class:`Result` (used by the CLI, the TUI and sweeps)."""

    def __init__(self, result: Result):
        self.result = result
        self.progress = Progress(0, 0)

    def add(self, event: Any) -> None:
        r = self.result
        if isinstance(event, Points):
            s = r.series.get(event.series)
            if s is None:  # narrow until a value says otherwise: steps as a count, float32 values in 4 bytes
                s = r.series[event.series] = {"x": Steps(), "y": array("f" if r.dtype == "float32" else "d")}
            s["x"] = _extended(s["x"], event.x)
            s["y"] = _extended(s["y"], event.y)
        elif isinstance(event, Progress):
            self.progress = event
        elif isinstance(event, Metric):
            r.metrics[event.name] = event.value
        elif isinstance(event, Table):
            r.tables[event.name] = {"columns": list(event.columns), "rows": [list(row) for row in event.rows]}
        elif isinstance(event, Observation):
            r.observations.append(event.text)
        elif isinstance(event, Finding):
            r.artifacts.setdefault(FINDINGS, []).append(event.to_json())
            r.observations.append(event.text)
        elif isinstance(event, Artifact):
            r.artifacts[event.name] = event.data
