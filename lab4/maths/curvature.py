"""The sharpness of a training loss: the largest eigenvalue of its Hessian, by power iteration
on Hessian-vector products (never forming the Hessian).

    H v = d/dw (grad L(w) . v)        (double backward: ``create_graph=True``)
    v <- H v / ||H v||;  lambda = v . H v

Warm-started from the previous eigenvector, a few iterations per measurement follow the
top eigenvalue as the weights move.  Full-batch gradient descent's sharpness rises to about
2 / lr and hovers there (Cohen et al. 2021, the edge of stability); momentum's edge is
2 (1 + beta) / lr (:func:`lab4.maths.optim_theory.stability_edge`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

__all__ = ["hessian_vector_product", "top_eigenvalue"]

Tensor = torch.Tensor


def hessian_vector_product(loss: Callable[[Sequence[Tensor]], Tensor], params: Sequence[Tensor],
                           vector: Sequence[Tensor]) -> list[Tensor]:
    point = [p.detach().requires_grad_(True) for p in params]
    grads = torch.autograd.grad(loss(point), point, create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(grads, vector))
    return [h.detach() for h in torch.autograd.grad(dot, point)]


def top_eigenvalue(loss: Callable[[Sequence[Tensor]], Tensor], params: Sequence[Tensor], iterations: int,
                   start: Sequence[Tensor] | None = None, seed: int = 0) -> tuple[float, list[Tensor]]:
    """(the largest-magnitude eigenvalue of the Hessian of ``loss`` at ``params``, its vector)."""
    if start is None:
        g = torch.Generator().manual_seed(seed)
        start = [torch.randn(p.shape, generator=g, dtype=torch.float64).to(p) for p in params]
    norm = torch.sqrt(sum((v * v).sum() for v in start))
    v = [x / norm for x in start]
    value = 0.0
    for _ in range(iterations):
        hv = hessian_vector_product(loss, params, v)
        value = float(sum((a * b).sum() for a, b in zip(v, hv)))
        norm = torch.sqrt(sum((x * x).sum() for x in hv))
        if not torch.isfinite(norm) or float(norm) == 0.0:
            break
        v = [x / norm for x in hv]
    return value, v
