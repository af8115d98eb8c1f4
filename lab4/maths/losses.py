"""The handout's custom losses as ``torch.autograd.Function`` with explicit backward passes.

Cross-entropy over N samples and K classes, logits z, labels t, p = softmax(z)::

    L = -(1/N) sum_n log p[n, t_n]
    dL/dz = (p - onehot(t)) / N              (every entry lies in [-1/N, 1/N])

The handout's listing computes ``-log(p + 1e-9)``; it also forgets to return the loss (an
indentation slip across a page break) - we return it.  ``log(p + 1e-9)`` is biased and
caps the loss at -log(1e-9) = 20.7 for badly wrong predictions, and softmax followed by log
gives inf for a logit gap of ~200 in float32 where ``log_softmax`` gives the true 200.  The
default here is the stable ``log_softmax``; ``variant="handout"`` keeps the original for
comparison.  Both share the same explicit backward.

Clipping: the logit gradient, scaled by ``grad_output``, is clamped to [-c, c]; the
number of clipped entries is added to a :class:`ClipStats` on the device (no sync).
Since |dL/dz| <= 1/N, c = 1 clips nothing unless the loss is scaled up.

Second derivatives: both Functions save their input logits and, when a backward pass is
itself differentiated (``create_graph=True``: Hessian-vector products, the sharpness of
the training loss), recompute softmax from them with differentiable operations, so double
backward is exact (``gradgradcheck`` passes).  The handout's variant keeps the handout's
backward, (p - onehot)/N, which is not the derivative of its own forward log(p + 1e-9)
where p < ~1e-9: ``gradcheck`` shows it on confident-wrong logits.

Scaled MSE with scale S over all N*K entries, y one-hot, y_hat = softmax(z) (or z)::

    L = S * (1/(N K)) sum (y_hat - y)^2
    dL/dy_hat = 2 S (y_hat - y) / (N K)
    dL/dz = y_hat * (g - sum_k g_k y_hat_k)     with g = dL/dy_hat   (softmax Jacobian)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "ClipStats",
    "CustomCrossEntropyLoss",
    "ScaledMSELoss",
    "custom_cross_entropy",
    "plain_cross_entropy",
    "scaled_mse",
    "clip_",
]


@dataclass
class ClipStats:
    """Counts of clipped gradient entries, kept as device tensors until read.

    ``clipped``/``total`` cover the whole run; :meth:`step_fraction` the entries seen since
    its previous call (one training step); ``largest`` is the largest |entry| before
    clipping.
    """

    clipped: Any = 0
    total: int = 0
    largest: Any = 0.0
    step_clipped: Any = 0
    step_total: int = 0

    def add(self, grad: torch.Tensor, bound: float) -> torch.Tensor:
        """Clamp ``grad`` to [-bound, bound], count what changed; return the clamped tensor.

        A backward pass that is itself differentiated (a Hessian-vector product measuring
        the sharpness: its gradients require grad) is not a training step: it clamps
        without counting."""
        if grad.requires_grad:
            return grad.clamp(-bound, bound)
        magnitude = grad.abs()
        over = (magnitude > bound).sum()
        self.clipped = self.clipped + over
        self.step_clipped = self.step_clipped + over
        self.total += grad.numel()
        self.step_total += grad.numel()
        peak = magnitude.max()
        self.largest = peak if isinstance(self.largest, float) else torch.maximum(self.largest, peak)
        return grad.clamp(-bound, bound)

    def step_fraction(self) -> torch.Tensor | float:
        """Fraction of entries clipped since the last call (a device tensor; no sync)."""
        value = self.step_clipped / self.step_total if self.step_total else 0.0
        self.step_clipped, self.step_total = 0, 0
        return value

    @property
    def fraction(self) -> float:
        return float(self.clipped) / self.total if self.total else 0.0


def _onehot_like(values: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """One-hot rows of ``target`` in the shape and dtype of ``values`` (N, K).

    A scatter into zeros: F.one_hot first reduces ``target`` to check its range and then
    converts from int64, which made it the most expensive kernel of a small loss."""
    return torch.zeros_like(values).scatter_(1, target.unsqueeze(1), 1.0)


def _nll_from_logits(logits: torch.Tensor, target: torch.Tensor, variant: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean negative log-likelihood and what the backward needs: the log-probabilities
    (stable variant) or the probabilities (handout variant)."""
    if variant == "handout":
        probs = torch.softmax(logits, dim=1)
        return -torch.log(probs.gather(1, target.unsqueeze(1)) + 1e-9).mean(), probs
    log_probs = torch.log_softmax(logits, dim=1)
    return F.nll_loss(log_probs, target), log_probs


