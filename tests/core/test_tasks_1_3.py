"""Tasks autograd, derivatives and minimize, through the runner, against independent truth."""

import math

import pytest
import torch

from lab4.core.context import RunContext
from lab4.engine.runner import execute, sweep
from lab4.maths.landscapes import generate_function
from lab4.tasks import TASKS


def run(task, dtype="float32", seed=0, **params):
    spec = TASKS[task].spec
    return execute(task, spec.parse(params), RunContext(dtype=dtype, seed=seed))


# ---- task 1: autograd


def test_autograd_defaults_give_the_handout_gradient():
    r = run("autograd")
    assert r.status == "ok"
    assert r.metrics["value"] == 3 * 2**3 - 3**2
    assert r.metrics["gradient"] == {"x": 36.0, "y": -6.0}
    assert r.metrics["central_gradient"]["x"] == pytest.approx(36.0, rel=1e-4)
    assert r.metrics["central_gradient"]["y"] == pytest.approx(-6.0, rel=1e-4)


def test_autograd_graph_reaches_each_leaf():
    r = run("autograd")
    graph = r.artifacts["graph"]
    assert graph["name"] == "SubBackward0"

    def leaves(node):
        if "variable" in node:
            yield node["variable"]
        for child in node["children"]:
            yield from leaves(child)

    assert sorted(set(leaves(graph))) == ["x", "y"]


@pytest.mark.parametrize(
    "expr, point, grad",
    [
        ("x*y + sin(x)", {"x": 0.5, "y": -2.0}, lambda x, y: {"x": y + math.cos(x), "y": x}),
        ("exp(x)/y", {"x": 1.0, "y": 4.0}, lambda x, y: {"x": math.exp(x) / y, "y": -math.exp(x) / y**2}),
    ],
)
def test_autograd_other_expressions(expr, point, grad):
    r = run("autograd", dtype="float64", expr=expr, point=point)
    expected = grad(**point)
    for k, v in expected.items():
        assert r.metrics["gradient"][k] == pytest.approx(v, rel=1e-12)
        assert r.metrics["central_gradient"][k] == pytest.approx(v, rel=1e-8)


# ---- task 2: derivatives


def test_derivatives_rmse_against_analytic():
    r32 = run("derivatives", dtype="float32", h=1e-2)
    r64 = run("derivatives", dtype="float64", h=1e-5)
    assert r32.status == r64.status == "ok"
    # autograd is exact up to rounding
    assert r32.metrics["rmse_autograd"] < 1e-5
    assert r64.metrics["rmse_autograd"] < 1e-12
    # recompute central RMSE independently (float64 reference, our own loop)
    x = torch.linspace(-5, 5, 1000, dtype=torch.float64)
    est = (torch.sin(x + 1e-5) * torch.exp(x + 1e-5) - torch.sin(x - 1e-5) * torch.exp(x - 1e-5)) / (
        (x + 1e-5) - (x - 1e-5)
    )
    ref = torch.exp(x) * (torch.cos(x) + torch.sin(x))
    assert r64.metrics["rmse_central"] == pytest.approx(float(torch.sqrt(((est - ref) ** 2).mean())), rel=1e-6)
    # one-sided differences are worse than central at the same h
    assert r32.metrics["rmse_forward"] > r32.metrics["rmse_central"]


def test_derivatives_h_sweep_shows_the_v():
    r = run("derivatives")
    best_h, best = r.metrics["best_h"], r.metrics["best_rmse"]
    # best central step near cbrt(eps): ~5e-3 (float32), ~6e-6 (float64)
    assert 1e-3 <= best_h["central_float32"] <= 3.2e-2
    assert 1e-6 <= best_h["central_float64"] <= 3.2e-5
    assert best["central_float64"] < 1e-8 < best["central_float32"]
    # the V: at h = 1e-12 in float64 the error is far above the best
    s = r.series["h-sweep central float64"]
    assert s["y"][s["x"].index(min(s["x"]))] > 100 * best["central_float64"]
    # and far above at h = 0.1 (truncation)
    assert s["y"][s["x"].index(max(s["x"]))] > 100 * best["central_float64"]
    assert any(o.startswith("Best h in float64") for o in r.observations)


def test_derivatives_reports_overflow_in_float32():
    r = run("derivatives", expr="exp(x)", derivative="exp(x)", start=0, stop=100, points=101)
    assert r.status == "ok"
    assert any("overflowed" in o for o in r.observations)


# ---- task 3: minimize


def test_level_one_is_exactly_the_isotropic_quadratic():
    land = generate_function(7, 1, seed=5)
    x = torch.randn(3, 7, dtype=torch.float64)
    assert torch.equal(land(x), ((x - land.center) ** 2).sum(-1))


@pytest.mark.parametrize("complexity", [1, 2, 3, 4, 5])
def test_every_level_has_minimum_zero_at_center(complexity):
    land = generate_function(11, complexity, seed=2)
    assert land(land.center).item() == 0.0
    pts = land.center + torch.randn(200, 11, dtype=torch.float64)
    assert (land(pts) > 0).all()


