"""``generate_function(dim, complexity, seed)``: test functions with a known minimum that get
harder level by level, and their curvature.

The handout names ``generate_function`` without giving it; this is ours.  Every level has
its global minimum f* = 0 at a seeded centre c (d = x - c), and the same largest curvature
L = 2 at c (the Hessian's largest eigenvalue), so one learning rate means the same at every
level, and at the default settings each level takes gradient descent longer than the one
before::

    1  isotropic       sum_i d_i^2                                      kappa 1
    2  ill-conditioned sum_i a_i d_i^2, a_i log-spaced in [1/K2, 1]     kappa K2 (dim >= 2)
    3  coupled chain   s [e3 sum_i d_i^2 + sum_i (d_i - d_(i+1))^2]     kappa 1 + (2 + 2 cos(pi/n)) / e3
    4  curved valley   the chain with e4 = e3 / 2, in bent coordinates  kappa 1 + (2 + 2 cos(pi/n)) / e4
                       d_(2k+1) -> d_(2k+1) - B d_(2k)^2: narrow and curved
    5  rippled valley  level 4 + R sum_i (1 - cos(W d_i)), rescaled     local minima: gd gets caught

(The design listed ripples before the valley; in that order the valley, whose local
minimum is unique, was not harder than the ripples that catch gd, so the valley comes
first and the ripples are laid on it.)

The Hessian at c is known in closed form at every level: 2I; diag(2 a); 2 s (e I + T), T the
chain's Laplacian with eigenvalues 2 - 2 cos(k pi / n), k = 0..n-1 (the bend's Jacobian at c
is the identity: level 4's Hessian at c is its chain's); at level 5 the ripples add R W^2 to
every eigenvalue before the rescale.  Level 5 is not convex: its L, mu and kappa are those
at c (local values; the ripples make kappa at c smaller, and still catch gd).

Dimension: kappa does not depend on dim at levels 1-2 (dim >= 2); the chain's kappa grows
with dim, from 1 + 2/eps at dim 2 to 1 + 4/eps; a start farther away (||d_0|| ~ sqrt(dim))
costs only a logarithm of steps.  The start is x0 = c + u, u uniform in [-START, START]^dim.

This module imports without torch (the spectrum and the level texts need none);
``generate_function`` imports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = [
    "Landscape",
    "OwnFunction",
    "own_function",
    "hessian_at",
    "generate_function",
    "spectrum",
    "curvature",
    "LEVELS",
    "LEVEL_FORMULAS",
    "K2",
    "EPS",
    "EPS_VALLEY",
    "R",
    "W",
    "B",
    "START",
]

K2 = 10.0  # level 2's condition number
EPS = 0.1  # level 3's anchor: the chain's kappa is 1 + (2 + 2 cos(pi/n)) / EPS
EPS_VALLEY = 0.05  # levels 4 and 5: a narrower chain (kappa about twice level 3's)
R = 1.0  # ripple height
W = 3.0  # ripple frequency: local minima 2 pi / W ~ 2.1 apart
B = 0.3  # level 5's bend
START = 2.0

LEVELS = {
    1: "isotropic quadratic: f = sum_i (x_i - c_i)^2",
    2: f"ill-conditioned: f = sum_i a_i d_i^2, a_i log-spaced in [1/{K2:g}, 1]",
    3: f"coupled chain: f = s [{EPS:g} sum_i d_i^2 + sum_i (d_i - d_(i+1))^2]",
    4: f"curved valley: the chain, e = {EPS_VALLEY:g}, of d_(2k+1) - {B:g} d_(2k)^2",
    5: f"rippled valley: level 4 + {R:g} sum_i (1 - cos({W:g} d_i)), rescaled",
}
#: each level's formula, curvature and how kappa depends on dim (help and README)
LEVEL_FORMULAS = {
    1: "H = 2 I: L = mu = 2, kappa = 1 at any dim",
    2: f"H = diag(2 a): L = 2, mu = {2 / K2:g}, kappa = {K2:g} (dim >= 2)",
    3: f"H = 2 s (e I + T), T the chain Laplacian (2 - 2cos(k pi/n)):\n"
    f"kappa = 1 + (2 + 2cos(pi/n))/e: {1 + 2 / EPS:g} at dim 2, -> {1 + 4 / EPS:g}",
    4: f"bent coordinates (Jacobian I at c): kappa {1 + 2 / EPS_VALLEY:g} at dim 2,"
    f" -> {1 + 4 / EPS_VALLEY:g};\nthe path to c curves",
    5: "at c: level 4's Hessian + R W^2 I, rescaled: a smaller kappa,\n"
    "but the ripples make local minima where gd settles",
}


def _chain(n: int) -> tuple[float, float]:
    """The largest and smallest eigenvalue of the free chain Laplacian of n nodes."""
    return (2 + 2 * math.cos(math.pi / n), 0.0) if n > 1 else (0.0, 0.0)


def _anchor(level: int) -> float:
    return EPS if level == 3 else EPS_VALLEY


def _scale(level: int, n: int) -> float:
    """The factor that puts the largest eigenvalue of the Hessian at c at 2."""
    top, _ = _chain(n)
    if level in (3, 4):
        return 1.0 / (_anchor(level) + top)
    return 2.0 / (2 * EPS_VALLEY + 2 * top + R * W * W)


def spectrum(dim: int, level: int, points: int = 4096) -> list[float]:
    """Eigenvalues of the Hessian at c, ascending: all of them when dim <= ``points``, else a
    sample of ``points`` (the extremes included)."""
    if level == 1:
        return [2.0] * min(dim, points)
    ks = range(dim) if dim <= points else sorted({round(i * (dim - 1) / (points - 1)) for i in range(points)})
    if level == 2:
        if dim == 1:
            return [2.0]
        return [2 * K2 ** (-(1 - k / (dim - 1))) for k in ks]
    s = _scale(level, dim)
    t = [(2 - 2 * math.cos(k * math.pi / dim)) if dim > 1 else 0.0 for k in ks]
    if level in (3, 4):
        return sorted(2 * s * (_anchor(level) + v) for v in t)
    return sorted(s * (2 * EPS_VALLEY + 2 * v + R * W * W) for v in t)


def curvature(dim: int, level: int) -> tuple[float, float, float]:
    """(L, mu, kappa) of the Hessian at c, exact."""
    values = spectrum(dim, level, points=2)
    big, small = max(values), min(values)
    return big, small, big / small


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

    @property
    def curvature(self) -> tuple[float, float, float]:
        return curvature(self.dim, self.complexity)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """f at x of shape (..., dim); returns shape (...)."""
        d = x - self.center
        level = self.complexity
        if level == 1:
            return (d * d).sum(-1)
        if level == 2:
            return (self.weights * d * d).sum(-1)
        if level >= 4 and self.dim > 1:  # the valley: odd coordinates measured from a parabola
            m = self.dim // 2
            bent = d[..., 1 : 2 * m : 2] - B * d[..., 0 : 2 * m : 2] ** 2
            d = d.clone()
            d[..., 1 : 2 * m : 2] = bent
        value = _anchor(level) * (d * d).sum(-1)
        if self.dim > 1:
            diff = d[..., :-1] - d[..., 1:]
            value = value + (diff * diff).sum(-1)
        if level == 5:
            value = value + R * (1 - (W * d).cos()).sum(-1)
        return _scale(level, self.dim) * value

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
    if complexity == 2:
        exponents = torch.linspace(0, 1, dim, dtype=torch.float64) if dim > 1 else torch.ones(1, dtype=torch.float64)
        weights = K2 ** (exponents - 1)
        weights = weights[torch.randperm(dim, generator=g)]
    return Landscape(dim, complexity, seed, center, start, weights)


@dataclass
class OwnFunction:
    """A function the user typed (the safe expression language), minimised like a landscape.

    ``names`` orders the variables (as the start point lists them): x[..., i] is ``names[i]``,
    so ``f`` takes x of shape (..., dim) and returns shape (...), batched or not.  ``center``
    is the known minimiser (``--minimum``) or None; ``start`` the first point.
    """

    text: str
    names: tuple[str, ...]
    start: torch.Tensor
    center: torch.Tensor | None
    function: object  # the compiled expression: keyword tensors -> tensor

    @property
    def dim(self) -> int:
        return len(self.names)

    @property
    def formula(self) -> str:
        return f"f({', '.join(self.names)}) = {self.text}"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        value = self.function(**{name: x[..., i] for i, name in enumerate(self.names)})
        if not hasattr(value, "shape") or value.shape != x.shape[:-1]:  # a constant, or a variable unused
            value = value + x.new_zeros(x.shape[:-1])
        return value

    def to(self, device: torch.device | str, dtype: torch.dtype) -> "OwnFunction":
        move = lambda t: None if t is None else t.to(device=device, dtype=dtype)  # noqa: E731
        return OwnFunction(self.text, self.names, move(self.start), move(self.center), self.function)


def own_function(text: str, start: dict[str, float], minimum: dict[str, float] | None = None) -> OwnFunction:
    """The user's f (``text``) over the variables of ``start`` in its order, in float64 on the CPU."""
    import torch

    from lab4.core.expr import parse_expression
    from lab4.maths.expr import compile_expression

    names = tuple(start)
    point = torch.tensor([float(start[n]) for n in names], dtype=torch.float64)
    center = torch.tensor([float(minimum[n]) for n in names], dtype=torch.float64) if minimum else None
    return OwnFunction(text, names, point, center, compile_expression(parse_expression(text)))


def hessian_at(f: object, w: torch.Tensor) -> torch.Tensor:
    """The Hessian of f at the point w (dim,), by autograd: the gradient taken with
    ``create_graph``, then one backward pass per coordinate for its rows (the same numbers as
    ``torch.func.hessian``, without the ~3 s its first call costs a fresh process)."""
    import torch

    x = w.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x), x, create_graph=True)
    rows = []
    for i in range(x.numel()):
        if grad.requires_grad:
            (row,) = torch.autograd.grad(grad[i], x, retain_graph=True, allow_unused=True)
        else:  # f is linear: no second derivative in the graph
            row = None
        rows.append(torch.zeros_like(x) if row is None else row)
    return torch.stack(rows)
