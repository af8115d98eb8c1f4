"""A fully-connected network trained by gradient descent written out by hand.

The network is a list of tensors [W1, b1, W2, b2, ...]; ``forward`` applies
``h = act(h @ W + b)`` and leaves the last layer linear (the logits).  Each step:

1. take the point where the gradient is wanted (w, or the Nesterov look-ahead w + beta v),
2. compute the loss there and its gradient with ``torch.autograd.grad`` (not
   ``.backward()``, not torch.optim),
3. apply the handout's update from :mod:`lab4.maths.optim`.

The training generator records the loss (and accuracy) per step on the device and emits
them in blocks through :class:`~lab4.maths.recording.StepRecorder`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch

from lab4.core.events import Artifact, Diverged, Points
from lab4.maths.optim import apply_step, lookahead
from lab4.maths.recording import StepRecorder

__all__ = ["init_mlp", "forward", "TrainConfig", "train", "train_variants", "Variant", "decision_boundary", "make_step"]

FLUSH = 50  # steps between host copies of the recorded values
SHARPNESS_MAX_ITER = 100  # Lanczos steps (Hessian-vector products) before a sharpness is called unconverged
#: mini-batches are drawn from seed + SHUFFLE_SEED_OFFSET (a prime: apart from the other draws)
SHUFFLE_SEED_OFFSET = 104729
#: the spectrum's random probes draw from seed + SPECTRUM_SEED_OFFSET (+ 0, 1, 2)
SPECTRUM_SEED_OFFSET = 7919

Tensor = torch.Tensor
LossFn = Callable[[Tensor, Tensor], Tensor]


def init_mlp(sizes: Sequence[int], activation: str, seed: int, device: Any, dtype: Any) -> list[Tensor]:
    """Seeded weights: He-normal for relu, Xavier-normal for tanh/sigmoid; zero biases.

    Generated on the CPU in float64 and then moved, so every device and dtype starts from
    the same numbers.
    """
    g = torch.Generator().manual_seed(seed % (2**63))
    weights: list[Tensor] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        std = math.sqrt(2.0 / fan_in) if activation == "relu" else math.sqrt(2.0 / (fan_in + fan_out))
        w = torch.randn(fan_in, fan_out, generator=g, dtype=torch.float64) * std
        weights.append(w.to(device=device, dtype=dtype))
        weights.append(torch.zeros(fan_out, device=device, dtype=dtype))
    return weights


def forward(weights: Sequence[Tensor], x: Tensor, activation: str) -> Tensor:
    act = getattr(torch, activation)  # relu, tanh or sigmoid: the spec's choices
    h = x
    last = len(weights) - 2
    for i in range(0, len(weights), 2):
        h = torch.addmm(weights[i + 1], h, weights[i])
        if i != last:
            h = act(h)
    return h


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str
    lr: float
    beta: float
    steps: int
    batch_size: int
    activation: str
    eval_every: int = 10
    target_loss: float | None = None
    target_accuracy: float | None = None
    #: steps between two measurements of the sharpness (0: not measured)
    sharpness_every: int = 0
    #: the steps (0..steps, ascending) at which the whole spectrum is measured (empty: never)
    spectrum_at: tuple[int, ...] = ()


def make_step(
    weights: list[Tensor],
    velocity: list[Tensor],
    loss_fn: LossFn,
    config: TrainConfig,
    grad_transform: Callable[[list[Tensor]], list[Tensor]] | None = None,
) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """One explicit update on a batch: returns (loss at w, logits at w), both detached."""

    def step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if config.optimizer == "nesterov":
            point = [p.detach().requires_grad_(True) for p in lookahead("nesterov", weights, velocity, config.beta)]
            loss_at = loss_fn(forward(point, x, config.activation), y)
            grads = torch.autograd.grad(loss_at, point)
            with torch.no_grad():
                logits = forward(weights, x, config.activation)
                loss = loss_fn(logits, y)
        else:
            point = [p.requires_grad_(True) for p in weights]
            logits = forward(point, x, config.activation)
            loss = loss_fn(logits, y)
            grads = torch.autograd.grad(loss, point)
        if grad_transform is not None:
            grads = grad_transform(list(grads))
        with torch.no_grad():
            apply_step(config.optimizer, weights, velocity, grads, config.lr, config.beta)
        return loss.detach(), logits.detach()

    return step


def train(
    split: Any,
    weights: list[Tensor],
    loss_fn: LossFn,
    config: TrainConfig,
    ctx: Any,
    suffix: str = "",
    grad_transform: Callable[[list[Tensor]], list[Tensor]] | None = None,
    total: int | None = None,
    offset: int = 0,
    per_step: dict[str, Callable[[], Tensor]] | None = None,
    sharpness: bool = False,
    sharpness_loss: LossFn | None = None,
) -> Iterator[Any]:
    """Train ``weights`` in place; yields events, returns a summary dict (``yield from``).

    ``per_step`` adds series recorded after every update (for example the clipped
    fraction), each a function returning a 0-d tensor.  With ``sharpness`` (and
    ``config.sharpness_every``), the top eigenvalue of the full-batch loss's Hessian is
    measured every so many steps (series ``sharpness``), with the stability edge of the
    run's (lr, beta) beside it (series ``theory edge``); and at the steps of
    ``config.spectrum_at`` the whole spectrum (:func:`lab4.maths.curvature.loss_spectrum`):
    the artifact ``spectrum`` grows by one entry per measurement.  ``sharpness_loss`` is the loss
    whose Hessian that is when ``loss_fn``'s backward is not its derivative (a clipped
    backward): the same loss written with plain differentiable operations.
    """
    per_step = per_step or {}
    velocity = [torch.zeros_like(w) for w in weights]
    step = make_step(weights, velocity, loss_fn, config, grad_transform)
    x, y = split.x_train, split.y_train
    n = x.shape[0]
    full = config.batch_size <= 0 or config.batch_size >= n
    shuffle = torch.Generator().manual_seed(ctx.seed + SHUFFLE_SEED_OFFSET)
    order = torch.arange(n)
    cursor = n
    has_test = split.x_test.shape[0] > 0
    record = StepRecorder(
        ("loss", "train_accuracy", "test_accuracy", *per_step, *(("sharpness",) if sharpness else ())),
        config.steps,
        x.device,
        x.dtype,
        watch="loss",
        hint=f"the loss is no longer finite; lr = {config.lr:g} is too large (try a smaller lr)",
        suffix=suffix,
        total=total,
        offset=offset,
    )

    def evaluate(t: int) -> None:
        if has_test and (t % config.eval_every == 0 or t == config.steps):
            with torch.no_grad():
                logits = forward(weights, split.x_test, config.activation)
                record.record(t, test_accuracy=(logits.argmax(1) == split.y_test).to(x.dtype).mean())

    curvature = (
        _Sharpness(weights, sharpness_loss or loss_fn, x, y, config)
        if sharpness and config.sharpness_every > 0
        else None
    )
    spectra = (
        _Spectra(weights, sharpness_loss or loss_fn, x, y, config, ctx) if sharpness and config.spectrum_at else None
    )

    for t in range(config.steps):
        yield from record.check(ctx, t)
        if curvature is not None and t % config.sharpness_every == 0:
            record.record(t, sharpness=curvature.measure(t))
        if spectra is not None and t in spectra.steps:
            yield from record.flush(t)  # what came before is shown (and kept if cancelled) meanwhile
            yield spectra.measure(t)
        if full:
            xb, yb = x, y
        else:
            if cursor + config.batch_size > n:
                order = torch.randperm(n, generator=shuffle)
                cursor = 0
            idx = order[cursor : cursor + config.batch_size].to(x.device)
            cursor += config.batch_size
            xb, yb = x[idx], y[idx]
        loss, logits = step(xb, yb)
        record.record(t, loss=loss, train_accuracy=(logits.argmax(1) == yb).to(x.dtype).mean())
        for name, value in per_step.items():
            record.record(t, **{name: value()})
        evaluate(t)
        if (t + 1) % FLUSH == 0:
            yield from record.flush(t + 1)

    # the state after the last update: full train loss and accuracies at w_T
    t = config.steps
    with torch.no_grad():
        logits = forward(weights, x, config.activation)
        record.record(t, loss=loss_fn(logits, y), train_accuracy=(logits.argmax(1) == y).to(x.dtype).mean())
    evaluate(t)
    if curvature is not None:
        record.record(t, sharpness=curvature.measure(t))
    yield from record.flush(t + 1)
    if spectra is not None and t in spectra.steps:
        yield spectra.measure(t)
    if curvature is not None:
        yield Points("theory edge" + suffix, [0, config.steps], [curvature.edge, curvature.edge])

    for w in weights:
        w.requires_grad_(False)
    losses = record.host["loss"]
    measured = [v for v in record.host.get("sharpness", []) if math.isfinite(v)]
    train_acc = record.host["train_accuracy"]
    test_acc = [v for v in record.host["test_accuracy"] if math.isfinite(v)]
    return {
        "final_loss": losses[-1],
        "initial_loss": losses[0],
        "train_accuracy": train_acc[-1],
        "test_accuracy": test_acc[-1] if test_acc else None,
        "best_test_accuracy": max(test_acc) if test_acc else None,
        "steps_to_target_loss": _first(losses, lambda v: config.target_loss is not None and v <= config.target_loss),
        "steps_to_target_accuracy": _first(
            train_acc, lambda v: config.target_accuracy is not None and v >= config.target_accuracy
        ),
        "losses": losses,
        "series": record.host,
        "sharpness_final": measured[-1] if measured else None,
        "stability_edge": curvature.edge if curvature is not None else None,
        # the steps whose sharpness missed the relative tolerance within SHARPNESS_MAX_ITER products
        "sharpness_unconverged": list(curvature.unconverged) if curvature is not None else [],
        "spectrum": spectra.artifact() if spectra is not None else None,
    }


@dataclass(frozen=True)
class Variant:
    """One of several trainings compared from the same initial weights."""

    label: str
    loss_fn: LossFn
    grad_transform: Callable[[list[Tensor]], list[Tensor]] | None = None
    per_step: dict[str, Callable[[], Tensor]] | None = None
    #: the loss whose Hessian the sharpness is, when ``loss_fn``'s backward is not its derivative
    sharpness_loss: LossFn | None = None


class _Sharpness:
    """The largest algebraic eigenvalue of the full-batch loss's Hessian, by Lanczos to the
    relative tolerance :data:`lab4.maths.curvature.SHARPNESS_TOL`: the first from a seeded random
    vector, each next warm-started from the previous top eigenvector (a converged one),
    which halves the products (3-4 instead of 6-7 on the default net).  A measurement costs
    a gradient with its graph and those Hessian-vector products (each about 1.5 training
    steps); ``unconverged`` lists the steps where the tolerance was not met."""

    def __init__(self, weights: list[Tensor], loss_fn: LossFn, x: Tensor, y: Tensor, config: TrainConfig):
        from lab4.maths.optim_theory import stability_edge

        self.weights, self.loss_fn, self.x, self.y, self.config = weights, loss_fn, x, y, config
        self.unconverged: list[int] = []
        self.last: Any = None
        self.edge = stability_edge(config.optimizer, config.lr, config.beta if config.optimizer != "gd" else 0.0)

    def measure(self, step: int) -> float:
        from lab4.maths.curvature import top_eigenvalue

        start = self.last.vectors[:, 0] if self.last is not None and self.last.converged else None
        try:
            self.last = top_eigenvalue(
                lambda p: self.loss_fn(forward(p, self.x, self.config.activation), self.y),
                [w.detach() for w in self.weights],
                SHARPNESS_MAX_ITER,
                start,
            )
        except FloatingPointError:  # weights that overflowed: no curvature (the loss check says diverged)
            self.last = None
            return math.nan
        if not self.last.converged:
            self.unconverged.append(step)
        return self.last.value


class _Spectra:
    """The whole spectrum of the full-batch loss's Hessian at the steps of ``config.spectrum_at``
    (:func:`lab4.maths.curvature.loss_spectrum`, seeded from the run's seed), gathered into
    the artifact ``spectrum``: the run's stability edge and one entry per measured step."""

    def __init__(self, weights: list[Tensor], loss_fn: LossFn, x: Tensor, y: Tensor, config: TrainConfig, ctx: Any):
        from lab4.maths.optim_theory import stability_edge

        self.weights, self.loss_fn, self.x, self.y, self.config, self.ctx = weights, loss_fn, x, y, config, ctx
        self.steps = frozenset(config.spectrum_at)
        self.edge = stability_edge(config.optimizer, config.lr, config.beta if config.optimizer != "gd" else 0.0)
        self.measured: list[dict[str, Any]] = []

    def measure(self, step: int) -> Artifact:
        from lab4.maths.curvature import loss_spectrum

        try:
            found = loss_spectrum(
                lambda p: self.loss_fn(forward(p, self.x, self.config.activation), self.y),
                [w.detach() for w in self.weights],
                seed=self.ctx.seed + SPECTRUM_SEED_OFFSET,
                check=self.ctx.check,
            )
        except FloatingPointError:  # the weights themselves overflowed (the loss at the step before was finite)
            raise Diverged(
                step, f"the loss Hessian is no longer finite; lr = {self.config.lr:g} is too large (try a smaller lr)"
            ) from None
        self.measured.append({"step": step, **found.as_dict()})
        return Artifact("spectrum", self.artifact())

    def artifact(self) -> dict[str, Any]:
        c = self.config
        return {
            "edge": self.edge,
            "optimizer": c.optimizer,
            "lr": c.lr,
            "beta": c.beta if c.optimizer != "gd" else 0.0,
            "steps": [dict(m) for m in self.measured],
        }


def train_variants(
    split: Any, initial: list[Tensor], config: TrainConfig, ctx: Any, variants: Sequence[Variant]
) -> Iterator[Any]:
    """Train each variant from a copy of ``initial``; the first writes the plain series
    names (``loss``...), the others ``loss [label]``.  Returns [(summary, weights)]."""
    yield Artifact("variants", [{"label": v.label, "suffix": _suffix(i, v)} for i, v in enumerate(variants)])
    results = []
    for i, variant in enumerate(variants):
        weights = [w.clone() for w in initial]
        summary = yield from train(
            split,
            weights,
            variant.loss_fn,
            config,
            ctx,
            suffix=_suffix(i, variant),
            grad_transform=variant.grad_transform,
            total=config.steps * len(variants),
            offset=config.steps * i,
            per_step=variant.per_step,
            sharpness=i == 0,
            sharpness_loss=variant.sharpness_loss,
        )
        results.append((summary, weights))
    return results


def _suffix(i: int, variant: Variant) -> str:
    return "" if i == 0 else f" [{variant.label}]"


def _first(values: list[float], test: Callable[[float], bool]) -> int | None:
    return next((i for i, v in enumerate(values) if test(v)), None)


def decision_boundary(
    split: Any, weights: list[Tensor], activation: str, size: int = 60, points: int = 600
) -> Artifact:
    """Predicted classes on a grid over the (standardised) 2-D inputs, with the train points."""
    x, y = split.x_train, split.y_train
    with torch.no_grad():
        lo = x.min(0).values - 0.5
        hi = x.max(0).values + 0.5
        xs = torch.linspace(float(lo[0]), float(hi[0]), size, dtype=x.dtype, device=x.device)
        ys = torch.linspace(float(lo[1]), float(hi[1]), size, dtype=x.dtype, device=x.device)
        gx, gy = torch.meshgrid(xs, ys, indexing="xy")
        grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
        classes = forward(weights, grid, activation).argmax(1).reshape(size, size)
    stride = max(1, x.shape[0] // points)
    return Artifact(
        "decision_boundary",
        {
            "x": xs.tolist(),
            "y": ys.tolist(),
            "classes": classes.tolist(),
            "points": {"x": x[::stride, 0].tolist(), "y": x[::stride, 1].tolist(), "label": y[::stride].tolist()},
            "class_names": list(split.classes),
        },
    )