def test_gd_on_level_one_follows_the_closed_form():
    # w_t - c = (1 - 2 lr)^t (w_0 - c)  =>  f(w_t) = (1 - 2 lr)^(2t) f(w_0)
    lr, steps = 0.05, 60
    r = run("minimize", dtype="float64", dim=5, complexity=1, lr=lr, steps=steps, seed=4)
    f0 = r.series["loss"]["y"][0]
    land = generate_function(5, 1, seed=4)
    assert f0 == pytest.approx(float(((land.start - land.center) ** 2).sum()), rel=1e-12)
    for t, value in zip(r.series["loss"]["x"], r.series["loss"]["y"]):
        assert value == pytest.approx((1 - 2 * lr) ** (2 * t) * f0, rel=1e-9)
    assert list(r.series["loss"]["x"]) == list(range(steps + 1))


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_beta_zero_reproduces_gd_exactly(optimizer):
    a = run("minimize", dim=20, complexity=4, optimizer="gd", steps=200)
    b = run("minimize", dim=20, complexity=4, optimizer=optimizer, beta=0.0, steps=200)
    assert a.series["loss"] == b.series["loss"]
    assert a.series["distance"] == b.series["distance"]


@pytest.mark.parametrize("optimizer, nesterov", [("momentum", False), ("nesterov", True)])
def test_momentum_matches_torch_sgd(optimizer, nesterov):
    lr, beta, steps, dim = 0.01, 0.9, 100, 6
    r = run(
        "minimize", dtype="float64", dim=dim, complexity=3, optimizer=optimizer, lr=lr, beta=beta, steps=steps, seed=9
    )
    land = generate_function(dim, 3, seed=9)
    p = land.start.clone().requires_grad_(True)
    opt = torch.optim.SGD([p], lr=lr, momentum=beta, nesterov=nesterov)
    ours = r.series["loss"]["y"]
    v = torch.zeros(dim, dtype=torch.float64)
    for t in range(steps + 1):
        # SGD's parameter is w_t for momentum, and the look-ahead w_t + beta v_t for Nesterov,
        # with v_t = -lr * (SGD's buffer); so recover w_t to compare f(w_t).
        w = p.detach() - beta * v if nesterov else p.detach()
        assert ours[t] == pytest.approx(float(land(w)), rel=1e-9, abs=1e-12)
        opt.zero_grad()
        land(p).backward()
        opt.step()
        v = -lr * opt.state[p]["momentum_buffer"]


def test_minimize_divergence_stops_with_the_step():
    r = run("minimize", dim=3, complexity=1, lr=5.0, steps=500)
    assert r.status == "diverged"
    assert r.step is not None and r.step > 0
    assert "lr" in r.message
    ys = r.series["loss"]["y"]
    assert len(ys) == r.step and all(math.isfinite(y) for y in ys)


def test_seed_determinism_and_sensitivity():
    a = run("minimize", dim=10, complexity=5, seed=1, steps=50)
    b = run("minimize", dim=10, complexity=5, seed=1, steps=50)
    c = run("minimize", dim=10, complexity=5, seed=2, steps=50)
    assert a.series == b.series
    assert a.series["loss"] != c.series["loss"]


def test_minimize_dim_two_has_trajectory_and_landscape():
    r = run("minimize", dim=2, steps=30)
    assert len(r.series["trajectory"]["x"]) == 31
    grid = r.artifacts["landscape"]
    assert len(grid["z"]) == len(grid["y"]) and len(grid["z"][0]) == len(grid["x"])


def test_minimize_large_dim_and_steps_to_tol():
    r = run("minimize", dim=10_000, complexity=2, steps=1000, tol=1e-3)
    assert r.status == "ok"
    assert r.metrics["converged"] is True
    assert r.metrics["steps_to_tol"] is not None
    assert r.series["loss"]["y"][r.metrics["steps_to_tol"]] <= 1e-3


@pytest.mark.slow  # the defaults on every level: test_optimization_theory's test_levels_get_harder_at_the_default_settings
def test_default_lr_converges_on_every_level():
    for level in (1, 2, 3):
        r = run("minimize", dim=50, complexity=level, steps=3000)
        assert r.status == "ok" and r.metrics["converged"], level
    for level in (4, 5):
        r = run("minimize", dim=50, complexity=level, steps=3000)
        assert r.status == "ok", level  # may settle in a local minimum, must not diverge


def test_sweep_is_the_cartesian_product():
    spec = TASKS["minimize"].spec
    results = list(sweep("minimize", spec.parse({"steps": 20}), {"dim": [2, 5], "complexity": [1, 2, 3]}))
    assert [c for c, _ in results] == [{"dim": d, "complexity": k} for d in (2, 5) for k in (1, 2, 3)]
    assert all(r.params["dim"] == c["dim"] and r.params["complexity"] == c["complexity"] for c, r in results)


def test_cancel_keeps_partial_series():
    ctx = RunContext()
    spec = TASKS["minimize"].spec
    seen = []

    def on_event(event):
        from lab4.core.events import Points

        if isinstance(event, Points) and event.series == "loss":
            seen.append(event)
            if len(seen) > 2:
                ctx.cancel()

    r = execute("minimize", spec.parse({"steps": 100000, "dim": 3}), ctx, on_event)
    assert r.status == "cancelled"
    assert 0 < len(r.series["loss"]["y"]) < 100001


def test_contour_points_lie_on_their_level():
    from lab4.present.plotting import contour_points

    xs = [i / 10 for i in range(-20, 21)]
    ys = xs
    z = [[x * x + y * y for x in xs] for y in ys]  # circles: x^2 + y^2 = level
    sets = contour_points(xs, ys, z, levels=3)
    assert len(sets) == 3
    for level, (px, py) in sets:
        for x, y in zip(px, py):
            assert abs(x * x + y * y - level) < 0.05  # linear interpolation on a 0.1 grid
