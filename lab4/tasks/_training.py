"""What the three training tasks (``mlp``, ``clipped-ce``, ``scaled-mse``) share: their
parameters (declared once), the set-up of data and weights, the summary metrics, the
comparison table, and the pieces of the gradcheck panel of the custom losses."""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

from lab4.core.events import Metric, Observation, Table
from lab4.core.spec import ChoiceParam, FloatParam, IntListParam, IntParam, Param, TextParam
from lab4.maths.optim import OPTIMIZERS

#: hidden activations: the names of torch functions (lab4.maths.training.forward calls torch.<name>)
ACTIVATIONS = ("relu", "tanh", "sigmoid")
#: the initial weights draw from seed + INIT_SEED_OFFSET, so they differ from the data's draws
INIT_SEED_OFFSET = 1
#: test accuracy is measured at about this many steps of a run
EVAL_POINTS = 200


def _check_dataset(value: str) -> None:
    from lab4.maths.datasets import check_dataset

    check_dataset(value)


def training_params(lr: float = 0.1, steps: int = 1000, optimizer: str = "momentum") -> tuple[Param, ...]:
    """The parameters every training task takes (defaults may differ per task)."""
    return (
        TextParam(
            "dataset", "spiral", check=_check_dataset,
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
        IntParam("sharpness_every", 100, help="steps between measurements of the loss Hessian's top eigenvalue "
                                              "(0: off; each costs ~10 steps)", ge=0, le=10_000_000),
    )


def setup(params: dict[str, Any], ctx: Any) -> tuple[Any, list[Any], Any]:
    """Data split, seeded initial weights, and the training config from the parameters."""
    from lab4.maths.datasets import load, prepare
    from lab4.maths.training import TrainConfig, init_mlp

    data = load(params["dataset"], params["samples"], params["noise"], ctx.seed)
    split = prepare(data, params["test_fraction"], ctx.seed, ctx.torch_device, ctx.torch_dtype)
    sizes = [split.num_features, *params["hidden"], split.num_classes]
    weights = init_mlp(sizes, params["activation"], ctx.seed + INIT_SEED_OFFSET, ctx.torch_device, ctx.torch_dtype)
    config = TrainConfig(
        optimizer=params["optimizer"], lr=params["lr"], beta=params["beta"], steps=params["steps"],
        batch_size=params["batch_size"], activation=params["activation"],
        eval_every=max(1, params["steps"] // EVAL_POINTS),
        target_loss=params.get("target_loss"), target_accuracy=params.get("target_accuracy"),
        sharpness_every=params["sharpness_every"],
    )
    return split, weights, config


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
    return next((int(x) for x, y in zip(series.get("x", ()), series.get("y", ())) if math.isfinite(y) and test(y)),
                None)


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
        [[v.label, s["final_loss"], s["train_accuracy"], s["test_accuracy"], s["steps_to_target_accuracy"]]
         for v, (s, _) in zip(variants, results)],
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
    return Table("gradcheck", ["Function", "gradcheck", "largest |backward - numerical|", "gradgradcheck"],
                 [[c.what, c.verdict, c.largest_error, "-" if c.second_order is None else
                   ("passed" if c.second_order else "failed")] for c in checks])
