"""What the three training tasks (``mlp``, ``clipped-ce``, ``scaled-mse``) share: their
parameters (declared once), the set-up of data and weights, the summary metrics, the
comparison table, and the pieces of the gradcheck panel of the custom losses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from lab4.core.events import Artifact, Metric, Observation, Table
from lab4.core.spec import ChoiceParam, FloatParam, IntListParam, IntParam, Param, ParamError, TextParam, _text
from lab4.maths.device import on_torch
from lab4.maths.optim import OPTIMIZERS

#: hidden activations: the names of torch functions (lab4.maths.training.forward calls torch.<name>)
ACTIVATIONS = ("relu", "tanh", "sigmoid")
#: the initial weights draw from seed + INIT_SEED_OFFSET, so they differ from the data's draws
INIT_SEED_OFFSET = 1
#: test accuracy is measured at about this many steps of a run
EVAL_POINTS = 200


#: the most steps spectrum_at may list (each spectrum costs ~520 Hessian-vector products)
SPECTRUM_MAX_STEPS = 16
#: the spectrum's top eigenvalue is "at the edge" from this share of the stability edge up
#: (and "beyond" it above 1): the thresholds of the spectrum's finding
EDGE_NEAR = 0.8


@dataclass(frozen=True)
class StepListParam(IntListParam):
    """Steps of a run, separated by commas: whole numbers >= 0 and ``end`` (the state after the
    last update); empty or ``off``: none.  The value is a tuple of ints and ``"end"``, ascending,
    ``end`` last; a step past the run's ``steps`` is refused by :func:`check_spectrum_at`."""

    ge: float | None = 0
    min_len: int = 0
    max_len: int = SPECTRUM_MAX_STEPS
    kind: str = field(default="ints", init=False)

    def parse(self, value: Any) -> tuple:
        if isinstance(value, (list, tuple)):
            items = [str(v).strip() for v in value]
        else:
            try:
                text = _text(value)
            except ValueError as exc:
                raise self.error(str(exc)) from None
            parts = [] if text.lower() in ("", "off", "none") else [p.strip() for p in text.split(",")]
            if any(not p for p in parts):
                raise self.error(f"has an empty item between commas: {text[:40]!r}")
            items = [word for p in parts for word in p.split()]  # "end, 500 0": spaces separate too
        end = [p for p in items if p.lower() == "end"]
        if len(end) > 1:
            raise self.error("lists 'end' twice")
        try:
            steps = super().parse([p for p in items if p.lower() != "end"]) if items else ()
        except ParamError as exc:
            raise ParamError(
                self.name,
                exc.message.replace("whole numbers separated by commas", "whole steps or 'end' separated by commas"),
            ) from None
        if len(steps) + len(end) > self.max_len:
            raise self.error(f"takes at most {self.max_len} steps, got {len(steps) + len(end)}")
        if len(set(steps)) != len(steps):
            twice = next(v for v in steps if steps.count(v) > 1)
            raise self.error(f"lists step {twice} twice")
        return tuple(sorted(steps)) + (("end",) if end else ())

    def format(self, value: Any) -> str:
        return ",".join(str(v) for v in value) if value else "off"

    def describe(self) -> str:
        return "steps >= 0 separated by commas, 'end' for after the last update; 'off' (or empty) for none"


def check_spectrum_at(values: dict[str, Any]) -> tuple[str, str] | None:
    """A spec check: every step of ``spectrum_at`` lies within the run (``end`` is ``steps``)."""
    late = [v for v in values.get("spectrum_at", ()) if v != "end" and v > values["steps"]]
    if late:
        return (
            "spectrum_at",
            f"spectrum_at step {late[0]} is past the run's end (steps = {values['steps']}); "
            f"'end' measures after the last update",
        )
    return None


#: the cross-parameter checks of the training tasks (``Spec(..., checks=TRAINING_CHECKS)``)
TRAINING_CHECKS = (check_spectrum_at,)


def spectrum_steps(params: dict[str, Any]) -> tuple[int, ...]:
    """``spectrum_at`` as steps: ``end`` is ``steps`` (the weights after the last update)."""
    return tuple(sorted({params["steps"] if v == "end" else v for v in params.get("spectrum_at", ())}))


def _check_dataset(value: str) -> None:
    from lab4.maths.datasets import check_dataset

    check_dataset(value)


