"""``generate_function(dim, complexity, seed)``: test functions with a known minimum.

The handout names ``generate_function`` without giving it; this is ours.  Every level has
its global minimum f* = 0 at a seeded centre c, so the distance to the optimum is always
measurable.  With d = x - c, the levels add, in order (each includes the ones before,
level 2 replacing level 1's unit weights)::

    1  isotropic quadratic   sum_i d_i^2
    2  ill-conditioning      sum_i a_i d_i^2,     a_i log-spaced in [1, KAPPA], shuffled
    3  coupling              + GAMMA * sum_i (d_i - d_{i+1})^2
    4  ripples               + R * sum_i (1 - cos(W d_i))      (local minima away from c)
    5  curved valley         + B * sum_k (d_{2k+1} - d_{2k}^2)^2   (Rosenbrock-like)

Every added term is >= 0 and zero at d = 0, and levels 2+ keep a positive definite
quadratic part, so c stays the unique global minimiser with f* = 0.  The start point is
x0 = c + u with u uniform in [-START, START]^dim, seeded too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing the level texts (for help screens) stays torch-free
    import torch

__all__ = ["Landscape", "generate_function", "LEVELS", "KAPPA", "GAMMA", "R", "W", "B", "START"]

KAPPA = 50.0
GAMMA = 5.0
R = 2.0
W = 3.0
B = 1.0
START = 2.0

LEVELS = {
    1: "isotropic quadratic: f = sum_i (x_i - c_i)^2",
    2: f"ill-conditioned: f = sum_i a_i (x_i - c_i)^2, a_i log-spaced in [1, {KAPPA:g}]",
    3: f"coupled: level 2 + {GAMMA:g} * sum_i (d_i - d_(i+1))^2, d = x - c",
    4: f"rippled: level 3 + {R:g} * sum_i (1 - cos({W:g} d_i)): local minima",
    5: f"curved valley: level 4 + {B:g} * sum_k (d_(2k+1) - d_(2k)^2)^2",
}


@dataclass
class Landscape:
    dim: int
    complexity: int
    seed: int
    center: torch.Tensor
    start: torch.Tensor
    weights: torch.Tensor | None

    @property
    def formula(self) -> str:
        return LEVELS[self.complexity]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """f at x of shape (..., dim); returns shape (...)."""
        d = x - self.center
        if self.weights is None:
            value = (d * d).sum(-1)
        else:
            value = (self.weights * d * d).sum(-1)
        if self.complexity >= 3 and self.dim > 1:
            diff = d[..., :-1] - d[..., 1:]
            value = value + GAMMA * (diff * diff).sum(-1)
        if self.complexity >= 4:
            value = value + R * (1 - (W * d).cos()).sum(-1)
        if self.complexity >= 5 and self.dim > 1:
            m = self.dim // 2
            valley = d[..., 1 : 2 * m : 2] - d[..., 0 : 2 * m : 2] ** 2
            value = value + B * (valley * valley).sum(-1)
        return value

    def to(self, device: torch.device | str, dtype: torch.dtype) -> "Landscape":
        move = lambda t: None if t is None else t.to(device=device, dtype=dtype)  # noqa: E731
        return Landscape(self.dim, self.complexity, self.seed, move(self.center), move(self.start), move(self.weights))


def generate_function(dim: int, complexity: int = 1, seed: int = 0) -> Landscape:
    """A seeded landscape of ``dim`` variables at difficulty ``complexity`` (1-5).

    Generated on the CPU in float64 from its own generator, so the same (dim, complexity,
    seed) gives the same function on every device and dtype; move it with ``.to``.
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if complexity not in LEVELS:
        raise ValueError(f"complexity must be 1-{len(LEVELS)}, got {complexity}")
    import torch

    g = torch.Generator().manual_seed(seed % (2**63))
    center = torch.rand(dim, generator=g, dtype=torch.float64) * 4 - 2
    start = center + (torch.rand(dim, generator=g, dtype=torch.float64) * 2 - 1) * START
    weights = None
    if complexity >= 2:
        exponents = torch.linspace(0, 1, dim, dtype=torch.float64) if dim > 1 else torch.zeros(1, dtype=torch.float64)
        weights = KAPPA**exponents
        weights = weights[torch.randperm(dim, generator=g)]
    return Landscape(dim, complexity, seed, center, start, weights)
