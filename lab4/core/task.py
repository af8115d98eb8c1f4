"""The task protocol: what a lab task declares (its spec, its run generator, its texts and
views) and what its comparisons are about.  The registry of tasks is :mod:`lab4.tasks`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from lab4.core.spec import Spec
from lab4.core.views import PlotView

__all__ = ["Task", "Comparison", "Batched"]


@dataclass(frozen=True)
class Comparison:
    """What a task's comparisons are about: a metric counted in steps (lower is better) and
    the goal it counts steps to, written from a run's parameters."""

    metric: str
    goal: Any  # Callable[[dict], str]: "loss <= 0.1"
    also: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Batched:
    """A task's runs computed together as ONE computation (a batch dimension), for sweeps whose
    runs share shapes.  Both take the runs as (parameters, context) pairs: ``problem`` says why
    they cannot be batched (None when they can; no torch needed), ``sources`` computes them and
    returns, per run, what replaces ``Task.run`` for it (a generator of the same events)."""

    problem: Callable[[list[tuple[dict[str, Any], Any]]], "str | None"]
    sources: Callable[[list[tuple[dict[str, Any], Any]]], list[Callable[[dict[str, Any], Any], Iterator[Any]]]]


@dataclass(frozen=True)
class Task:
    id: str
    number: str  # the handout's task number: "1", "4 + 4.1"
    title: str
    summary: str
    spec: Spec
    run: Callable[[dict[str, Any], Any], Iterator[Any]]
    #: formulas and notes for the help screen and the report (plain text)
    help: str
    #: the metric that best sums up a run, for histories and tables
    headline: str = ""
    #: sweeps that answer the handout's "compare" questions: label -> {param: [values]}
    presets: dict[str, dict[str, list[Any]]] | None = None
    #: what the screen shows beside the form, in tab order (plots, the graph...)
    views: tuple[PlotView, ...] = ()
    #: the metric a comparison of runs is about, and its goal (for tables and sentences)
    comparison: Comparison | None = None
    #: resolves symbolic values (``lr = optimal``) into numbers before a run; returns the
    #: parameters and sentences that say what was resolved
    resolve: Callable[[dict[str, Any], Any], tuple[dict[str, Any], list[str]]] | None = None
    #: warnings about the parameters known before anything is computed (no torch)
    preflight: Callable[[dict[str, Any]], list[str]] | None = None
    #: sweeps computed as one batched computation (``lab4 sweep --batched``), when the task can
    batched: Batched | None = None
    #: the metrics of a run stopped before its end (cancelled, or its process closed), from
    #: what it recorded: the metrics of its last recorded step, ``stopped_at_step`` naming it
    stopped_metrics: Callable[[Any], dict[str, Any]] | None = None
    #: the key that opens this task in the app (its position in the registry, 1-based; set
    #: by the registry)
    key: str = ""

    def compare_metrics(self) -> tuple[str, ...]:
        """The metrics a table of several runs leads with."""
        first = (self.comparison.metric, *self.comparison.also) if self.comparison else ()
        return tuple(m for m in dict.fromkeys([*first, self.headline]) if m)