def training_params(lr: float = 0.1, steps: int = 1000, optimizer: str = "momentum") -> tuple[Param, ...]:
    """The parameters every training task takes (defaults may differ per task)."""
    return (
        TextParam(
            "dataset",
            "spiral",
            check=_check_dataset,
            help="spiral, moons, circles, xor, blobs, iris, or a CSV path (last column the label)",
        ),
        IntParam("samples", 600, help="points generated (built-in 2-D datasets)", ge=8, le=1_000_000),
        FloatParam("noise", 0.2, help="noise of the generated datasets", ge=0, le=10),
        IntListParam("hidden", "64,64", help="hidden layer sizes", ge=1, le=8192, min_len=0, max_len=16),
        ChoiceParam("activation", "relu", help="hidden activation", choices=ACTIVATIONS),
        ChoiceParam("optimizer", optimizer, help="gd, momentum or nesterov (handout formulas)", choices=OPTIMIZERS),
        FloatParam("lr", lr, help="learning rate", gt=0, le=1e4),
        FloatParam("beta", 0.9, help="momentum coefficient (ignored by gd)", ge=0, lt=1),
        IntParam("steps", steps, help="number of updates", ge=1, le=10_000_000),
        IntParam("batch_size", 0, help="samples per step; 0 = full batch (gradient descent)", ge=0, le=10_000_000),
        FloatParam("test_fraction", 0.25, help="share of the data held out for testing", ge=0, lt=0.9),
        IntParam(
            "sharpness_every",
            100,
            help="steps between measurements of the loss Hessian's largest eigenvalue "
            "(Lanczos to a relative 1e-3; 0: off; each costs ~10 steps)",
            ge=0,
            le=10_000_000,
        ),
        StepListParam(
            "spectrum_at",
            "off",
            help="steps at which to measure the loss Hessian's spectrum: top-3 eigenvalues (Lanczos), "
            "trace (Hutchinson, 100 probes), density (5 x 80 Lanczos steps); 'end' = after the last "
            "update; off (the default) = none; each costs ~520 Hessian-vector products (~750 training steps)",
        ),
    )


