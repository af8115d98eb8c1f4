"""Handout task 5: the custom cross-entropy with its gradient clipped to [-c, c].

The loss is :class:`lab4.maths.losses.CustomCrossEntropyLoss` (explicit backward
(softmax - onehot)/N * grad_output).  Clipping happens at the logit gradient (default) or
on the parameter gradients.  Every entry of (softmax - onehot)/N lies in [-1/N, 1/N], so
c = 1 clips nothing at the logits; the run measures and says so.  The comparison trains
the unclipped custom loss and ``F.cross_entropy`` from the same initial weights.
"""

from __future__ import annotations

from typing import Any, Iterator

from lab4.core.events import Metric, Observation, plural
from lab4.core.spec import BoolParam, ChoiceParam, FloatParam, Spec
from lab4.core.task import Comparison, Task
from lab4.core.views import TRAINING_VIEWS, PlotView
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

SPEC = Spec(
    training_params(steps=500)
    + (
        FloatParam("clip", 1.0, help="clip the gradient to [-clip, clip]", gt=0, le=1e6),
        ChoiceParam(
            "clip_site", "logits", help="clip dL/dlogits, or the parameter gradients", choices=("logits", "params")
        ),
        ChoiceParam(
            "ce", "stable", help="stable: log_softmax; handout: log(softmax + 1e-9)", choices=("stable", "handout")
        ),
        BoolParam("compare", True, help="also train unclipped and with F.cross_entropy, same initial weights"),
        FloatParam("target_accuracy", 0.9, help="report the first step at this train accuracy", gt=0, le=1),
    ),
    checks=TRAINING_CHECKS,
)


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    import torch.nn.functional as F

    from lab4.maths.losses import ClipStats, clip_, custom_cross_entropy, plain_cross_entropy
    from lab4.maths.training import Variant, decision_boundary, train_variants

    split, initial, config = setup(params, ctx)
    c, site, ce = params["clip"], params["clip_site"], params["ce"]
    n = split.x_train.shape[0] if config.batch_size <= 0 else min(config.batch_size, split.x_train.shape[0])
    yield Observation(describe_data(split, params))

    stats = ClipStats()

    # the sharpness is the Hessian of the loss, not the derivative of the clipped backward
    def loss(z: Any, y: Any) -> Any:
        return plain_cross_entropy(z, y, ce)

    if site == "logits":
        clipped = Variant(
            f"clipped c={c:g}",
            lambda z, y: custom_cross_entropy(z, y, c, stats, ce),
            per_step={"clip_fraction": stats.step_fraction},
            sharpness_loss=loss,
        )
    else:
        clipped = Variant(
            f"clipped c={c:g}",
            lambda z, y: custom_cross_entropy(z, y, None, None, ce),
            grad_transform=lambda grads: clip_(grads, c, stats),
            per_step={"clip_fraction": stats.step_fraction},
            sharpness_loss=loss,
        )
    variants = [clipped]
    if params["compare"]:
        variants.append(Variant("unclipped", lambda z, y: custom_cross_entropy(z, y, None, None, ce)))
        variants.append(Variant("F.cross_entropy", F.cross_entropy))
    results = yield from train_variants(split, initial, config, ctx, variants)

    summary, weights = results[0]
    fraction = stats.fraction
    largest = float(stats.largest)
    yield from summary_metrics(summary)
    yield Metric("clip_fraction", fraction)
    yield Metric("largest_gradient", largest)
    yield Metric("steps_to_target_accuracy", summary["steps_to_target_accuracy"])
    yield comparison_table(variants, results, params["target_accuracy"])

    where = "dL/dlogits" if site == "logits" else "the parameter gradients"
    clipped_count = int(float(stats.clipped))
    yield Observation(
        f"Clipping {where} to [-{c:g}, {c:g}] changed {fraction:.2%} of the gradient entries "
        f"({clipped_count} of {stats.total}); the largest |entry| before clipping was {largest:.3g}."
    )
    if site == "logits":
        side = "above" if c >= largest else "below"
        yield Observation(
            f"Each entry of dL/dlogits = (softmax - onehot)/N lies in [-1/N, 1/N] = [-{1 / n:.3g}, {1 / n:.3g}] "
            f"with N = {n} samples per step, and the largest measured was {largest:.3g}: c = {c:g} is {side} it, "
            + (
                "so nothing was clipped."
                if clipped_count == 0
                else f"so {fraction:.2%} of the entries were cut to +-c, the largest ones: those of the samples the "
                f"model gets most wrong."
            )
        )
    if len(results) > 1:
        diff = max(float((a - b).abs().max()) for a, b in zip(weights, results[1][1]))
        same = "identical to" if diff == 0 else f"within {diff:.2g} of"
        target = params["target_accuracy"]

        def reached(s: dict[str, Any]) -> str:
            step = s["steps_to_target_accuracy"]
            return f"at step {step}" if step is not None else f"not in {plural(config.steps, 'step')}"

        yield Observation(
            f"Final weights with clipping are {same} the unclipped run's "
            f"(final loss {summary['final_loss']:.4g} vs {results[1][0]['final_loss']:.4g}; "
            f"F.cross_entropy {results[2][0]['final_loss']:.4g}). Train accuracy {target:.0%}: clipped "
            f"{reached(summary)}, unclipped {reached(results[1][0])}."
        )
    if ce == "handout":
        yield from _handout_cap(split, weights, config.activation)
    yield from _gradcheck_panel(split, initial, config, c if site == "logits" else None, ce, site)
    if split.num_features == 2:
        yield decision_boundary(split, weights, config.activation)


