"""The sharpness of a training loss: the largest *algebraic* eigenvalue of its Hessian (signed),
by Lanczos on Hessian-vector products (never forming the Hessian), to a relative tolerance.

    H v = d/dw (grad L(w) . v)        (double backward: ``create_graph=True``)

See :mod:`lab4.maths.spectrum` for the method and its convergence test (residual
||H y - theta y|| <= tol |theta|, tol = 1e-3 by default).  Power iteration, used here before,
finds the largest-*magnitude* eigenvalue (a negative one at an indefinite Hessian) and with a
few warm iterations no eigenvalue at all when the top two are close.  Full-batch gradient
descent's sharpness rises to about 2 / lr and hovers there (Cohen et al. 2021, the edge of
stability); momentum's edge is 2 (1 + beta) / lr (:func:`lab4.maths.optim_theory.stability_edge`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from lab4.maths.spectrum import DEFAULT_MAX_ITER, Eigenpairs, top_eigenvalues
from lab4.maths.spectrum import hessian_vector_product as _flat_hvp

__all__ = ["hessian_vector_product", "top_eigenvalue", "SHARPNESS_TOL"]

Tensor = torch.Tensor

#: relative tolerance of the sharpness (residual over |eigenvalue|)
SHARPNESS_TOL = 1e-3


def hessian_vector_product(loss: Callable[[Sequence[Tensor]], Tensor], params: Sequence[Tensor],
                           vector: Sequence[Tensor]) -> list[Tensor]:
    """H v for one ``vector`` given as tensors shaped like ``params``."""
    hvp = _flat_hvp(loss, params)
    return hvp.unflatten(hvp(hvp.flatten(vector)))


def top_eigenvalue(loss: Callable[[Sequence[Tensor]], Tensor], params: Sequence[Tensor],
                   max_iter: int = DEFAULT_MAX_ITER, start: Tensor | None = None, seed: int = 0,
                   tol: float = SHARPNESS_TOL) -> Eigenpairs:
    """The largest algebraic eigenvalue of the Hessian of ``loss`` at ``params`` (``.value``),
    its flat Ritz vector (``.vectors[:, 0]``), ``.converged`` (residual <= tol |value| within
    ``max_iter`` products) and ``.iterations``.  The start vector is ``start`` (flat) or a
    normal draw from ``seed``."""
    hvp = _flat_hvp(loss, params)
    return top_eigenvalues(hvp, hvp.n, 1, tol, max_iter, start=start, generator=torch.Generator().manual_seed(seed))
