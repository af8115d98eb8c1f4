"""Finite differences against analytic derivatives: values, error orders, batching."""

import pytest
import torch

from lab4.maths.landscapes import generate_function
from lab4.maths.numdiff import (
    backward_difference,
    central_difference,
    central_difference_gradient,
    central_difference_gradient_loop,
    forward_difference,
)

f = lambda x: torch.sin(x) * torch.exp(x)  # noqa: E731
df = lambda x: torch.exp(x) * (torch.cos(x) + torch.sin(x))  # noqa: E731


def _rmse(a, b):
    return float(torch.sqrt(torch.mean((a - b) ** 2)))


def test_error_orders_central_h2_one_sided_h():
    x = torch.linspace(-2, 2, 401, dtype=torch.float64)
    exact = df(x)
    for scheme, order in ((central_difference, 2), (forward_difference, 1), (backward_difference, 1)):
        e1 = _rmse(scheme(f, x, 1e-2)[0], exact)
        e2 = _rmse(scheme(f, x, 5e-3)[0], exact)
        # halving h divides the error by 2**order (truncation regime, float64)
        assert e1 / e2 == pytest.approx(2**order, rel=0.05)


def test_vanished_step_is_reported_not_divided_by_h():
    x = torch.tensor([1.0, 1000.0], dtype=torch.float32)
    d, vanished = central_difference(f, x, 1e-9)
    assert vanished.tolist() == [True, True]
    assert torch.isnan(d).all()
    d, vanished = central_difference(f, torch.tensor([0.0], dtype=torch.float32), 1e-9)
    assert not vanished.any()  # near zero the step is representable


def test_divides_by_the_represented_step():
    # at x = 1 in float32 the spacing is 1.19e-7: h = 1e-7 rounds to a different step
    x = torch.tensor([1.0], dtype=torch.float32)
    h = 1e-7
    d, _ = forward_difference(lambda t: t, x, h)
    assert d.item() == 1.0  # f(x) = x: exact whatever h rounded to


@pytest.mark.parametrize("complexity", [1, 2, 3, 4, 5])
def test_batched_gradient_matches_autograd_float64(complexity):
    land = generate_function(37, complexity, seed=3)
    x = land.start.clone().requires_grad_(True)
    (exact,) = torch.autograd.grad(land(x), x)
    approx = central_difference_gradient(land, land.start, max_elements=500)  # forces many chunks
    assert torch.allclose(approx, exact, rtol=1e-6, atol=1e-6)


def test_batched_equals_the_per_coordinate_loop():
    land = generate_function(50, 3, seed=1)
    x = land.start
    batched = central_difference_gradient(land, x, 1e-5)
    loop = central_difference_gradient_loop(land, x, 1e-5)
    assert torch.allclose(batched, loop, rtol=1e-9, atol=1e-9)


def test_expression_gradient_analytic():
    # f(x, y) = 3x^3 - y^2: gradient (9x^2, -2y)
    fn = lambda b: 3 * b[:, 0] ** 3 - b[:, 1] ** 2  # noqa: E731
    pt = torch.tensor([2.0, 3.0], dtype=torch.float64)
    g = central_difference_gradient(fn, pt)
    assert g.tolist() == pytest.approx([36.0, -6.0], rel=1e-8)