class CustomCrossEntropyLoss(torch.autograd.Function):
    """Mean cross-entropy of ``logits`` (N, K) against class labels ``target`` (N,).

    ``clip``: bound c of the logit gradient (None: no clipping); ``stats``: a
    :class:`ClipStats` that counts clipped entries; ``variant``: "stable" or "handout".
    """

    @staticmethod
    def forward(
        ctx: Any,
        logits: torch.Tensor,
        target: torch.Tensor,
        clip: float | None = None,
        stats: ClipStats | None = None,
        variant: str = "stable",
    ) -> torch.Tensor:
        loss, saved = _nll_from_logits(logits, target, variant)
        ctx.save_for_backward(logits, saved, target)
        ctx.clip = clip
        ctx.stats = stats
        ctx.variant = variant
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        logits, saved, target = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: the softmax as a function of the logits
            probs = torch.softmax(logits, dim=1)
        else:
            probs = saved.exp() if ctx.variant == "stable" else saved
        n = target.shape[0]
        scale = grad_output / n
        grad = probs * scale  # (p - onehot) * scale, the onehot subtracted in place:
        grad.scatter_add_(1, target.unsqueeze(1), scale.neg().expand(n, 1))
        if ctx.clip is not None:
            if ctx.stats is not None:
                grad = ctx.stats.add(grad, ctx.clip)
            else:
                grad = grad.clamp(-ctx.clip, ctx.clip)
        return grad, None, None, None, None


def plain_cross_entropy(logits: torch.Tensor, target: torch.Tensor, variant: str = "stable") -> torch.Tensor:
    """The value :class:`CustomCrossEntropyLoss` computes, in plain differentiable operations:
    its autograd derivatives are the loss's own (whatever the Function's backward clips), so
    its Hessian is the loss's Hessian (the sharpness of a clipped run)."""
    return _nll_from_logits(logits, target, variant)[0]


def custom_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    clip: float | None = None,
    stats: ClipStats | None = None,
    variant: str = "stable",
) -> torch.Tensor:
    return CustomCrossEntropyLoss.apply(logits, target, clip, stats, variant)


class ScaledMSELoss(torch.autograd.Function):
    """S * mean((y_hat - onehot(target))^2) over all N*K entries; y_hat = softmax(z) or z."""

    @staticmethod
    def forward(
        ctx: Any, logits: torch.Tensor, target: torch.Tensor, scale: float = 1.0, output: str = "softmax"
    ) -> torch.Tensor:
        y_hat = torch.softmax(logits, dim=1) if output == "softmax" else logits
        diff = y_hat - _onehot_like(logits, target)
        ctx.save_for_backward(logits, y_hat, diff, target)
        ctx.scale = scale
        ctx.output = output
        flat = diff.reshape(-1)
        return torch.dot(flat, flat) * (scale / flat.numel())

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        logits, y_hat, diff, target = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: y_hat as a function of the logits
            y_hat = torch.softmax(logits, dim=1) if ctx.output == "softmax" else logits
            diff = y_hat - _onehot_like(y_hat, target)
        g = diff * (grad_output * (2.0 * ctx.scale / diff.numel()))
        if ctx.output == "softmax":
            g = y_hat * (g - torch.linalg.vecdot(g, y_hat).unsqueeze(1))
        return g, None, None, None


def scaled_mse(logits: torch.Tensor, target: torch.Tensor, scale: float = 1.0, output: str = "softmax") -> torch.Tensor:
    return ScaledMSELoss.apply(logits, target, scale, output)


def clip_(grads: list[torch.Tensor], bound: float, stats: ClipStats) -> list[torch.Tensor]:
    """Clip parameter gradients elementwise to [-bound, bound], counting clipped entries."""
    return [stats.add(g, bound) for g in grads]
