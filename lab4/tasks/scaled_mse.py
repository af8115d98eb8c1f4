"""Handout task 6: a custom MSE loss with a scale S, in place of cross-entropy.

L = S * mean((y_hat - y)^2) over all N*K entries, y one-hot, y_hat = softmax(logits) (or
the raw logits), with the explicit backward of :class:`lab4.maths.losses.ScaledMSELoss`.  One
training per S, and one with cross-entropy, all from the same initial weights.  The
gradient is linear in S and every update here (gd, momentum, Nesterov) is linear in lr g,
so (S, lr) moves the weights as (1, S lr): the run measures it rather than asserting it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Iterator

from lab4.core.comparison import race_sentence
from lab4.core.events import Metric, Observation
from lab4.core.spec import BoolParam, ChoiceParam, FloatListParam, FloatParam, Spec
from lab4.core.task import Comparison, Task
from lab4.core.views import TRAINING_VIEWS
from lab4.tasks._training import (
    GRADCHECK_ROWS,
    TRAINING_CHECKS,
    comparison_table,
    describe_data,
    gradcheck_table,
    initial_logits,
    setup,
    summary_metrics,
    training_params,
)

#: steps of the measured S-versus-learning-rate equivalence
EQUIVALENCE_STEPS = 20
#: the two trajectories are "the same" when they end within this share of the weights' size
EQUIVALENT = 1e-5


SPEC = Spec(
    training_params(steps=500)
    + (
        FloatListParam("scale", "0.1,1,10,100", help="scaling factors S to compare", gt=0, le=1e6, max_len=12),
        ChoiceParam("output", "softmax", help="y_hat: softmax probabilities, or raw logits", choices=("softmax", "logits")),
        BoolParam("compare", True, help="also train with cross-entropy from the same initial weights"),
        FloatParam("target_accuracy", 0.9, help="report the first step at this train accuracy", gt=0, le=1),
    ),
    checks=TRAINING_CHECKS,
)


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    import torch.nn.functional as F

    from lab4.maths.losses import scaled_mse
    from lab4.maths.training import Variant, decision_boundary, train_variants

    split, initial, config = setup(params, ctx)
    output = params["output"]
    yield Observation(describe_data(split, params))
    variants = [
        Variant(f"S={s:g}", lambda z, y, s=s: scaled_mse(z, y, s, output)) for s in params["scale"]
    ]
    if params["compare"]:
        variants.append(Variant("cross-entropy", F.cross_entropy))
    results = yield from train_variants(split, initial, config, ctx, variants)

    yield from summary_metrics(results[0][0])
    target = params["target_accuracy"]
    per_variant = {v.label: {"final_loss": s["final_loss"], "train_accuracy": s["train_accuracy"],
                             "test_accuracy": s["test_accuracy"], "steps_to_target_accuracy": s["steps_to_target_accuracy"]}
                   for v, (s, _) in zip(variants, results)}
    yield Metric("variants", per_variant)
    yield comparison_table(variants, results, target)

    yield Observation(race_sentence(f"train accuracy {target:.0%}",
                                    [(label, m["steps_to_target_accuracy"]) for label, m in per_variant.items()],
                                    config.steps))
    yield from _equivalence(split, initial, config, params["scale"], output)
    yield from _initial_gradients(split, initial, config, output)
    yield from _gradcheck_panel(split, initial, config, params["scale"][0], output)
    if split.num_features == 2:
        yield decision_boundary(split, results[0][1], config.activation)


def _equivalence(split: Any, initial: list[Any], config: Any, scales: tuple[float, ...], output: str) -> Iterator[Any]:
    """Measured, not asserted: (S, lr) against (1, S lr) over EQUIVALENCE_STEPS steps of the run's
    own optimizer, from the same weights."""
    import torch

    from lab4.maths.losses import scaled_mse
    from lab4.maths.training import make_step

    s = max(scales, key=lambda v: abs(math.log(v)))
    if s == 1:
        return
    end = []
    for scale, lr in ((s, config.lr), (1.0, s * config.lr)):
        weights = [w.clone() for w in initial]
        velocity = [torch.zeros_like(w) for w in weights]
        step = make_step(weights, velocity, lambda z, y, scale=scale: scaled_mse(z, y, scale, output),
                         replace(config, lr=lr))
        for _ in range(EQUIVALENCE_STEPS):
            step(split.x_train, split.y_train)
        end.append(weights)
    diff = max(float((a - b).detach().abs().max()) for a, b in zip(*end))
    size = max(float(w.detach().abs().max()) for w in end[0])
    yield Metric("scale_lr_difference", diff)
    same = diff <= EQUIVALENT * size
    yield Observation(
        f"Measured: {EQUIVALENCE_STEPS} {config.optimizer} steps with S = {s:g}, lr = {config.lr:g} and with S = 1, "
        f"lr = {s * config.lr:g} end within {diff:.2g} of each other (largest |w| {size:.3g}): "
        + (f"the MSE gradient is linear in S and the {config.optimizer} update is linear in lr g, so S acts as a "
           "learning-rate factor." if same else "not the same trajectory: S is not a plain learning-rate factor here.")
    )


def _initial_gradients(split: Any, initial: list[Any], config: Any, output: str) -> Iterator[Any]:
    """How large each loss's logit gradient is at the start (same weights, same data)."""
    import torch
    import torch.nn.functional as F

    from lab4.maths.losses import scaled_mse
    from lab4.maths.training import forward

    logits = forward(initial, split.x_train, config.activation).detach().requires_grad_(True)
    (mse,) = torch.autograd.grad(scaled_mse(logits, split.y_train, 1.0, output), logits)
    (ce,) = torch.autograd.grad(F.cross_entropy(logits, split.y_train), logits)
    a, b = float(mse.abs().mean()), float(ce.abs().mean())
    yield Observation(
        f"At the initial weights the mean |dL/dlogits| is {a:.3g} for MSE (S = 1, y_hat = {output}) and {b:.3g} "
        f"for cross-entropy: cross-entropy's is {b / a:.2g} times the MSE's." if a > 0 else
        "At the initial weights the MSE gradient is 0."
    )


