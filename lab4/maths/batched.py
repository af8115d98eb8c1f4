"""Many runs of one function as ONE computation: a batch dimension in front of the point.

A grid of (lr, beta), or of seeds, for the same function and optimizer is B runs whose
points, velocities and gradients all have the same shape: stacked into (B, dim) tensors,
every step of all B runs is one forward pass, one backward pass and one update, with the
per-run lr and beta as (B, 1) columns::

    gd        w <- w - lr * g
    momentum  v <- beta * v - lr * g;   w <- w + v
    nesterov  the same, g taken at the look-ahead w + beta * v

These are the handout's updates (:mod:`lab4.maths.optim`) written with tensors of learning
rates in place of numbers.  The runs do not interact: f of a (B, dim) batch is B values, the
gradient of their sum with respect to the batch is each run's own gradient (the backward of a
sum hands 1 to every row), so row b computes exactly what run b computes alone: in float64
the recorded values are the same numbers, bit for bit, for functions built from arithmetic and
powers (the tests check it).  Transcendental functions (cos, exp...) may differ in the last
bit: torch evaluates a long tensor with vectorised (SIMD) kernels and a 2-element one with the
scalar libm tail, and the two round differently (within 1 ulp).

A row that diverges keeps computing (inf, nan) without touching the others; where it
diverged is read from its values afterwards, as the sequential run's recorder would.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    import torch

__all__ = ["descend", "divergence_step", "fit_rates"]


def descend(
    f: Callable[[Any], Any],
    start: "torch.Tensor",
    optimizer: str,
    lrs: Sequence[float],
    betas: Sequence[float],
    steps: int,
    observe: Callable[[Any, Any], dict[str, Any]],
    keep_path: bool = False,
    cancelled: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """``len(lrs)`` runs of ``optimizer`` on f from ``start`` ((dim,) shared, or (B, dim)),
    ``steps`` updates each, as one computation.

    ``observe(w, f(w))`` gives the values recorded at each step (w of shape (B, dim), each value
    (B,)).  Returns ``{"series": {name: (B, steps + 1)}, "path": (B, steps + 1, dim) or None,
    "w": (B, dim)}`` (the last points).  ``cancelled()`` is asked every 64 steps; when it says
    so, the computation stops and returns what it has (later columns NaN).
    """
    import torch

    if optimizer not in ("gd", "momentum", "nesterov"):
        raise ValueError(f"unknown optimizer {optimizer!r}")
    count = len(lrs)
    if len(betas) != count:
        raise ValueError(f"{count} learning rates but {len(betas)} betas")
    w = (start if start.dim() == 2 else start[None]).expand(count, -1).clone()
    v = torch.zeros_like(w)
    lr = torch.tensor([float(x) for x in lrs], dtype=w.dtype).to(w.device)[:, None]
    beta = torch.tensor([float(x) for x in betas], dtype=w.dtype).to(w.device)[:, None]
    series: dict[str, Any] = {}
    path = torch.full((count, steps + 1, w.shape[1]), math.nan, dtype=w.dtype, device=w.device) if keep_path else None
    for step in range(steps + 1):
        point = (w + beta * v if optimizer == "nesterov" else w).detach().requires_grad_(True)
        value = f(point)
        with torch.no_grad():
            seen = observe(w, f(w) if optimizer == "nesterov" else value.detach())
            for name, x in seen.items():
                if name not in series:
                    series[name] = torch.full((count, steps + 1), math.nan, dtype=w.dtype, device=w.device)
                series[name][:, step] = x
            if path is not None:
                path[:, step] = w
        if step == steps or (cancelled is not None and step % 64 == 63 and cancelled()):
            break
        (grad,) = torch.autograd.grad(value.sum(), point)
        with torch.no_grad():
            if optimizer == "gd":
                w.sub_(lr * grad)
            else:
                v.mul_(beta).sub_(lr * grad)
                w.add_(v)
    return {"series": series, "path": path, "w": w}


def _host(values: Any) -> Any:
    """A tensor (or array, or list) as a float64 numpy array on the host."""
    import numpy as np

    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def divergence_step(values: Any, growth: float | None) -> Any:
    """Per row of ``values`` (B, T): the first step whose value is not finite or, with
    ``growth``, above growth x |the first value| (a first value of 0 sets no bound); T when
    none: where the sequential run's recorder stops it.  (numpy on the host: these small
    reductions cost microseconds there, and milliseconds as torch's threaded kernels on a busy
    machine.)"""
    import numpy as np

    v = _host(values)
    with np.errstate(invalid="ignore", over="ignore"):
        bad = ~np.isfinite(v)
        if growth is not None:
            limit = growth * np.abs(v[:, :1])
            bad |= (np.abs(v) > limit) & (limit > 0)
    steps = v.shape[1]
    return np.where(bad.any(1), bad.argmax(1), steps)


def fit_rates(distance: Any, ends: Any, floor: float) -> Any:
    """:func:`lab4.maths.optim_theory.fit_rate` for every row at once: the slope of log
    distance, by least squares, over the later half of the stretch from where the distance fell
    below a tenth of its first value to where it reaches 100 x ``floor`` (only the steps before
    the row's ``ends``).  NaN where the stretch has fewer than 8 steps.  (numpy, as above.)"""
    import numpy as np

    d = _host(distance)
    ends = _host(ends)
    steps = d.shape[1]
    t = np.broadcast_to(np.arange(steps, dtype=np.float64), d.shape)
    first = d[:, :1]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        inside = np.isfinite(d) & (d > 0) & (d <= first / 10) & (d >= 100 * floor) & (t < ends[:, None]) & (first > 0)
        count = inside.sum(1, keepdims=True)
        later = inside & (np.cumsum(inside, 1) > count // 2)  # fit_rate's stretch[len // 2:]
        n = np.maximum(later.sum(1, keepdims=True), 1)
        logs = np.where(later, np.log(np.where(later, d, 1.0)), 0.0)
        mt = (t * later).sum(1, keepdims=True) / n
        ml = logs.sum(1, keepdims=True) / n
        dt = np.where(later, t - mt, 0.0)
        sxx = (dt * dt).sum(1)
        slope = (dt * (logs - ml)).sum(1) / np.where(sxx > 0, sxx, 1.0)
        rates = np.exp(slope)
    return np.where((count[:, 0] >= 8) & (sxx > 0), rates, np.nan)
