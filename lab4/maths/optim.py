"""Gradient descent, momentum and Nesterov, as the handout writes them.

Plain gradient descent::

    w_t = w_{t-1} - lr * grad L(w_{t-1})

Momentum (v_0 = 0)::

    v_t = beta * v_{t-1} - lr * grad L(w_{t-1})
    w_t = w_{t-1} + v_t

Nesterov (the gradient at the look-ahead point)::

    v_t = beta * v_{t-1} - lr * grad L(w_{t-1} + beta * v_{t-1})
    w_t = w_{t-1} + v_t

With beta = 0 both reduce to plain gradient descent exactly: ``0 * v - lr * g`` is
``-(lr * g)`` bit for bit, and ``w + (-(lr g))`` is ``w - lr g``.

torch.optim.SGD writes the same methods with a buffer b = -v / lr: momentum
``b_t = beta b_{t-1} + g_t; w_t = w_{t-1} - lr b_t`` is identical; its Nesterov variant
keeps the look-ahead point p_t = w_t + beta v_t as the parameter
(``p_t = p_{t-1} - lr (g_t + beta b_t)`` with g_t taken at p_{t-1}).  The tests check both
mappings.

``OPTIMIZERS`` here is the one list of their names (the task specs offer it as choices).
These functions act on lists of tensors (one per parameter) so the same code serves a
single vector (``minimize``) and a network's weights (``mlp``).  They update in place with
``torch.no_grad`` semantics: callers pass detached tensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # the update rules only call tensor methods: importing this module stays torch-free
    import torch

__all__ = ["OPTIMIZERS", "lookahead", "gd_step", "momentum_step", "nesterov_step", "apply_step"]

OPTIMIZERS = ("gd", "momentum", "nesterov")

Tensors = Sequence["torch.Tensor"]


def lookahead(optimizer: str, weights: Tensors, velocity: Tensors, beta: float) -> list["torch.Tensor"]:
    """Where the gradient is taken: w for gd and momentum, w + beta v for Nesterov."""
    if optimizer == "nesterov":
        return [w + beta * v for w, v in zip(weights, velocity)]
    return list(weights)


def gd_step(weights: Tensors, grads: Tensors, lr: float) -> None:
    """w <- w - lr g."""
    for w, g in zip(weights, grads):
        w.sub_(lr * g)


def momentum_step(weights: Tensors, velocity: Tensors, grads: Tensors, lr: float, beta: float) -> None:
    """v <- beta v - lr g;  w <- w + v.  (Nesterov uses the same update with g at the look-ahead.)"""
    for w, v, g in zip(weights, velocity, grads):
        v.mul_(beta).sub_(lr * g)
        w.add_(v)


nesterov_step = momentum_step


def apply_step(optimizer: str, weights: Tensors, velocity: Tensors, grads: Tensors, lr: float, beta: float) -> None:
    """One update of ``optimizer`` given the gradient taken at :func:`lookahead`."""
    if optimizer == "gd":
        gd_step(weights, grads, lr)
    elif optimizer in ("momentum", "nesterov"):
        momentum_step(weights, velocity, grads, lr, beta)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)}")
