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

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from lab4.maths.spectrum import (
    DEFAULT_MAX_ITER,
    Eigenpairs,
    density_histogram,
    hutchinson_trace,
    spectral_density,
    top_eigenvalues,
)
from lab4.maths.spectrum import hessian_vector_product as _flat_hvp

__all__ = [
    "hessian_vector_product",
    "top_eigenvalue",
    "SHARPNESS_TOL",
    "LossSpectrum",
    "loss_spectrum",
    "SPECTRUM_TOP_K",
    "SPECTRUM_TRACE_PROBES",
    "SPECTRUM_DENSITY_PROBES",
    "SPECTRUM_DENSITY_ITERS",
    "SPECTRUM_BINS",
    "NEGATIVE_SHARE",
]

Tensor = torch.Tensor

#: relative tolerance of the sharpness (residual over |eigenvalue|)
SHARPNESS_TOL = 1e-3


def hessian_vector_product(
    loss: Callable[[Sequence[Tensor]], Tensor], params: Sequence[Tensor], vector: Sequence[Tensor]
) -> list[Tensor]:
    """H v for one ``vector`` given as tensors shaped like ``params``."""
    hvp = _flat_hvp(loss, params)
    return hvp.unflatten(hvp(hvp.flatten(vector)))


def top_eigenvalue(
    loss: Callable[[Sequence[Tensor]], Tensor],
    params: Sequence[Tensor],
    max_iter: int = DEFAULT_MAX_ITER,
    start: Tensor | None = None,
    seed: int = 0,
    tol: float = SHARPNESS_TOL,
) -> Eigenpairs:
    """The largest algebraic eigenvalue of the Hessian of ``loss`` at ``params`` (``.value``),
    its flat Ritz vector (``.vectors[:, 0]``), ``.converged`` (residual <= tol |value| within
    ``max_iter`` products) and ``.iterations``.  The start vector is ``start`` (flat) or a
    normal draw from ``seed``."""
    hvp = _flat_hvp(loss, params)
    return top_eigenvalues(hvp, hvp.n, 1, tol, max_iter, start=start, generator=torch.Generator().manual_seed(seed))


# -- the whole spectrum at one point ----------------------------------------------------------

#: the spectrum a training run measures (what ``lab4 bench``'s spectrum row times): the top
#: SPECTRUM_TOP_K eigenvalues (Lanczos, relative SHARPNESS_TOL), the trace from
#: SPECTRUM_TRACE_PROBES Rademacher probes, the density from SPECTRUM_DENSITY_PROBES probes of
#: SPECTRUM_DENSITY_ITERS Lanczos steps, as a histogram of SPECTRUM_BINS bins
SPECTRUM_TOP_K = 3
SPECTRUM_TRACE_PROBES = 100
SPECTRUM_DENSITY_PROBES = 5
SPECTRUM_DENSITY_ITERS = 80
SPECTRUM_BINS = 40
#: a density node counts as negative curvature below -NEGATIVE_SHARE x the top eigenvalue
#: (nodes nearer 0 are the flat bulk, where float32 round-off alone gives either sign)
NEGATIVE_SHARE = 1e-2


@dataclass(frozen=True)
class LossSpectrum:
    """The spectrum of a loss Hessian at one point: ``top`` (the largest algebraic
    eigenvalues, largest first) with ``top_converged``; Hutchinson's ``trace`` and its
    standard error ``trace_se``; the SLQ density as a histogram (``edges``, ``mass`` summing
    to 1), its extreme nodes, and ``negative_mass``: the density's weight below
    -NEGATIVE_SHARE x top[0]; ``n`` parameters, ``products`` Hessian-vector products spent."""

    top: list[float]
    top_converged: bool
    trace: float
    trace_se: float
    trace_probes: int
    edges: list[float]
    mass: list[float]
    lowest: float
    highest: float
    negative_mass: float
    n: int
    products: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def loss_spectrum(
    loss: Callable[[Sequence[Tensor]], Tensor],
    params: Sequence[Tensor],
    *,
    seed: int = 0,
    top_k: int = SPECTRUM_TOP_K,
    trace_probes: int = SPECTRUM_TRACE_PROBES,
    density_probes: int = SPECTRUM_DENSITY_PROBES,
    density_iters: int = SPECTRUM_DENSITY_ITERS,
    bins: int = SPECTRUM_BINS,
    check: Callable[[], None] | None = None,
) -> LossSpectrum:
    """Top-k eigenvalues, trace and density of the Hessian of ``loss`` at ``params`` (one
    gradient with its graph, then about top_k x 6 + trace_probes + density_probes x
    density_iters Hessian-vector products).  ``check`` is called before every product (a
    run's cancellation).  The three draws come from seed, seed + 1 and seed + 2."""
    flat = _flat_hvp(loss, params)

    def hvp(v: Tensor) -> Tensor:
        if check is not None:
            check()
        return flat(v)

    n = flat.n
    k = min(top_k, n)
    top = top_eigenvalues(
        hvp,
        n,
        k,
        SHARPNESS_TOL,
        max(DEFAULT_MAX_ITER, 2 * k),
        dtype=flat.dtype,
        device=flat.device,
        generator=torch.Generator().manual_seed(seed),
    )
    trace = hutchinson_trace(
        hvp, n, trace_probes, torch.Generator().manual_seed(seed + 1), dtype=flat.dtype, device=flat.device
    )
    density = spectral_density(
        hvp,
        n,
        min(density_iters, n),
        density_probes,
        torch.Generator().manual_seed(seed + 2),
        dtype=flat.dtype,
        device=flat.device,
    )
    histogram = density_histogram(density, bins)
    largest = float(top.values[0])
    negative = float(density.weights[density.nodes < -NEGATIVE_SHARE * abs(largest)].sum())
    return LossSpectrum(
        top=[float(v) for v in top.values],
        top_converged=top.converged,
        trace=trace.estimate,
        trace_se=trace.stderr,
        trace_probes=trace_probes,
        edges=histogram.edges.tolist(),
        mass=histogram.mass.tolist(),
        lowest=float(density.nodes.min()),
        highest=float(density.nodes.max()),
        negative_mass=negative,
        n=n,
        products=flat.calls,
    )
