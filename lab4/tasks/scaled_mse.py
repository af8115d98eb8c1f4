"""Handout task 6: a custom MSE loss with a scale S, in place of cross-entropy.

L = S * mean((y_hat - y)^2) over all N*K entries, y one-hot, y_hat = softmax(logits) (or
the raw logits), with the explicit backward of :class:`lab4.maths.losses.ScaledMSELoss`.  One
training per S, and one with cross-entropy, all from the same initial weights.  The
gradient is linear in S and every update here (gd, momentum, Nesterov) is linear in lr g,
so (S, lr) moves the weights as (1, S lr): the run measures it rather than asserting it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Any, Iterator

from lab4.core.comparison import race_sentence
from lab4.core.events import Metric, Observation, Points, finding
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
    stopped_metrics,
    summary_metrics,
    training_params,
)

#: steps of the measured S-versus-learning-rate equivalence
EQUIVALENCE_STEPS = 20
#: (S, lr) and (1, S lr) are the same map up to round-off while they stay within this many
#: times the drift a 1-ulp change of the start produces
RATIO_LIMIT = 10.0
#: the trajectories are compared while that drift is below this share of the weights' size
SENSITIVE = 1e-3
#: the series of the comparison, per step: |(S, lr) - (1, S lr)| and |(S, lr) - (S, lr) from start + 1 ulp|
DIFFERENCE_SERIES, DRIFT_SERIES = "S-lr difference", "1-ulp drift"


SPEC = Spec(
    training_params(steps=500)
    + (
        FloatListParam("scale", "0.1,1,10,100", help="scaling factors S to compare", gt=0, le=1e6, max_len=12),
        ChoiceParam(
            "output", "softmax", help="y_hat: softmax probabilities, or raw logits", choices=("softmax", "logits")
        ),
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
    variants = [Variant(f"S={s:g}", lambda z, y, s=s: scaled_mse(z, y, s, output)) for s in params["scale"]]
    if params["compare"]:
        variants.append(Variant("cross-entropy", F.cross_entropy))
    results = yield from train_variants(split, initial, config, ctx, variants)

    yield from summary_metrics(results[0][0])
    target = params["target_accuracy"]
    per_variant = {
        v.label: {
            "final_loss": s["final_loss"],
            "train_accuracy": s["train_accuracy"],
            "test_accuracy": s["test_accuracy"],
            "steps_to_target_accuracy": s["steps_to_target_accuracy"],
        }
        for v, (s, _) in zip(variants, results)
    }
    yield Metric("variants", per_variant)
    yield comparison_table(variants, results, target)

    yield Observation(
        race_sentence(
            f"train accuracy {target:.0%}",
            [(label, m["steps_to_target_accuracy"]) for label, m in per_variant.items()],
            config.steps,
        )
    )
    yield from _equivalence(split, initial, config, params["scale"], output)
    yield from _initial_gradients(split, initial, config, output)
    yield from _gradcheck_panel(split, initial, config, params["scale"][0], output)
    if split.num_features == 2:
        yield decision_boundary(split, results[0][1], config.activation)


def _equivalence(split: Any, initial: list[Any], config: Any, scales: tuple[float, ...], output: str) -> Iterator[Any]:
    """Measured, not asserted: (S, lr) against (1, S lr) from the same weights, step by step,
    beside (S, lr) from the start moved by one ulp (every weight to its next float).

    The two are the same map in exact arithmetic; in floats their updates round apart by an
    ulp or so, and at a large effective learning rate the training is chaotic: any ulp grows
    step by step.  So the difference means something only compared with the drift that a
    1-ulp change of the start produces, and only while that drift is still small
    (``SENSITIVE`` of the weights' size): past it, the trajectory's own sensitivity swamps
    any comparison.  The finding: the worst ratio difference / drift over the measurable
    steps is at most ``RATIO_LIMIT`` (S acts as a learning-rate factor up to round-off), or
    not (a different map)."""
    import torch

    from lab4.maths.losses import scaled_mse
    from lab4.maths.training import make_step

    s = max(scales, key=lambda v: abs(math.log(v)))
    if s == 1:
        return
    # every nonzero weight to its next float (a zero bias moved to 1e-45 would cross relu's kink at 0)
    ulp = [torch.where(w != 0, torch.nextafter(w, torch.full_like(w, math.inf)), w) for w in initial]
    paths = []
    for scale, lr, start in ((s, config.lr, initial), (1.0, s * config.lr, initial), (s, config.lr, ulp)):
        weights = [w.clone() for w in start]
        velocity = [torch.zeros_like(w) for w in weights]
        step = make_step(
            weights, velocity, lambda z, y, scale=scale: scaled_mse(z, y, scale, output), replace(config, lr=lr)
        )
        path = []
        for _ in range(EQUIVALENCE_STEPS):
            step(split.x_train, split.y_train)
            path.append([w.detach().clone() for w in weights])
        paths.append(path)

    def apart(a: list[Any], b: list[Any]) -> float:
        return max(float((x - y).abs().max()) for x, y in zip(a, b))

    size = max(float(w.detach().abs().max()) for w in initial)
    floor = torch.finfo(initial[0].dtype).eps * size  # one ulp of the largest weight
    difference = [apart(a, b) for a, b in zip(paths[0], paths[1])]
    drift = [apart(a, c) for a, c in zip(paths[0], paths[2])]
    steps = list(range(1, EQUIVALENCE_STEPS + 1))
    yield Points(DIFFERENCE_SERIES, steps, difference)
    yield Points(DRIFT_SERIES, steps, drift)
    measurable = sum(1 for _ in itertools.takewhile(lambda d: d <= SENSITIVE * size, drift))
    if measurable == 0:
        yield Metric("scale_lr_difference", difference[0])
        yield finding(
            "scale_lr_unmeasurable",
            {
                "scale": s,
                "lr": config.lr,
                "drift_1": drift[0],
                "size": size,
                "sensitive": SENSITIVE,
                "threshold": SENSITIVE * size,
            },
            [("drift_1", ">", "threshold")],
            "S = {scale:g}, lr = {lr:g} against S = 1, lr = S lr: not measurable here, since after one step a 1-ulp "
            "change of the start has already moved the weights by {drift_1:.2g}, above {sensitive:g} of their size "
            "{size:.3g}.",
            "",
        )
        return
    ratios = [d / max(u, floor) for d, u in zip(difference[:measurable], drift[:measurable])]
    worst = max(range(measurable), key=lambda k: ratios[k])
    yield Metric("scale_lr_difference", difference[0])
    yield Metric("scale_lr_ratio", ratios[worst])
    yield Metric("scale_lr_steps", measurable)
    after = drift[measurable] if measurable < EQUIVALENCE_STEPS else None
    cut = (
        f"up to step {measurable}: at step {measurable + 1} a 1-ulp change of the start has moved the weights by "
        f"{after:.2g}, above {SENSITIVE:g} of their size {size:.3g}, and the trajectory's own sensitivity swamps any "
        "comparison"
        if after is not None
        else f"over all {EQUIVALENCE_STEPS} steps"
    )
    values = {
        "optimizer": config.optimizer,
        "scale": s,
        "lr": config.lr,
        "effective_lr": s * config.lr,
        "difference_1": difference[0],
        "drift_1": drift[0],
        "steps_measured": measurable,
        "worst_step": worst + 1,
        "difference_worst": difference[worst],
        "drift_worst": drift[worst],
        "ratio": ratios[worst],
        "ratio_limit": RATIO_LIMIT,
        "drift_after": after,
        "sensitive": SENSITIVE,
        "size": size,
        "cut": cut,
    }
    yield finding(
        "scale_lr_equivalence",
        values,
        [("ratio", "<=", "ratio_limit")],
        "Measured: {optimizer} steps with S = {scale:g}, lr = {lr:g} and with S = 1, lr = {effective_lr:g} from the same "
        "weights differ by {difference_1:.2g} after one step (a 1-ulp change of the start: {drift_1:.2g}) and stay "
        "within {ratio:.2g} x the drift of that 1-ulp change (limit {ratio_limit:g} x) {cut}: S acts as a "
        "learning-rate factor, up to round-off.",
        "Measured: {optimizer} steps with S = {scale:g}, lr = {lr:g} and with S = 1, lr = {effective_lr:g} from the same "
        "weights differ by {difference_worst:.2g} at step {worst_step}, {ratio:.2g} x the {drift_worst:.2g} that a 1-ulp "
        "change of the start produces there (limit {ratio_limit:g} x), while the trajectory is not yet sensitive: "
        "S is not a plain learning-rate factor here.",
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
        f"for cross-entropy: cross-entropy's is {b / a:.2g} times the MSE's."
        if a > 0
        else "At the initial weights the MSE gradient is 0."
    )


def _gradcheck_panel(split: Any, initial: list[Any], config: Any, scale: float, output: str) -> Iterator[Any]:

    from lab4.maths.gradcheck import check_loss
    from lab4.maths.losses import scaled_mse

    rows = min(split.x_train.shape[0], GRADCHECK_ROWS)
    logits, target = initial_logits(split, initial, config, rows)
    check = check_loss(
        f"scaled MSE, S = {scale:g}, y_hat = {output}",
        lambda z: scaled_mse(z, target, scale, output),
        logits,
        second_order=True,
    )
    yield Metric("gradcheck", check.verdict)
    yield gradcheck_table([check])
    yield Observation(
        f"gradcheck (float64, the run's initial logits, {rows} x {split.num_classes}): ScaledMSELoss "
        f"{check.verdict} (largest error {check.largest_error:.2g}); double backward "
        f"{'passed' if check.second_order else 'failed'} gradgradcheck."
    )


TASK = Task(
    id="scaled-mse",
    number="6",
    title="Scaled MSE vs cross-entropy",
    summary="custom MSE autograd.Function with scale S, for several S, against cross-entropy",
    spec=SPEC,
    run=run,
    stopped_metrics=stopped_metrics,
    headline="train_accuracy",
    comparison=Comparison(
        "steps_to_target_accuracy", lambda p: f"train accuracy {p['target_accuracy']:.0%}", also=("final_loss",)
    ),
    views=TRAINING_VIEWS,
    presets={"several S vs cross-entropy": {}},
    help=(
        "L = S * (1/(N K)) sum (y_hat - onehot(y))^2, y_hat = softmax(z) (or z)\n"
        "dL/dy_hat = 2 S (y_hat - y) / (N K);  through softmax:\n"
        "dL/dz = y_hat * (g - sum_k g_k y_hat_k)\n"
        "The gradient is linear in S and gd, momentum and Nesterov are linear\n"
        "in lr g: (S, lr) and (1, S lr) give the same weights. Measured over\n"
        f"{EQUIVALENCE_STEPS} steps against the drift of a 1-ulp change of the start (same map\n"
        f"when within {RATIO_LIMIT:g} x that drift, while it is below {SENSITIVE:g} of |w|).\n"
        "gradcheck and gradgradcheck of ScaledMSELoss on the run's own logits."
    ),
)
