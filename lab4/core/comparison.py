"""Comparisons: the axes of a sweep, parsed and validated once, for the CLI, the app and the runner.

``parse_compare(spec, "optimizer=gd,momentum lr=0.1,0.01")`` reads the compare text the app
shows and the report prints; :func:`compare_text` is its inverse.  :func:`plan` turns a base
parameter dict and the axes into the validated runs of the comparison (every combination,
each checked by the spec before anything is computed).  :func:`command_line` writes the
``lab4 run`` (or ``lab4 sweep``) line that reproduces a run, and
:func:`comparison_sentence` the one measured sentence that sums up a comparison.

Pure Python: no torch, no UI.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from lab4.core.context import parse_dtype, parse_seed
from lab4.core.events import format_value, plural, scalar_metric_names
from lab4.core.spec import ParamError, Spec
from lab4.core.task import Task

__all__ = [
    "CONTEXT_AXES",
    "PlannedRun",
    "parse_compare",
    "compare_text",
    "combinations",
    "plan",
    "varying",
    "run_label",
    "comparison_sentence",
    "differing",
    "param_value",
    "axes_of",
    "comparison_rows",
    "unique",
    "race_sentence",
]

#: axes that belong to the run context, not to a task's spec
CONTEXT_AXES = {"dtype": parse_dtype, "seed": parse_seed}
_LIST_KINDS = ("ints", "floats", "assign")


def separator(spec: Spec, name: str) -> str:
    return ";" if name in spec and spec[name].kind in _LIST_KINDS else ","


def parse_compare(spec: Spec, text: str) -> dict[str, list[Any]]:
    """``optimizer=gd,momentum lr=0.1,0.01``: the sweep axes typed as text.

    Entries are separated by spaces; a list parameter separates its alternatives with ';'
    (``hidden=64,64;32``).  ``dtype`` and ``seed`` may be swept too.  Raises ParamError
    (param ``compare``) naming the problem.
    """
    axes: dict[str, list[Any]] = {}
    for entry in str(text).split():
        if "=" not in entry:
            raise ParamError("compare", f"compare needs name=v1,v2 entries, got {entry[:30]!r}")
        name, _, values = entry.partition("=")
        name = name.strip().replace("-", "_")
        if name in axes:
            raise ParamError("compare", f"compare names {name} twice")
        try:
            if name in CONTEXT_AXES:
                parts = [v for v in values.split(",") if v.strip()]
                axes[name] = [CONTEXT_AXES[name](v) for v in parts]
            elif name in spec:
                axes[name] = spec[name].sweep_values(values)
            else:
                known = ", ".join([*spec.names, *CONTEXT_AXES])
                raise ParamError("compare", f"compare: unknown parameter {name!r}; known: {known}")
        except ParamError as exc:
            if exc.param == "compare":
                raise
            raise ParamError("compare", f"compare: {exc.message}") from None
        if not axes[name]:
            raise ParamError("compare", f"compare: {name} needs at least one value")
    return axes


def compare_text(spec: Spec, axes: Mapping[str, Sequence[Any]]) -> str:
    """The compare text of ``axes`` (the inverse of :func:`parse_compare`)."""

    def values(name: str, items: Sequence[Any]) -> str:
        if name in spec:
            text = separator(spec, name).join(spec[name].format(v) for v in items)
            # spaces separate the entries; in assignments and expressions they mean nothing
            return "".join(text.split()) if spec[name].kind in ("assign", "expr") else text
        return ",".join(str(v) for v in items)

    return " ".join(f"{name}={values(name, items)}" for name, items in axes.items())


def combinations(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of the axes, in order: [{a: 1, b: x}, {a: 1, b: y}, ...]."""
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]


def varying(axes: Mapping[str, Sequence[Any]]) -> list[str]:
    """The axes that take more than one value (the ones a run's label names)."""
    return [name for name, values in axes.items() if len(values) > 1]


def differing(results: Sequence[Any]) -> list[str]:
    """The parameters (then ``dtype`` and ``seed``) whose values differ between the runs:
    what tells the runs of a listing, a comparison or an overlay apart."""
    if not results:
        return []
    names = list(dict.fromkeys(k for r in results for k in r.params))
    first = results[0]
    out = [k for k in names if any(r.params.get(k) != first.params.get(k) for r in results)]
    out += [k for k in CONTEXT_AXES if any(getattr(r, k) != getattr(first, k) for r in results)]
    return out


def param_value(result: Any, name: str) -> Any:
    """A run's value of a parameter, or of a context axis (``dtype``, ``seed``) for those."""
    return result.params[name] if name in result.params else getattr(result, name, None)


def axes_of(results: Sequence[Any]) -> dict[str, list[Any]]:
    """The compare axes that reproduce ``results``: each parameter whose value *as typed*
    differs between the runs (``lr = optimal`` on every run is no axis, though it resolved to
    a number of its own in each), with its values in order; then ``dtype`` and ``seed``."""
    if not results:
        return {}
    typed = [r.typed_params() if hasattr(r, "typed_params") else r.params for r in results]
    names = list(dict.fromkeys(k for t in typed for k in t))
    out = {k: unique(t.get(k) for t in typed) for k in names if any(t.get(k) != typed[0].get(k) for t in typed)}
    out.update(
        {
            k: unique(getattr(r, k) for r in results)
            for k in CONTEXT_AXES
            if any(getattr(r, k) != getattr(results[0], k) for r in results)
        }
    )
    return out


