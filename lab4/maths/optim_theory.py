"""Convergence theory of gd, heavy-ball momentum and Nesterov on a quadratic with Hessian
spectrum [mu, L] (kappa = L / mu).  Pure Python and numpy: no torch.

Along an eigenvector with eigenvalue lam, the error e_t of each method obeys a linear
recurrence; its rate is the largest |root| of the characteristic polynomial, and the rate of
the method is the largest over the spectrum (its spectral radius):

    gd        e_t = (1 - lr lam) e_(t-1)                       |1 - lr lam|
    momentum  z^2 - (1 + beta - lr lam) z + beta = 0           (the handout's heavy ball)
    nesterov  z^2 - (1 + beta)(1 - lr lam) z + beta (1 - lr lam) = 0

Optimal parameters (the rate they reach):

    gd        lr = 2 / (L + mu)                                 (kappa - 1) / (kappa + 1)
    momentum  lr = (2 / (sqrt L + sqrt mu))^2,
              beta = ((sqrt kappa - 1) / (sqrt kappa + 1))^2   (sqrt kappa - 1) / (sqrt kappa + 1)
                                                                (error ~ t rho^t: a double root)
    nesterov  lr = 4 / (3 L + mu),                              1 - 2 / sqrt(3 kappa + 1)
              beta = (sqrt(3 kappa + 1) - 2) / (sqrt(3 kappa + 1) + 2)   (Lessard, Recht, Packard 2016)

Stability: gd needs lr < 2 / L; heavy ball lr < 2 (1 + beta) / L; Nesterov
lr < 2 (1 + beta) / ((1 + 2 beta) L).  Read the other way, the sharpness a run can bear is
2 / lr, 2 (1 + beta) / lr, 2 (1 + beta) / ((1 + 2 beta) lr): the edge of stability.
"""

from __future__ import annotations

import math
from typing import Sequence

__all__ = ["optimal", "rate", "root_modulus", "stability_edge", "phase", "fit_rate", "steps_to_grow"]


def optimal(optimizer: str, big: float, small: float) -> tuple[float, float]:
    """The (lr, beta) of fastest convergence on the spectrum [small, big] (beta 0 for gd)."""
    kappa = big / small
    if optimizer == "gd":
        return 2 / (big + small), 0.0
    if optimizer == "momentum":
        r = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
        return (2 / (math.sqrt(big) + math.sqrt(small))) ** 2, r * r
    if optimizer == "nesterov":
        q = math.sqrt(3 * kappa + 1)
        return 4 / (3 * big + small), (q - 2) / (q + 2)
    raise ValueError(f"unknown optimizer {optimizer!r}")


def root_modulus(optimizer: str, lr: float, beta: float, lam: float) -> float:
    """The largest |root| of the recurrence of ``optimizer`` along eigenvalue ``lam``."""
    if optimizer == "gd":
        return abs(1 - lr * lam)
    if optimizer == "momentum":
        a1, a0 = -(1 + beta - lr * lam), beta
    else:
        a1, a0 = -(1 + beta) * (1 - lr * lam), beta * (1 - lr * lam)
    disc = complex(a1 * a1 - 4 * a0) ** 0.5
    return max(abs((-a1 + disc) / 2), abs((-a1 - disc) / 2))


def rate(optimizer: str, lr: float, beta: float, eigenvalues: Sequence[float]) -> float:
    """The spectral radius of the iteration: its rate per step on the quadratic model."""
    return max(root_modulus(optimizer, lr, beta, lam) for lam in eigenvalues)


def stability_edge(optimizer: str, lr: float, beta: float) -> float:
    """The largest curvature (sharpness) a run with (lr, beta) can bear."""
    if optimizer == "gd":
        return 2 / lr
    if optimizer == "momentum":
        return 2 * (1 + beta) / lr
    return 2 * (1 + beta) / ((1 + 2 * beta) * lr)


def phase(
    optimizer: str, eigenvalues: Sequence[float], lrs: Sequence[float], betas: Sequence[float]
) -> list[list[float]]:
    """The rate over the grid: one row per beta, one column per lr (numpy, vectorised)."""
    import numpy as np

    lam = np.asarray(eigenvalues, dtype=float)[None, None, :]
    lr = np.asarray(lrs, dtype=float)[None, :, None]
    beta = np.asarray(betas, dtype=float)[:, None, None]
    if optimizer == "momentum":
        a1, a0 = -(1 + beta - lr * lam), beta + 0 * lam
    else:
        a1, a0 = -(1 + beta) * (1 - lr * lam), beta * (1 - lr * lam)
    disc = np.sqrt((a1 * a1 - 4 * a0).astype(complex))
    modulus = np.maximum(np.abs((-a1 + disc) / 2), np.abs((-a1 - disc) / 2))
    return modulus.max(-1).tolist()


def fit_rate(values: Sequence[float], floor: float) -> float | None:
    """The rate of a geometric decay, fitted on its linear stretch in log scale: from where
    the values fell below a tenth of the first to where they reach 100 x ``floor`` (the
    precision of the dtype); the later half of that stretch, so the start-up transient does
    not count.  None when the stretch is too short (no decay, or a plateau: a local minimum)."""
    first = values[0] if values else 0.0
    if not first > 0:
        return None
    stretch = [(t, v) for t, v in enumerate(values) if 0 < v <= first / 10 and v >= 100 * floor and math.isfinite(v)]
    if len(stretch) < 8:
        return None
    stretch = stretch[len(stretch) // 2 :]
    n = len(stretch)
    mt = sum(t for t, _ in stretch) / n
    ml = sum(math.log(v) for _, v in stretch) / n
    sxx = sum((t - mt) ** 2 for t, _ in stretch)
    if sxx == 0:
        return None
    slope = sum((t - mt) * (math.log(v) - ml) for t, v in stretch) / sxx
    return math.exp(slope)


def steps_to_grow(rho: float, factor: float) -> float:
    """Steps for a quantity multiplied by rho^2 a step (a loss) to grow by ``factor``."""
    return math.log(factor) / (2 * math.log(rho)) if rho > 1 else math.inf
