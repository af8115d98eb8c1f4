"""Handout tasks 4 and 4.1: a fully-connected network trained with ``torch.autograd.grad``.

Gradients come from ``torch.autograd.grad(loss, weights)``; the update is written out:

    gd        w = w - lr g
    momentum  v = beta v - lr g;                 w = w + v
    nesterov  v = beta v - lr g(w + beta v);     w = w + v      (v_0 = 0)

The training parameters are declared once in :mod:`lab4.tasks._training` and shared by
the ``clipped-ce`` and ``scaled-mse`` tasks.
"""

from __future__ import annotations

from typing import Any, Iterator

from lab4.core.events import Metric, Observation, Table, plural
from lab4.core.spec import FloatParam, Spec
from lab4.core.task import Comparison, Task
from lab4.core.views import TRAINING_VIEWS
from lab4.maths.optim import OPTIMIZERS
from lab4.tasks._training import (
    TRAINING_CHECKS,
    describe_data,
    setup,
    stopped_metrics,
    summary_metrics,
    training_params,
)

SPEC = Spec(
    training_params()
    + (FloatParam("target_loss", 0.1, help="report the first step whose train loss is at most this", gt=0),),
    checks=TRAINING_CHECKS,
)


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    import torch.nn.functional as F

    from lab4.maths.training import decision_boundary, train

    split, weights, config = setup(params, ctx)
    yield Observation(describe_data(split, params))
    summary = yield from train(split, weights, F.cross_entropy, config, ctx, sharpness=True)
    yield from summary_metrics(summary)
    yield Metric("best_test_accuracy", summary["best_test_accuracy"])
    yield Metric("steps_to_target_loss", summary["steps_to_target_loss"])
    yield Table(
        "summary",
        ["quantity", "value"],
        [
            ["initial loss", summary["initial_loss"]],
            ["final loss", summary["final_loss"]],
            ["train accuracy", summary["train_accuracy"]],
            ["test accuracy", summary["test_accuracy"]],
            [f"steps to loss <= {params['target_loss']:g}", summary["steps_to_target_loss"]],
        ],
    )
    reached = summary["steps_to_target_loss"]
    yield Observation(
        f"{config.optimizer} (lr = {config.lr:g}{'' if config.optimizer == 'gd' else f', beta = {config.beta:g}'}): "
        f"loss {summary['initial_loss']:.3g} -> {summary['final_loss']:.3g} in {plural(config.steps, 'step')}, "
        f"train accuracy {summary['train_accuracy']:.1%}"
        + (f", test accuracy {summary['test_accuracy']:.1%}" if summary["test_accuracy"] is not None else "")
        + (
            f"; loss <= {params['target_loss']:g} first at step {reached}."
            if reached is not None
            else f"; loss never reached {params['target_loss']:g}."
        )
    )
    if split.num_features == 2:
        yield decision_boundary(split, weights, config.activation)


TASK = Task(
    id="mlp",
    number="4, 4.1",
    title="Network by explicit autograd",
    summary="an MLP trained with torch.autograd.grad: gradient descent, momentum, Nesterov",
    spec=SPEC,
    run=run,
    stopped_metrics=stopped_metrics,
    headline="train_accuracy",
    comparison=Comparison("steps_to_target_loss", lambda p: f"loss <= {p['target_loss']:g}", also=("final_loss",)),
    views=TRAINING_VIEWS,
    presets={"gd vs momentum vs nesterov": {"optimizer": list(OPTIMIZERS)}},
    help=(
        "logits = W_L act(... act(x W_1 + b_1) ...) + b_L; loss = cross-entropy.\n"
        "g = torch.autograd.grad(loss, [W_1, b_1, ...])\n"
        "(no .backward(), no torch.optim)\n"
        "gd:       w = w - lr g\n"
        "momentum: v = beta v - lr g;              w = w + v   (v_0 = 0)\n"
        "nesterov: v = beta v - lr g(w + beta v);  w = w + v\n"
        "beta = 0 gives gd exactly. Full batch by default;\n"
        "batch_size > 0 for mini-batches."
    ),
)