def comparison_rows(task: Task, results: Sequence[Any], limit: int = 6) -> tuple[list[str], list[list[Any]]]:
    """The table of several runs (the app's Results, the report): the parameters that differ,
    the status (``running`` for a run still computing), then the scalar metrics, the one the
    comparison is about first.  Values as they are (format them where they are drawn)."""
    varied = differing(results)
    metrics = scalar_metric_names(list(results), task.compare_metrics(), limit=limit)
    rows = [
        [param_value(r, k) for k in varied]
        + [r.describe() if r.ended else "running"]
        + [r.metrics.get(m) for m in metrics]
        for r in results
    ]
    return [*varied, "status", *metrics], rows


def unique(values: Any) -> list[Any]:
    """The distinct values, in order (lists and dicts too)."""
    seen, out = set(), []
    for v in values:
        k = _key(v)
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


def _key(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    return value


def run_label(combo: Mapping[str, Any], names: Sequence[str], spec: Spec | None = None) -> str:
    """``optimizer=gd lr=0.1``: the varying axes of one run of a comparison."""

    def text(name: str) -> str:
        value = combo[name]
        return spec[name].format(value) if spec is not None and name in spec else format_value(value)

    return " ".join(f"{name}={text(name)}" for name in names)


@dataclass(frozen=True)
class PlannedRun:
    """One run of a comparison: its axis values, its validated parameters, its label."""

    combo: dict[str, Any]
    params: dict[str, Any]
    label: str
    dtype: str | None = None
    seed: int | None = None


def plan(spec: Spec, base: Mapping[str, Any], axes: Mapping[str, Sequence[Any]] | None = None) -> list[PlannedRun]:
    """Every run of the comparison ``axes`` over ``base``, validated by the spec.

    Raises the first ParamError (cross-field checks included) before anything runs.
    With no axes, one run of ``base``.
    """
    axes = dict(axes or {})
    names = varying(axes)
    runs = []
    for combo in combinations(axes) if axes else [{}]:
        params = spec.parse({**base, **{k: v for k, v in combo.items() if k in spec}})
        runs.append(
            PlannedRun(dict(combo), params, run_label(combo, names, spec), combo.get("dtype"), combo.get("seed"))
        )
    return runs


def comparison_sentence(task: Task, runs: Sequence[tuple[str, Any]]) -> str:
    """One sentence measured on the runs of a comparison, fastest first.

    ``runs`` are (label, Result).  With the task's :class:`Comparison`: "momentum reached
    loss <= 0.1 in 41 steps, nesterov in 52, gd in 284" (and who never did); otherwise the
    headline metric of each run, best first when lower is better is not known: in run order.
    """
    comparison = task.comparison
    finished = [(label or "this run", r) for label, r in runs if r.status in ("ok", "diverged", "cancelled")]
    if not finished:
        return ""
    if comparison is not None and any(comparison.metric in r.metrics for _, r in finished):
        goals = {comparison.goal(r.params) for _, r in finished}
        goal = goals.pop() if len(goals) == 1 else None
        reached = sorted(
            (
                (r.metrics.get(comparison.metric), label, r)
                for label, r in finished
                if r.metrics.get(comparison.metric) is not None
            ),
            key=lambda t: t[0],
        )
        never = [(label, r) for label, r in finished if r.metrics.get(comparison.metric) is None]
        text = _fastest_first(
            [(steps, label, comparison.goal(r.params)) for steps, label, r in reached], same_goal=goal is not None
        )
        if never:
            names = ", ".join(f"{label} never reached {goal or 'its goal'} ({_why_not(r)})" for label, r in never)
            text = (text + "; " if text else "") + names
        return text + "."
    headline = task.headline
    values = [(label, r.metrics.get(headline)) for label, r in finished if headline in r.metrics]
    if not values:
        return ""
    return f"{headline}: " + ", ".join(f"{label} {format_value(v)}" for label, v in values) + "."


def race_sentence(goal: str, entries: Sequence[tuple[str, int | None]], budget: int) -> str:
    """ "S=10 reached train accuracy 90% in 120 steps, cross-entropy in 150; S=0.1 never did (in
    500 steps)": who got to ``goal`` first, from (label, steps or None)."""
    reached = sorted((steps, label) for label, steps in entries if steps is not None)
    never = [label for label, steps in entries if steps is None]
    text = _fastest_first([(steps, label, goal) for steps, label in reached], same_goal=True)
    if never:
        text += ("; " if text else "") + f"{', '.join(never)} never reached {goal} in {plural(budget, 'step')}"
    return text + "."


def _fastest_first(reached: Sequence[tuple[Any, str, str]], same_goal: bool) -> str:
    """ "a reached G in 12 steps, b in 30" from (steps, label, goal), already in order; a later
    run's goal is named only when the goals differ."""
    return ", ".join(
        f"{label} reached {goal} in {plural(steps, 'step')}"
        if k == 0
        else f"{label}{'' if same_goal else ' ' + goal} in {steps}"
        for k, (steps, label, goal) in enumerate(reached)
    )


def _why_not(result: Any) -> str:
    if result.status == "diverged":
        return f"diverged at step {result.step}"
    if result.status == "cancelled":
        return f"cancelled at step {result.step}"
    steps = result.params.get("steps")
    return f"in {plural(steps, 'step')}" if steps is not None else "in this run"
