"""Handout task 6: a custom MSE loss with a scale S, in place of cross-entropy.

L = S * mean((y_hat - y)^2) over all N*K entries, y one-hot, y_hat = softmax(logits) (or
the raw logits), with the explicit backward of :class:`lab4.losses.ScaledMSELoss`.  One
training per S, and one with cross-entropy, all from the same initial weights.  For plain
gradient descent the gradient is linear in S, so (S, lr) moves the weights exactly as
(1, S*lr): S acts as a learning-rate multiplier.
"""

from __future__ import annotations

from typing import Any, Iterator

from lab4.events import Metric, Observation
from lab4.spec import BoolParam, ChoiceParam, FloatListParam, FloatParam, Spec
from lab4.tasks import Comparison, Task
from lab4.views import TRAINING_VIEWS
from lab4.tasks.mlp import comparison_table, describe_data, setup, summary_metrics, training_params

SPEC = Spec(
    training_params(steps=500)
    + (
        FloatListParam("scale", "0.1,1,10,100", help="scaling factors S to compare", gt=0, le=1e6, max_len=12),
        ChoiceParam("output", "softmax", help="y_hat: softmax probabilities, or raw logits", choices=("softmax", "logits")),
        BoolParam("compare", True, help="also train with cross-entropy from the same initial weights"),
        FloatParam("target_accuracy", 0.9, help="report the first step at this train accuracy", gt=0, le=1),
    )
)


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    import torch.nn.functional as F

    from lab4.losses import scaled_mse
    from lab4.training import Variant, decision_boundary, train_variants

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

    def when(m: dict[str, Any]) -> str:
        step = m["steps_to_target_accuracy"]
        return f"{target:.0%} at step {step}" if step is not None else f"{target:.0%} never reached"

    parts = [f"{label}: {m['train_accuracy']:.1%} ({when(m)})" for label, m in per_variant.items()]
    yield Observation(f"Train accuracy after {config.steps} steps - " + "; ".join(parts) + ".")
    yield Observation(
        "The MSE gradient is linear in S: with plain gradient descent, scale S and learning rate lr move the "
        "weights exactly as scale 1 and learning rate S*lr. Small S trains slowly, large S can overshoot."
    )
    if output == "softmax":
        yield Observation(
            "Through the softmax, the MSE gradient y_hat*(g - sum g*y_hat) vanishes as predictions saturate, even "
            "when they are wrong; cross-entropy's (softmax - onehot)/N does not - it usually converges faster."
        )
    if split.num_features == 2:
        yield decision_boundary(split, results[0][1], config.activation)


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
        "Plain GD: (S, lr) and (1, S*lr) give the same weights."
    ),
)
