"""Numerical derivatives, written as the handout writes them, and three more.

Forward:      f'(x) ~ (f(x + h) - f(x)) / h                     error O(h)
Backward:     f'(x) ~ (f(x) - f(x - h)) / h                     error O(h)
Central:      f'(x) ~ (f(x + h) - f(x - h)) / (2h)              error O(h^2)
Richardson:   f'(x) ~ (4 D(h/2) - D(h)) / 3, D the central one  error O(h^4)
Complex step: f'(x) ~ Im f(x + ih) / h                          error O(h^2), no subtraction:
              rounding-level for any h (down to 1e-300 in float64), for analytic f only
Forward-mode AD (``torch.func.jvp``) carries a tangent with each value: exact rules, like
reverse mode, one pass per input direction.

In floating point the step that is actually taken is ``(x + h) - x`` (or
``(x + h) - (x - h)``), not ``h``: we divide by the represented step, and report points
where it vanished (``x + h == x``: h below ~eps * |x|).  The best central step is near
``cbrt(eps) * max(1, |x|)``.

For f: R^n -> R the central-difference gradient needs 2n evaluations of f.  We build the
2n perturbed points as a batch and evaluate them in chunks of coordinates, so memory is
bounded (``max_elements``) and there is no Python loop over coordinates.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

__all__ = [
    "forward_difference",
    "backward_difference",
    "central_difference",
    "central_difference_gradient",
    "chunk_elements",
    "central_difference_gradient_loop",
    "auto_step",
    "gradient_cost",
    "richardson",
    "complex_step",
    "forward_ad_derivative",
    "derivatives_up_to",
]

Tensor = torch.Tensor


def auto_step(x: Tensor) -> Tensor:
    """cbrt(eps) * max(1, |x|): the step that balances truncation and round-off."""
    eps = torch.finfo(x.dtype).eps
    return eps ** (1.0 / 3.0) * torch.clamp(x.detach().abs(), min=1.0)


def forward_difference(f: Callable[[Tensor], Tensor], x: Tensor, h: float) -> tuple[Tensor, Tensor]:
    """Elementwise forward difference of an elementwise f; returns (derivative, vanished mask)."""
    xp = x + h
    step = xp - x
    vanished = step == 0
    d = (f(xp) - f(x)) / step
    return torch.where(vanished, torch.full_like(d, float("nan")), d), vanished


def backward_difference(f: Callable[[Tensor], Tensor], x: Tensor, h: float) -> tuple[Tensor, Tensor]:
    """Elementwise backward difference; returns (derivative, vanished mask)."""
    xm = x - h
    step = x - xm
    vanished = step == 0
    d = (f(x) - f(xm)) / step
    return torch.where(vanished, torch.full_like(d, float("nan")), d), vanished


def central_difference(f: Callable[[Tensor], Tensor], x: Tensor, h: float) -> tuple[Tensor, Tensor]:
    """Elementwise central difference; returns (derivative, vanished mask)."""
    xp, xm = x + h, x - h
    step = xp - xm
    vanished = step == 0
    d = (f(xp) - f(xm)) / step
    return torch.where(vanished, torch.full_like(d, float("nan")), d), vanished


def richardson(f: Callable[[Tensor], Tensor], x: Tensor, h: float) -> tuple[Tensor, Tensor]:
    """(4 D(h/2) - D(h)) / 3 with D the central difference: the h^2 terms cancel, O(h^4) is left.
    Returns (derivative, vanished mask)."""
    d_h, v_h = central_difference(f, x, h)
    d_half, v_half = central_difference(f, x, h / 2)
    vanished = v_h | v_half
    d = (4 * d_half - d_h) / 3
    return torch.where(vanished, torch.full_like(d, float("nan")), d), vanished


def complex_step(f: Callable[[Tensor], Tensor], x: Tensor, h: float) -> tuple[Tensor, Tensor]:
    """Im f(x + ih) / h in complex128 (float64 x) or complex64 (float32 x).

    Nothing is subtracted, so there is no cancellation: the error is the truncation
    h^2 f3 / 6 (f3 the third derivative) plus the rounding of f'. f must be analytic (no
    abs, relu, max...). The step "vanishes" only when h itself underflows in the dtype.
    Returns (derivative, vanished mask).
    """
    ctype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
    step = torch.tensor(h, dtype=x.dtype, device=x.device)
    z = torch.complex(x, step.expand_as(x)).to(ctype)
    d = f(z).imag.to(x.dtype) / step
    vanished = (step == 0).expand_as(x)
    return torch.where(vanished, torch.full_like(d, float("nan")), d), vanished


def forward_ad_derivative(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """f'(x) of an elementwise f by forward mode: the tangent of f at x along ones."""
    _, tangent = torch.func.jvp(f, (x,), (torch.ones_like(x),))
    return tangent