def _handout_cap(split: Any, weights: list[Any], activation: str) -> Iterator[Any]:
    """What log(p + 1e-9) did to this run: its samples with p < 1e-9 at the end, and their loss."""
    import torch

    from lab4.maths.training import forward

    with torch.no_grad():
        logits = forward(weights, split.x_train, activation)
        true = torch.log_softmax(logits, 1).gather(1, split.y_train[:, None]).squeeze(1)
    capped = int((true < -20.723).sum())
    if capped:
        yield Observation(
            f"log(p + 1e-9) caps the per-sample loss at -log(1e-9) = 20.7: at the end {capped} training samples "
            f"had p < 1e-9 on their class (log-softmax gives them up to {float(-true.min()):.3g}); their loss and "
            f"its gradient are wrong there."
        )
    else:
        yield Observation(
            f"No training sample had p < 1e-9 on its class at the end (the smallest log p is {float(true.min()):.3g}): "
            f"the handout's log(p + 1e-9) differed from log-softmax by at most ~1e-9 / p here."
        )


def _gradcheck_panel(
    split: Any, initial: list[Any], config: Any, clip: float | None, ce: str, site: str
) -> Iterator[Any]:
    """gradcheck of the run's custom Function on its own initial logits (float64), and of the
    handout's variant where it fails."""

    from lab4.maths.gradcheck import check_loss, confident_wrong_logits
    from lab4.maths.losses import custom_cross_entropy

    n_all = split.x_train.shape[0] if config.batch_size <= 0 else min(config.batch_size, split.x_train.shape[0])
    rows = min(n_all, GRADCHECK_ROWS)
    logits, target = initial_logits(split, initial, config, rows)
    share = rows / n_all  # the subset's share of the mean: its entries are those of the full batch

    def as_run(z: Any) -> Any:
        return custom_cross_entropy(z, target, clip, None, ce) * share

    label = (
        f"custom CE ({ce}), clipped at c={clip:g}"
        if clip is not None
        else f"custom CE ({ce})" + (", clipping acts on the parameter gradients" if site == "params" else "")
    )
    checks = [check_loss(label, as_run, logits, second_order=ce == "stable")]
    if clip is not None:
        checks.append(
            check_loss(
                f"custom CE ({ce}), unclipped",
                lambda z: custom_cross_entropy(z, target, None, None, ce) * share,
                logits,
            )
        )
    wrong, wrong_target = confident_wrong_logits(split.num_classes)
    checks.append(
        check_loss(
            "handout log(p + 1e-9), confident-wrong logits",
            lambda z: custom_cross_entropy(z, wrong_target, None, None, "handout"),
            wrong,
        )
    )
    yield Metric("gradcheck", checks[0].verdict)
    yield gradcheck_table(checks)
    first = checks[0]
    text = (
        f"gradcheck (float64, the run's initial logits, {rows} x {split.num_classes}): the Function as run "
        f"{first.verdict}"
    )
    if not first.passed and clip is not None:
        text += " - its clipped backward is not the derivative of its forward wherever it clips, by design"
    yield Observation(
        text + f"; the handout's variant on confident-wrong logits {checks[-1].verdict} "
        f"(its backward is not the derivative of log(p + 1e-9) where p < 1e-9)."
    )


TASK = Task(
    id="clipped-ce",
    number="5",
    title="Clipped cross-entropy",
    summary="custom cross-entropy autograd.Function, gradient clipped to [-c, c], vs unclipped",
    spec=SPEC,
    run=run,
    stopped_metrics=stopped_metrics,
    headline="clip_fraction",
    comparison=Comparison(
        "steps_to_target_accuracy", lambda p: f"train accuracy {p['target_accuracy']:.0%}", also=("final_loss",)
    ),
    views=TRAINING_VIEWS[:2]
    + (PlotView("clipped", "Clipped", ("clip_fraction",), ylabel="fraction clipped"),)
    + TRAINING_VIEWS[2:],
    presets={"clip bounds": {"clip": [1.0, 0.01, 0.001, 0.0001]}},
    help=(
        "forward:  L = -(1/N) sum_n log softmax(z)[n, t_n]   (log_softmax: stable)\n"
        "backward: dL/dz = (softmax(z) - onehot(t)) / N * grad_output,\n"
        "          clamped to [-c, c]\n"
        "Every entry is within [-1/N, 1/N]: c = 1 clips nothing; a smaller c does.\n"
        "The handout's listing never returns the loss from forward (an\n"
        "indentation slip) and uses log(p + 1e-9), biased and capped at 20.7:\n"
        "choose ce = handout to compare. gradcheck on the run's own logits:\n"
        "the clipped backward is not the derivative where it clips (by design),\n"
        "nor is the handout's where p < 1e-9."
    ),
)
