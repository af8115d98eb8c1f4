"""The spectrum of a network's loss Hessian from Hessian-vector products alone.

The Hessian H of a loss L(w) over the n flattened parameters is never formed (n = 4547 for
the default 2-64-64-3 net: 20 million entries); everything here needs only v -> H v::

    g(w) = grad L(w)                      (one backward pass, ``create_graph=True``)
    H v  = d/dw (g(w) . v)                (one more backward through g: "double backward")

**Lanczos** builds an orthonormal basis q_1..q_m of the Krylov space
span{q_1, H q_1, ..., H^(m-1) q_1} in which H is tridiagonal::

    H Q_m = Q_m T_m + beta_m q_(m+1) e_m^T,
    T_m = tridiag(beta_(j-1), alpha_j, beta_j),   alpha_j = q_j . H q_j,
    beta_j q_(j+1) = H q_j - alpha_j q_j - beta_(j-1) q_(j-1).

The eigenvalues theta_i of T_m (Ritz values) approach the extreme eigenvalues of H first,
both ends at once, the largest *algebraic* one included: that is the sharpness, signed.
Power iteration instead finds the largest *magnitude* (a negative eigenvalue when the
Hessian is indefinite and its bottom is deeper than its top is high) and converges as
(lambda_2/lambda_1)^k, slowly when the top two are close; Lanczos converges as a Chebyshev
polynomial in the gap, much faster (Kaniel-Paige-Saad).  In floating point the q_j lose
orthogonality as Ritz values converge; here every new vector is orthogonalised against all
the previous ones, twice (classical Gram-Schmidt, "twice is enough"): full
reorthogonalisation, O(n m) memory, which for m <= a few hundred is nothing beside an HVP.

With s_i the unit eigenvector of T_m for theta_i, the Ritz vector y_i = Q_m s_i has the
residual, without another product::

    || H y_i - theta_i y_i || = beta_m |s_i[m]|        (the last component of s_i)

and some eigenvalue of H lies within that residual of theta_i.  :func:`top_eigenvalues`
stops when every wanted residual is at most ``tol * |theta_i|`` (relative tolerance; for
theta_i near 0 the scale is floored at sqrt(eps) ||T_m||), and says whether it got there
(``converged``).  When beta_m ~ 0 the basis spans an invariant subspace: the Ritz values
are exact eigenvalues and Lanczos stops there.  One start vector sees each distinct
eigenvalue once: a repeated eigenvalue appears once among the Ritz values (only when fewer
than the k wanted have appeared does :func:`top_eigenvalues` restart from a random vector
orthogonal to the basis).

**Hutchinson's trace**: for v with independent Rademacher entries (+-1), E[v^T H v] = tr H
and Var[v^T H v] = 2 sum_{i != j} H_ij^2 (the diagonal contributes no variance); the mean
of s probes has standard error sd / sqrt(s), estimated from the probes themselves.

**Stochastic Lanczos quadrature** (Golub & Meurant; Ghorbani, Krishnan & Xiao 2019; used by
PyHessian, Yao et al. 2020): the spectral density phi(t) = (1/n) sum_i delta(t - lambda_i)
satisfies, for a unit vector v with uniformly random direction, E[v^T f(H) v] = int f phi.
m Lanczos steps from v give the Gauss quadrature of that integral: nodes theta_i, weights
tau_i^2 = s_i[1]^2 (the first components), exact for polynomials f of degree <= 2m - 1.
Averaging the quadratures of several probes gives the density as a sum of weighted nodes,
turned into a histogram (optionally each node spread as a Gaussian of width sigma).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

__all__ = [
    "HessianVectorProduct",
    "hessian_vector_product",
    "LanczosResult",
    "lanczos",
    "Eigenpairs",
    "top_eigenvalues",
    "bottom_eigenvalues",
    "TraceEstimate",
    "hutchinson_trace",
    "rademacher_variance",
    "SpectralDensity",
    "spectral_density",
    "Histogram",
    "density_histogram",
]

Tensor = torch.Tensor
HVP = Callable[[Tensor], Tensor]

#: Lanczos steps beyond which top_eigenvalues gives up by default
DEFAULT_MAX_ITER = 100


class HessianVectorProduct:
    """v -> H v over the flat concatenation of ``params`` (in their order, each flattened).

    The gradient is built once at construction with ``create_graph=True`` and kept; each
    call is one backward pass through it, ``torch.autograd.grad(g, w, grad_outputs=v)`` =
    v^T dg/dw = H v (H is symmetric).  ``calls`` counts the products.
    """

    def __init__(self, loss_fn: Callable[[list[Tensor]], Tensor], params: Sequence[Tensor]):
        self.point = [p.detach().requires_grad_(True) for p in params]
        self.shapes = [p.shape for p in self.point]
        self.sizes = [p.numel() for p in self.point]
        self.n = sum(self.sizes)
        self.dtype = self.point[0].dtype
        self.device = self.point[0].device
        with torch.enable_grad():
            loss = loss_fn(self.point)
            grads = torch.autograd.grad(loss, self.point, create_graph=True, allow_unused=True)
        self.loss = loss.detach()
        self.gradient = torch.cat(
            [(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, self.point)]
        )
        self.calls = 0

    def __call__(self, vector: Tensor) -> Tensor:
        self.calls += 1
        if not self.gradient.requires_grad:  # the loss is at most linear in the parameters
            return torch.zeros_like(vector)
        with torch.enable_grad():
            parts = torch.autograd.grad(
                self.gradient, self.point, grad_outputs=vector.reshape(-1), retain_graph=True, allow_unused=True
            )
        return torch.cat(
            [(h if h is not None else torch.zeros_like(p)).reshape(-1) for h, p in zip(parts, self.point)]
        ).detach()

    def flatten(self, tensors: Sequence[Tensor]) -> Tensor:
        return torch.cat([t.reshape(-1) for t in tensors])

    def unflatten(self, vector: Tensor) -> list[Tensor]:
        return [part.reshape(shape) for part, shape in zip(vector.split(self.sizes), self.shapes)]


def hessian_vector_product(loss_fn: Callable[[list[Tensor]], Tensor], params: Sequence[Tensor]) -> HessianVectorProduct:
    """The closure v -> H v for H the Hessian of ``loss_fn(params)`` over the flattened
    parameters (a list of tensors; ``loss_fn`` takes such a list and returns a 0-d tensor).
    Its ``n``, ``dtype`` and ``device`` are those of the flat vector."""
    return HessianVectorProduct(loss_fn, params)


# -- Lanczos --------------------------------------------------------------------------------


def _like(hvp: HVP, start: Tensor | None, dtype: Any, device: Any) -> tuple[Any, Any]:
    if start is not None:
        return dtype or start.dtype, device or start.device
    return dtype or getattr(hvp, "dtype", torch.float64), device or getattr(hvp, "device", "cpu")


def _random_vector(
    n: int, generator: torch.Generator | None, dtype: Any, device: Any, rademacher: bool = False
) -> Tensor:
    """Drawn on the CPU in float64 from ``generator`` (or a fixed seed), then moved: the
    same numbers on every device and dtype."""
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    if rademacher:
        v = torch.randint(0, 2, (n,), generator=generator, dtype=torch.int64).to(torch.float64) * 2 - 1
    else:
        v = torch.randn(n, generator=generator, dtype=torch.float64)
    return v.to(dtype=dtype, device=device)


class _Krylov:
    """Lanczos with full reorthogonalisation, one product per :meth:`step`."""

    def __init__(self, hvp: HVP, n: int, capacity: int, start: Tensor, breakdown_tol: float | None):
        self.hvp, self.n = hvp, n
        self.capacity = max(1, min(capacity, n))
        # rows allocated as needed (doubling): a measurement that converges in 6 steps does
        # not pay for filling max_iter rows
        self.basis = torch.empty(min(self.capacity, 16), n, dtype=start.dtype, device=start.device)
        eps = torch.finfo(start.dtype).eps
        self.breakdown_tol = breakdown_tol if breakdown_tol is not None else 100 * eps
        self.alphas: list[float] = []
        self.betas: list[float] = []  # off-diagonal of T: betas[j] couples q_j and q_(j+1)
        self.beta = math.inf  # beta_m: the norm of what H q_m has outside the basis
        self.anorm = 0.0  # a running estimate of ||T|| (max row sum)
        self.invariant = False
        self.m = 0
        if not self._place(start):
            raise ValueError("the start vector is zero or not finite")

    def _orthogonalise(self, w: Tensor) -> Tensor:
        if self.m == 0:
            return w
        q = self.basis[: self.m]
        for _ in range(2):
            w = w - q.T @ (q @ w)
        return w

    def _row(self, j: int, v: Tensor) -> None:
        if j >= self.basis.shape[0]:
            grown = torch.empty(min(self.capacity, 2 * self.basis.shape[0]), self.n, dtype=v.dtype, device=v.device)
            grown[:j] = self.basis[:j]
            self.basis = grown
        self.basis[j] = v

    def _place(self, v: Tensor) -> bool:
        v = self._orthogonalise(v)
        norm = float(torch.linalg.vector_norm(v))
        if not math.isfinite(norm) or norm == 0.0:
            return False
        self._row(self.m, v / norm)
        return True

    def step(self) -> bool:
        """One product; False when no further vector can be added (full, or invariant)."""
        j = self.m
        q = self.basis[j]
        w = self.hvp(q).reshape(-1).to(q.dtype)
        alpha = float(torch.dot(q, w))
        if not math.isfinite(alpha):
            raise FloatingPointError("a Hessian-vector product is not finite")
        self.m = j + 1
        w = self._orthogonalise(w)
        beta = float(torch.linalg.vector_norm(w))
        self.alphas.append(alpha)
        self.anorm = max(self.anorm, abs(alpha) + beta + (self.betas[-1] if self.betas else 0.0))
        self.beta = beta
        if self.m >= self.n or beta <= self.breakdown_tol * max(self.anorm, 1e-300):
            self.invariant = True
            self.beta = 0.0 if self.m >= self.n else beta
            return False
        if self.m >= self.capacity:
            return False
        self._row(self.m, w / beta)
        self.betas.append(beta)
        return True

    def restart(self, generator: torch.Generator | None) -> bool:
        """After an invariant subspace: continue from a random vector orthogonal to the basis
        (a zero off-diagonal in T: a new block)."""
        if self.m >= min(self.capacity, self.n):
            return False
        v = _random_vector(self.n, generator, self.basis.dtype, self.basis.device)
        if not self._place(v):
            return False
        self.betas.append(0.0)
        self.invariant = False
        self.beta = 0.0  # the closed block's Ritz pairs are exact until the next step
        return True

    def tridiagonal(self) -> Tensor:
        m = self.m
        t = torch.diag(torch.tensor(self.alphas, dtype=torch.float64))
        if m > 1:
            off = torch.tensor(self.betas[: m - 1], dtype=torch.float64)
            t = t + torch.diag(off, 1) + torch.diag(off, -1)
        return t

    def ritz(self) -> tuple[Tensor, Tensor, Tensor]:
        """(Ritz values ascending, T's eigenvectors as columns, residual norms), float64 CPU."""
        theta, s = torch.linalg.eigh(self.tridiagonal())
        return theta, s, (self.beta * s[-1].abs())

    def vectors(self, s: Tensor) -> Tensor:
        """Ritz vectors Q_m s (columns), in the basis's dtype and device."""
        return self.basis[: self.m].T @ s.to(dtype=self.basis.dtype, device=self.basis.device)


@dataclass(frozen=True)
class LanczosResult:
    """m Lanczos steps: T_m = tridiag(betas, alphas, betas) (float64, CPU), its eigenpairs
    (``ritz_values`` ascending, ``ritz_vectors`` Q_m s_i as columns, n x m, in the
    parameters' dtype and device), ``first_components`` s_i[1] (the quadrature weights are
    their squares), ``residuals`` ||H y_i - theta_i y_i|| = beta_m |s_i[m]|, and
    ``invariant``: it stopped early because beta ~ 0."""

    alphas: Tensor
    betas: Tensor
    ritz_values: Tensor
    ritz_vectors: Tensor
    first_components: Tensor
    residuals: Tensor
    invariant: bool
    iterations: int


def lanczos(
    hvp: HVP,
    n: int,
    k: int,
    *,
    start: Tensor | None = None,
    generator: torch.Generator | None = None,
    dtype: Any = None,
    device: Any = None,
    breakdown_tol: float | None = None,
) -> LanczosResult:
    """k steps of Lanczos with full reorthogonalisation on ``hvp`` (a function of a flat
    vector of size ``n``), from ``start`` or a normal vector drawn from ``generator``.

    Stops early, with ``invariant=True``, when beta_j <= ``breakdown_tol`` ||T|| (default
    100 eps of the dtype): the basis then spans an invariant subspace and its Ritz values
    are eigenvalues of H.  dtype/device default to ``hvp``'s (a :class:`HessianVectorProduct`)
    or float64 on the CPU."""
    if k < 1:
        raise ValueError("k must be at least 1")
    dtype, device = _like(hvp, start, dtype, device)
    v = (
        start.reshape(-1).to(dtype=dtype, device=device)
        if start is not None
        else _random_vector(n, generator, dtype, device)
    )
    krylov = _Krylov(hvp, n, k, v, breakdown_tol)
    while krylov.step():
        pass
    theta, s, residuals = krylov.ritz()
    m = krylov.m
    return LanczosResult(
        alphas=torch.tensor(krylov.alphas, dtype=torch.float64),
        betas=torch.tensor(krylov.betas[: m - 1], dtype=torch.float64),
        ritz_values=theta,
        ritz_vectors=krylov.vectors(s),
        first_components=s[0].clone(),
        residuals=residuals,
        invariant=krylov.invariant,
        iterations=m,
    )


# -- extreme eigenvalues ----------------------------------------------------------------------


@dataclass(frozen=True)
class Eigenpairs:
    """The k extreme eigenvalues found (``values``: largest first for ``which="largest"``,
    smallest first for ``"smallest"``), their Ritz vectors (n x k), the residual norms
    ||H y - theta y||, whether every residual met ``tol * |theta|`` (``converged``), and the
    number of Hessian-vector products spent (``iterations``)."""

    values: Tensor
    vectors: Tensor
    residuals: Tensor
    converged: bool
    iterations: int
    tol: float
    which: str

    @property
    def value(self) -> float:
        """The first (the largest, or the smallest) eigenvalue."""
        return float(self.values[0])

    @property
    def relative_residual(self) -> float:
        """The worst residual over |theta| (the quantity held to ``tol``)."""
        scale = self.values.abs().clamp_min(torch.finfo(torch.float64).tiny)
        return float((self.residuals / scale).max())


def top_eigenvalues(
    hvp: HVP,
    n: int,
    k: int = 1,
    tol: float = 1e-3,
    max_iter: int = DEFAULT_MAX_ITER,
    *,
    which: str = "largest",
    start: Tensor | None = None,
    generator: torch.Generator | None = None,
    dtype: Any = None,
    device: Any = None,
) -> Eigenpairs:
    """The k largest (``which="largest"``) or smallest (``"smallest"``) *algebraic*
    eigenvalues of H by Lanczos, to the relative tolerance ``tol``.

    After each product (once there are k Ritz values) the wanted Ritz pairs' residuals
    r_i = beta_m |s_i[m]| are compared with ``tol * max(|theta_i|, sqrt(eps) ||T||)``; when
    all are below, it stops with ``converged=True`` (then an eigenvalue of H lies within r_i
    of each theta_i, and within r_i^2 / gap when theta_i is separated from the rest of the
    spectrum by ``gap``).  After ``max_iter`` products it stops with ``converged=False``.
    A warm ``start`` (the previous measurement's vector) usually converges in fewer steps.
    """
    if which not in ("largest", "smallest"):
        raise ValueError("which must be 'largest' or 'smallest'")
    if k < 1 or k > n:
        raise ValueError(f"k must lie in [1, n = {n}]")
    if max_iter < k:
        raise ValueError(f"max_iter = {max_iter} products cannot give k = {k} eigenvalues")
    dtype, device = _like(hvp, start, dtype, device)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    v = start.reshape(-1).to(dtype=dtype, device=device) if start is not None else None
    if v is None or not bool(torch.isfinite(v).all()) or not bool((v != 0).any()):
        v = _random_vector(n, generator, dtype, device)  # no start, or a degenerate one
    floor = math.sqrt(torch.finfo(dtype).eps)
    krylov = _Krylov(hvp, n, max_iter, v, None)
    picked = None
    converged = False
    while True:
        more = krylov.step()
        if not more and krylov.invariant and krylov.m < k and krylov.m < min(max_iter, n):
            # fewer Ritz values than wanted in an invariant subspace (H has fewer distinct
            # eigenvalues the start can see): a new block from a random orthogonal vector
            more = krylov.restart(generator)
        if krylov.m >= k:
            theta, s, residuals = krylov.ritz()
            order = torch.arange(krylov.m - 1, krylov.m - 1 - k, -1) if which == "largest" else torch.arange(k)
            picked = (theta[order], s[:, order], residuals[order])
            scale = torch.clamp(theta[order].abs(), min=floor * krylov.anorm)
            # an open block's residual is beta_m |s[m]|; a closed block's pairs are exact
            if bool((residuals[order] <= tol * scale).all()):
                converged = True
                break
        if not more:
            break
    assert picked is not None
    values, s, residuals = picked
    return Eigenpairs(
        values=values,
        vectors=krylov.vectors(s),
        residuals=residuals,
        converged=converged,
        iterations=krylov.m,
        tol=tol,
        which=which,
    )


def bottom_eigenvalues(
    hvp: HVP, n: int, k: int = 1, tol: float = 1e-3, max_iter: int = DEFAULT_MAX_ITER, **kwargs: Any
) -> Eigenpairs:
    """The k smallest algebraic eigenvalues (the most negative curvature at a saddle)."""
    return top_eigenvalues(hvp, n, k, tol, max_iter, which="smallest", **kwargs)


# -- trace ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson's estimate of tr H: the mean of v^T H v over ``samples`` Rademacher
    probes (``values``), and its standard error sd / sqrt(samples) (nan for one probe)."""

    estimate: float
    stderr: float
    samples: int
    values: Tensor = field(repr=False)


def hutchinson_trace(
    hvp: HVP, n: int, samples: int, generator: torch.Generator | None = None, *, dtype: Any = None, device: Any = None
) -> TraceEstimate:
    """tr H ~ (1/s) sum_k v_k^T H v_k, v_k with independent +-1 entries (E = tr H, Var of
    one probe = 2 sum_{i != j} H_ij^2); standard error from the probes' sample sd."""
    if samples < 1:
        raise ValueError("samples must be at least 1")
    dtype, device = _like(hvp, None, dtype, device)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    values = []
    for _ in range(samples):
        v = _random_vector(n, generator, dtype, device, rademacher=True)
        values.append(float(torch.dot(v, hvp(v).reshape(-1).to(dtype))))
    t = torch.tensor(values, dtype=torch.float64)
    stderr = float(t.std(correction=1)) / math.sqrt(samples) if samples > 1 else math.nan
    return TraceEstimate(float(t.mean()), stderr, samples, t)


def rademacher_variance(matrix: Tensor) -> float:
    """Var[v^T A v] for v with independent +-1 entries: v^T A v = tr A + sum_{i<j} (A_ij + A_ji)
    v_i v_j, whose products v_i v_j are uncorrelated with unit variance, so
    Var = sum_{i<j} (A_ij + A_ji)^2, = 2 sum_{i != j} A_ij^2 for symmetric A."""
    sym = matrix + matrix.T
    off = sym - torch.diag(torch.diagonal(sym))
    return float((off * off).sum() / 2)


# -- spectral density ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SpectralDensity:
    """The density of H's eigenvalues as weighted nodes: every probe's Ritz values with
    weights tau^2 / probes (each probe's weights sum to 1, so all sum to 1).  ``iterations``
    holds each probe's Lanczos steps (fewer than asked where it hit an invariant subspace)."""

    nodes: Tensor
    weights: Tensor
    probes: int
    iterations: tuple[int, ...]

    def moment(self, power: int) -> float:
        """int t^power phi(t) dt by the quadrature (power 1: tr H / n)."""
        return float((self.weights * self.nodes**power).sum())


def spectral_density(
    hvp: HVP,
    n: int,
    iters: int,
    probes: int,
    generator: torch.Generator | None = None,
    *,
    dtype: Any = None,
    device: Any = None,
) -> SpectralDensity:
    """Stochastic Lanczos quadrature: ``probes`` Rademacher start vectors, ``iters`` Lanczos
    steps each (full reorthogonalisation); nodes = Ritz values, weights = squared first
    components of T's eigenvectors, averaged over the probes.  Costs probes x iters products."""
    if probes < 1 or iters < 1:
        raise ValueError("iters and probes must be at least 1")
    dtype, device = _like(hvp, None, dtype, device)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    nodes, weights, steps = [], [], []
    for _ in range(probes):
        start = _random_vector(n, generator, dtype, device, rademacher=True)
        run = lanczos(hvp, n, iters, start=start)
        nodes.append(run.ritz_values)
        weights.append(run.first_components**2 / probes)
        steps.append(run.iterations)
    return SpectralDensity(torch.cat(nodes), torch.cat(weights), probes, tuple(steps))


@dataclass(frozen=True)
class Histogram:
    """Mass per bin over ``edges`` (bins + 1 ascending values; the mass sums to about 1, less
    what a Gaussian smoothing spreads beyond the edges)."""

    edges: Tensor
    mass: Tensor

    @property
    def centres(self) -> Tensor:
        return (self.edges[1:] + self.edges[:-1]) / 2


def density_histogram(
    density: SpectralDensity, bins: int = 40, range: tuple[float, float] | None = None, sigma: float | None = None
) -> Histogram:
    """The quadrature's mass per bin over ``range`` (default: the nodes' extent, widened by
    3 sigma).  Without ``sigma`` each node's weight falls in its bin (the last bin closed,
    nodes outside the range dropped); with ``sigma`` each node is a normal density of that
    width, integrated exactly over each bin: w (Phi((b - t)/sigma) - Phi((a - t)/sigma))."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    nodes, weights = density.nodes.to(torch.float64), density.weights.to(torch.float64)
    if range is None:
        pad = 3 * sigma if sigma else 0.0
        lo, hi = float(nodes.min()) - pad, float(nodes.max()) + pad
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
    else:
        lo, hi = range
    edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
    if sigma:
        cdf = 0.5 * (1 + torch.erf((edges[:, None] - nodes[None, :]) / (sigma * math.sqrt(2))))
        mass = ((cdf[1:] - cdf[:-1]) * weights[None, :]).sum(1)
    else:
        inside = (nodes >= lo) & (nodes <= hi)
        index = ((nodes[inside] - lo) / (hi - lo) * bins).floor().long().clamp(0, bins - 1)
        mass = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, weights[inside])
    return Histogram(edges, mass)