def derivatives_up_to(f: Callable[[Tensor], Tensor], x: Tensor, order: int) -> list[Tensor]:
    """[f, f', ..., f^(order)] of an elementwise f at the points x, by nested autograd
    (a derivative that does not depend on x is zero)."""
    x = x.detach().clone().requires_grad_(True)
    out = [f(x)]
    for _ in range(order):
        last = out[-1]
        if not last.requires_grad:
            out.append(torch.zeros_like(x))
            continue
        (grad,) = torch.autograd.grad(last.sum(), x, create_graph=True, allow_unused=True)
        out.append(torch.zeros_like(x) if grad is None else grad)
    return [d.detach() for d in out]


def chunk_elements(x: Tensor) -> int:
    """How many numbers one chunk of perturbed points holds.  On a CPU, 1 MB (2**18 float32,
    2**17 float64): a chunk that stays in the cache.  With 16 MB chunks (2**22 float32) the
    level-3 function of n = 10,000 took 200-700 ms a gradient, moving with the allocator's
    state, against ~150-170 ms at 1 MB (n = 1000: 10-13 ms against 2-3 ms), measured here on
    2 cores.  Elsewhere (CUDA, MPS) fewer, larger launches win: 2**22 numbers."""
    if x.device.type == "cpu":
        return max(1, (1 << 20) // x.element_size())
    return 1 << 22


def central_difference_gradient(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    h: float | Tensor | None = None,
    max_elements: int | None = None,
) -> Tensor:
    """Gradient of f: R^n -> R at x by central differences, batched in chunks.

    ``f`` takes a batch of points of shape (B, n) and returns (B,).  For coordinate i:

        g_i = (f(x + h_i e_i) - f(x - h_i e_i)) / ((x_i + h_i) - (x_i - h_i))

    The chunk of coordinates evaluated together is sized so that the perturbed batch holds
    at most ``max_elements`` numbers (default :func:`chunk_elements`).  A coordinate whose step
    vanished gets NaN.
    """
    if x.dim() != 1:
        raise ValueError(f"x must be a vector, got shape {tuple(x.shape)}")
    x = x.detach()
    n = x.numel()
    if h is None:
        steps = auto_step(x)
    else:
        steps = torch.as_tensor(h, dtype=x.dtype, device=x.device).expand(n)
    plus, minus = x + steps, x - steps
    denom = plus - minus
    grad = torch.empty_like(x)
    if max_elements is None:
        max_elements = chunk_elements(x)
    chunk = max(1, min(n, max_elements // max(1, 2 * n)))
    with torch.no_grad():
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            k = b - a
            batch = x.expand(2 * k, n).clone()
            idx = torch.arange(k, device=x.device)
            batch[idx, a + idx] = plus[a:b]
            batch[k + idx, a + idx] = minus[a:b]
            values = f(batch)
            grad[a:b] = (values[:k] - values[k:]) / denom[a:b]
    return torch.where(denom == 0, torch.full_like(grad, float("nan")), grad)


def central_difference_gradient_loop(
    f: Callable[[Tensor], Tensor], x: Tensor, h: float | Tensor | None = None
) -> Tensor:
    """The textbook per-coordinate loop (perturb, evaluate, restore): the benchmark baseline."""
    x = x.detach().clone()
    n = x.numel()
    steps = auto_step(x) if h is None else torch.as_tensor(h, dtype=x.dtype, device=x.device).expand(n)
    grad = torch.empty_like(x)
    with torch.no_grad():
        for i in range(n):
            old = x[i].clone()
            x[i] = old + steps[i]
            up = f(x[None])[0]
            plus = x[i].clone()
            x[i] = old - steps[i]
            down = f(x[None])[0]
            minus = x[i].clone()
            x[i] = old
            grad[i] = (up - down) / (plus - minus)
    return grad


def gradient_cost(sizes: tuple[int, ...], device: str = "cpu", dtype: Any = None) -> list[tuple[int, float, float]]:
    """Seconds per gradient of an n-input function: one backward pass vs 2n evaluations.

    The function is ``generate_function(n, 3, 0)`` (O(n) per evaluation), in ``dtype``
    (float32 by default).
    Returns [(n, autograd_s, central_s)]; also the `derivatives` task's cost curve.
    """
    from lab4.maths.landscapes import generate_function
    from lab4.maths.timing import median_time

    out = []
    for n in sizes:
        f = generate_function(n, 3, 0).to(device, dtype or torch.float32)
        x = f.start.clone()

        def by_autograd() -> None:
            p = x.clone().requires_grad_(True)
            torch.autograd.grad(f(p), p)

        repeats = 5 if n <= 1000 else 1
        by_central = lambda: central_difference_gradient(f, x)  # noqa: E731
        out.append((n, median_time(by_autograd, repeats, device), median_time(by_central, repeats, device)))
    return out
