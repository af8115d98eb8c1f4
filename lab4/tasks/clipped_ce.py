"""Handout task 5: the custom cross-entropy with its gradient clipped to [-c, c].

The loss is :class:`lab4.losses.CustomCrossEntropyLoss` (explicit backward
(softmax - onehot)/N * grad_output).  Clipping happens at the logit gradient (default) or
on the parameter gradients.  Every entry of (softmax - onehot)/N lies in [-1/N, 1/N], so
c = 1 clips nothing at the logits; the run measures and says so.  The comparison trains
the unclipped custom loss and ``F.cross_entropy`` from the same initial weights.
"""

from __future__ import annotations

from typing import Any, Iterator

from lab4.events import Metric, Observation
from lab4.spec import BoolParam, ChoiceParam, FloatParam, Spec
from lab4.tasks import Comparison, Task
from lab4.views import TRAINING_VIEWS, PlotView
from lab4.tasks.mlp import comparison_table, describe_data, setup, summary_metrics, training_params

SPEC = Spec(
    training_params(steps=500)
    + (
        FloatParam("clip", 1.0, help="clip the gradient to [-clip, clip]", gt=0, le=1e6),
        ChoiceParam("clip_site", "logits", help="clip dL/dlogits, or the parameter gradients", choices=("logits", "params")),
        ChoiceParam(
            "ce", "stable", help="stable: log_softmax; handout: log(softmax + 1e-9)", choices=("stable", "handout")
        ),
        BoolParam("compare", True, help="also train unclipped and with F.cross_entropy, same initial weights"),
        FloatParam("target_accuracy", 0.9, help="report the first step at this train accuracy", gt=0, le=1),
    )
)


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    import torch.nn.functional as F

    from lab4.losses import ClipStats, clip_, custom_cross_entropy
    from lab4.training import Variant, decision_boundary, train_variants

    split, initial, config = setup(params, ctx)
    c, site, ce = params["clip"], params["clip_site"], params["ce"]
    n = split.x_train.shape[0] if config.batch_size <= 0 else min(config.batch_size, split.x_train.shape[0])
    yield Observation(describe_data(split, params))

    stats = ClipStats()
    if site == "logits":
        clipped = Variant(f"clipped c={c:g}", lambda z, y: custom_cross_entropy(z, y, c, stats, ce),
                          per_step={"clip_fraction": stats.step_fraction})
    else:
        clipped = Variant(f"clipped c={c:g}", lambda z, y: custom_cross_entropy(z, y, None, None, ce),
                          grad_transform=lambda grads: clip_(grads, c, stats),
                          per_step={"clip_fraction": stats.step_fraction})
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
    yield Observation(
        f"Clipping {where} to [-{c:g}, {c:g}] changed {fraction:.2%} of the gradient entries "
        f"({int(float(stats.clipped))} of {stats.total}); the largest |entry| before clipping was {largest:.3g}."
    )
    if site == "logits":
        yield Observation(
            f"Each entry of dL/dlogits = (softmax - onehot)/N lies in [-1/N, 1/N] = [-{1 / n:.3g}, {1 / n:.3g}] "
            f"with N = {n} samples per step, so a bound c >= 1/N clips nothing"
            + (" - as here: c = 1 leaves the training unchanged." if c >= 1 / n else
               f"; c = {c:g} < 1/N clips, and slows the steps where the model is most wrong.")
        )
    if len(results) > 1:
        diff = max(float((a - b).abs().max()) for a, b in zip(weights, results[1][1]))
        same = "identical to" if diff == 0 else f"within {diff:.2g} of"
        yield Observation(
            f"Final weights with clipping are {same} the unclipped run's "
            f"(final loss {summary['final_loss']:.4g} vs {results[1][0]['final_loss']:.4g}; "
            f"F.cross_entropy {results[2][0]['final_loss']:.4g})."
        )
    if ce == "handout":
        yield Observation(
            "The handout's log(p + 1e-9) caps the per-sample loss at -log(1e-9) = 20.7 and biases it; "
            "log_softmax is exact and stable."
        )
    if split.num_features == 2:
        yield decision_boundary(split, weights, config.activation)


TASK = Task(
    id="clipped-ce",
    number="5",
    title="Clipped cross-entropy",
    summary="custom cross-entropy autograd.Function, gradient clipped to [-c, c], vs unclipped",
    spec=SPEC,
    run=run,
    headline="clip_fraction",
    comparison=Comparison("steps_to_target_accuracy", lambda p: f"train accuracy {p['target_accuracy']:.0%}",
                          also=("final_loss",)),
    views=TRAINING_VIEWS[:2] + (PlotView("clipped", "Clipped", ("clip_fraction",), ylabel="fraction clipped"),)
    + TRAINING_VIEWS[2:],
    presets={"clip bounds": {"clip": [1.0, 0.01, 0.001, 0.0001]}},
    help=(
        "forward:  L = -(1/N) sum_n log softmax(z)[n, t_n]   (log_softmax: stable)\n"
        "backward: dL/dz = (softmax(z) - onehot(t)) / N * grad_output,\n"
        "          clamped to [-c, c]\n"
        "Every entry is within [-1/N, 1/N]: c = 1 clips nothing; a smaller c does.\n"
        "The handout's listing never returns the loss from forward (an\n"
        "indentation slip) and uses log(p + 1e-9), biased and capped at 20.7:\n"
        "choose ce = handout to compare."
    ),
)