def setup(params: dict[str, Any], ctx: Any) -> tuple[Any, list[Any], Any]:
    """Data split, seeded initial weights, and the training config from the parameters."""
    from lab4.maths.datasets import load, prepare
    from lab4.maths.training import TrainConfig, init_mlp

    ctx = on_torch(ctx)

    data = load(params["dataset"], params["samples"], params["noise"], ctx.seed)
    split = prepare(data, params["test_fraction"], ctx.seed, ctx.torch_device, ctx.torch_dtype)
    sizes = [split.num_features, *params["hidden"], split.num_classes]
    check_memory(sizes, params["batch_size"] or split.x_train.shape[0], split.x_train.element_size(), ctx.torch_device)
    weights = init_mlp(sizes, params["activation"], ctx.seed + INIT_SEED_OFFSET, ctx.torch_device, ctx.torch_dtype)
    config = TrainConfig(
        optimizer=params["optimizer"],
        lr=params["lr"],
        beta=params["beta"],
        steps=params["steps"],
        batch_size=params["batch_size"],
        activation=params["activation"],
        eval_every=max(1, params["steps"] // EVAL_POINTS),
        target_loss=params.get("target_loss"),
        target_accuracy=params.get("target_accuracy"),
        sharpness_every=params["sharpness_every"],
        spectrum_at=spectrum_steps(params),
    )
    return split, weights, config


#: copies of the parameters a training holds: weights, gradients, the optimizer's velocity,
#: the initial weights (kept for the comparison and the gradcheck), and the Hessian-vector
#: products of the sharpness measurement (three)
PARAM_COPIES = 7
#: values per sample and unit a step keeps: pre-activations, activations, their gradients
ACTIVATION_COPIES = 4


#: the share of the available memory a training may plan to take (the estimate is a lower
#: bound: torch's allocator and the autograd graph take more; the machine is shared)
MEMORY_SHARE = 0.5


def memory_estimate(sizes: Sequence[int], batch: int, itemsize: int) -> int:
    """Bytes a training of an MLP of ``sizes`` needs at least (parameters x dtype x the
    copies above, the activations of one batch, the float64 draw of the largest layer)."""
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    largest = max(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return params * itemsize * PARAM_COPIES + batch * sum(sizes) * itemsize * ACTIVATION_COPIES + largest * 8


def available_memory(device: Any) -> int | None:
    """Bytes free for a new allocation on ``device`` (None when it cannot be told)."""
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    if kind != "cpu":
        return None
    free = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    try:  # a container's own limit (cgroup v2)
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as fh:
            used = int(fh.read().strip())
        if limit != "max" and free is not None:
            free = min(free, int(limit) - used)
    except (OSError, ValueError):
        pass
    return free


def check_memory(sizes: Sequence[int], batch: int, itemsize: int, device: Any) -> None:
    """Refuse, before allocating anything, a network that does not fit: MemoryError whose
    message gives the estimate and what is available."""
    need = memory_estimate(sizes, batch, itemsize)
    free = available_memory(device)
    if free is not None and need > MEMORY_SHARE * free:
        raise MemoryError(
            f"out of memory before starting: needs about {need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB is "
            f"available (network {_compact(sizes)}, {itemsize}-byte values, {batch} samples a step); "
            f"use fewer or smaller hidden layers, or a --batch-size"
        )


def _compact(sizes: Sequence[int]) -> str:
    """2-8192x10-3 for 2-8192-8192-...-3."""
    parts: list[str] = []
    for size in sizes:
        if parts and parts[-1].split("x")[0] == str(size):
            head, _, count = parts[-1].partition("x")
            parts[-1] = f"{head}x{int(count or 1) + 1}"
        else:
            parts.append(str(size))
    return "-".join(parts)


def describe_data(split: Any, params: dict[str, Any]) -> str:
    sizes = [split.num_features, *params["hidden"], split.num_classes]
    return (
        f"{split.name}: {split.x_train.shape[0]} train / {split.x_test.shape[0]} test samples, "
        f"{split.num_features} features, {split.num_classes} classes; network {'-'.join(map(str, sizes))} "
        f"({params['activation']})."
    )


def summary_metrics(summary: dict[str, Any]) -> Iterator[Any]:
    """The metrics every training task reports for its (first) training, and what the
    sharpness did against the run's stability edge."""
    for key in ("final_loss", "train_accuracy", "test_accuracy", "sharpness_final", "stability_edge"):
        yield Metric(key, summary[key])
    sharp, edge = summary["sharpness_final"], summary["stability_edge"]
    if sharp is not None and edge:
        series = [v for v in summary["series"].get("sharpness", []) if v == v]
        peak = max(series) if series else sharp
        start = series[0]
        rose = peak > 1.05 * start and peak >= 0.8 * edge and sharp >= 0.7 * edge
        yield Observation(
            f"Sharpness (top eigenvalue of the loss Hessian) against the stability edge {edge:.3g} of this "
            f"(lr, beta): {start:.3g} ({share(start / edge)} of the edge) at the start, {peak:.3g} "
            f"({share(peak / edge)}) at its highest, {sharp:.3g} ({share(sharp / edge)}) at the end"
            + (": it rose to the edge and stayed near it, the edge of stability." if rose else ".")
        )
    yield from spectrum_findings(summary.get("spectrum"))
    missed = summary.get("sharpness_unconverged", [])
    yield Metric("sharpness_unconverged", len(missed) if sharp is not None else None)
    if missed:
        from lab4.maths.curvature import SHARPNESS_TOL
        from lab4.maths.training import SHARPNESS_MAX_ITER

        yield Observation(
            f"The sharpness (largest eigenvalue of the loss Hessian, Lanczos) did not reach its relative "
            f"tolerance {SHARPNESS_TOL:g} within {SHARPNESS_MAX_ITER} Hessian-vector products at "
            f"{len(missed)} of its measurements (steps {', '.join(map(str, missed[:5]))}"
            f"{', ...' if len(missed) > 5 else ''}): those values are estimates from below."
        )


def spectrum_finding(spectrum: dict[str, Any]) -> dict[str, Any] | None:
    """What the last measured spectrum says, as data: its top eigenvalue against the run's
    stability edge (``verdict``: ``beyond`` above 1 x the edge, ``near`` from EDGE_NEAR x, else
    ``below``), the density's weight of negative curvature (below -NEGATIVE_SHARE x the top),
    and the trace against n x top (how much of the curvature the top direction holds)."""
    from lab4.maths.curvature import NEGATIVE_SHARE

    if not spectrum or not spectrum.get("steps"):
        return None
    last = spectrum["steps"][-1]
    top, edge = last["top"][0], spectrum["edge"]
    ratio = top / edge if edge else math.nan
    verdict = "beyond" if ratio > 1 else "near" if ratio >= EDGE_NEAR else "below"
    return {
        "step": last["step"],
        "top": top,
        "edge": edge,
        "ratio": ratio,
        "verdict": verdict,
        "near": EDGE_NEAR,
        "negative_mass": last["negative_mass"],
        "negative_share": NEGATIVE_SHARE,
        "lowest": last["lowest"],
        "trace": last["trace"],
        "trace_se": last["trace_se"],
        "n": last["n"],
    }


def spectrum_findings(spectrum: dict[str, Any] | None) -> Iterator[Any]:
    """The spectrum's metrics (of its last measurement), its artifact with the finding, and
    the finding's sentence."""
    finding = spectrum_finding(spectrum) if spectrum else None
    yield Metric("spectrum_top", finding["top"] if finding else None)
    yield Metric("spectrum_trace", finding["trace"] if finding else None)
    yield Metric("spectrum_trace_se", finding["trace_se"] if finding else None)
    if not finding or spectrum is None:
        return
    yield Artifact("spectrum", {**spectrum, "finding": finding})
    f = finding
    first = spectrum["steps"][0]
    where = {
        "beyond": "beyond it (above 1x the edge: a quadratic with that curvature would diverge along its eigenvector)",
        "near": f"near it (at least {EDGE_NEAR:g}x the edge)",
        "below": f"below it (under {EDGE_NEAR:g}x the edge)",
    }[f["verdict"]]
    since = f" (it was {first['top'][0]:.3g} at step {first['step']})" if first is not spectrum["steps"][-1] else ""
    negative = (
        f"{f['negative_mass']:.1%} of the density lies below -{f['negative_share']:g} x the top "
        f"(negative curvature, lowest node {f['lowest']:.3g})"
        if f["negative_mass"] > 0
        else f"no density node lies below -{f['negative_share']:g} x the top (lowest node {f['lowest']:.3g})"
    )
    yield Observation(
        f"Hessian spectrum at step {f['step']}: top eigenvalue {f['top']:.3g}{since}, {f['ratio']:.0%} of the "
        f"stability edge {f['edge']:.3g}: {where}; trace {f['trace']:.3g} +- {f['trace_se']:.2g} (Hutchinson, one "
        f"standard error) over {f['n']} parameters, a mean eigenvalue of {f['trace'] / f['n']:.2g}; {negative}."
    )


def share(fraction: float) -> str:
    """A fraction as a percentage with two significant digits: 45%, 0.19%, -0.19% (never the
    "-0%" that rounding a small negative share to whole percents gives)."""
    return f"{100 * fraction + 0.0:.2g}%" if abs(fraction) < 0.1 else f"{fraction:.0%}"


def last_point(result: Any, name: str) -> tuple[float, float] | None:
    """(step, value) of a series' last finite point, or None."""
    series = (result.series or {}).get(name) or {}
    points = [(x, y) for x, y in zip(series.get("x", ()), series.get("y", ())) if math.isfinite(y)]
    return points[-1] if points else None


def first_step(result: Any, name: str, test: Any) -> int | None:
    """The first step at which the series passes ``test``, or None."""
    series = (result.series or {}).get(name) or {}
    return next(
        (int(x) for x, y in zip(series.get("x", ()), series.get("y", ())) if math.isfinite(y) and test(y)), None
    )


def stopped_metrics(result: Any) -> dict[str, Any]:
    """A training stopped before its end: the metrics of its last recorded step (of its first
    training, the one the plain series names hold), and that step."""
    loss = last_point(result, "loss")
    if loss is None:
        return {}
    out: dict[str, Any] = {"stopped_at_step": int(loss[0]), "final_loss": loss[1]}
    for name in ("train_accuracy", "test_accuracy"):
        point = last_point(result, name)
        out[name] = point[1] if point else None
    test = [y for y in (result.series.get("test_accuracy") or {}).get("y", ()) if math.isfinite(y)]
    out["best_test_accuracy"] = max(test) if test else None
    sharp = last_point(result, "sharpness")
    out["sharpness_final"] = sharp[1] if sharp else None
    target_loss, target_accuracy = result.params.get("target_loss"), result.params.get("target_accuracy")
    if target_loss is not None:
        out["steps_to_target_loss"] = first_step(result, "loss", lambda v: v <= target_loss)
    if target_accuracy is not None:
        out["steps_to_target_accuracy"] = first_step(result, "train_accuracy", lambda v: v >= target_accuracy)
    return out


def comparison_table(variants: list[Any], results: list[Any], target_accuracy: float) -> Table:
    """One row per compared training (same initial weights): how far and how fast each got."""
    return Table(
        "comparison",
        ["loss", "final loss", "train acc.", "test acc.", f"steps to {target_accuracy:.0%}"],
        [
            [v.label, s["final_loss"], s["train_accuracy"], s["test_accuracy"], s["steps_to_target_accuracy"]]
            for v, (s, _) in zip(variants, results)
        ],
    )


#: rows of the initial logits a gradcheck takes (float64, entry by entry)
GRADCHECK_ROWS = 128


def initial_logits(split: Any, initial: list[Any], config: Any, rows: int) -> tuple[Any, Any]:
    """The run's initial logits on its first ``rows`` training samples, in float64, and their
    targets: what the gradcheck panels check the custom Functions on."""
    import torch

    from lab4.maths.training import forward

    with torch.no_grad():
        logits = forward([w.double() for w in initial], split.x_train[:rows].double(), config.activation)
    return logits, split.y_train[:rows]


def gradcheck_table(checks: Sequence[Any]) -> Table:
    """One row per :class:`~lab4.maths.gradcheck.LossCheck`."""
    return Table(
        "gradcheck",
        ["Function", "gradcheck", "largest |backward - numerical|", "gradgradcheck"],
        [
            [
                c.what,
                c.verdict,
                c.largest_error,
                "-" if c.second_order is None else ("passed" if c.second_order else "failed"),
            ]
            for c in checks
        ],
    )