def _gradcheck_panel(split: Any, initial: list[Any], config: Any, scale: float, output: str) -> Iterator[Any]:

    from lab4.maths.gradcheck import check_loss
    from lab4.maths.losses import scaled_mse

    rows = min(split.x_train.shape[0], GRADCHECK_ROWS)
    logits, target = initial_logits(split, initial, config, rows)
    check = check_loss(f"scaled MSE, S = {scale:g}, y_hat = {output}", lambda z: scaled_mse(z, target, scale, output),
                       logits, second_order=True)
    yield Metric("gradcheck", check.verdict)
    yield gradcheck_table([check])
    yield Observation(f"gradcheck (float64, the run's initial logits, {rows} x {split.num_classes}): ScaledMSELoss "
                      f"{check.verdict} (largest error {check.largest_error:.2g}); double backward "
                      f"{'passed' if check.second_order else 'failed'} gradgradcheck.")


TASK = Task(
    id="scaled-mse",
    number="6",
    title="Scaled MSE vs cross-entropy",
    summary="custom MSE autograd.Function with scale S, for several S, against cross-entropy",
    spec=SPEC,
    run=run,
    headline="train_accuracy",
    comparison=Comparison("steps_to_target_accuracy", lambda p: f"train accuracy {p['target_accuracy']:.0%}",
                          also=("final_loss",)),
    views=TRAINING_VIEWS,
    presets={"several S vs cross-entropy": {}},
    help=(
        "L = S * (1/(N K)) sum (y_hat - onehot(y))^2, y_hat = softmax(z) (or z)\n"
        "dL/dy_hat = 2 S (y_hat - y) / (N K);  through softmax:\n"
        "dL/dz = y_hat * (g - sum_k g_k y_hat_k)\n"
        "The gradient is linear in S and gd, momentum and Nesterov are linear\n"
        "in lr g: (S, lr) and (1, S lr) give the same weights (measured).\n"
        "gradcheck and gradgradcheck of ScaledMSELoss on the run's own logits."
    ),
)
