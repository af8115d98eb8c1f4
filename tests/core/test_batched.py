"""Runs batched into one computation (lab4.maths.batched) against the same runs one after
another through the normal runner: float64, the same numbers."""

import json
import math

import pytest
import torch
from click.testing import CliRunner

from lab4.cli.main import main
from lab4.core.context import RunContext
from lab4.engine.runner import sweep
from lab4.maths.batched import divergence_step, fit_rates
from lab4.maths.optim_theory import fit_rate
from lab4.tasks import TASKS
from tests import sampled

SPEC = TASKS["minimize"].spec


def both(base, axes, dtype="float64"):
    params = SPEC.parse(base)
    one_by_one = [r for _, r in sweep("minimize", params, axes, RunContext(dtype=dtype))]
    batched = [r for _, r in sweep("minimize", params, axes, RunContext(dtype=dtype), batched=True)]
    return one_by_one, batched


def max_difference(a, b):
    """The largest |difference| between the loss curves (and every other series) of paired runs;
    the runs must stop at the same step with the same status."""
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        assert (x.status, x.step) == (y.status, y.step)
        assert x.series.keys() == y.series.keys()
        for name in x.series:
            xs, ys = x.series[name]["y"], y.series[name]["y"]
            assert x.series[name]["x"] == y.series[name]["x"], name
            worst = max(worst, max((abs(u - v) for u, v in zip(xs, ys)), default=0.0))
    return worst


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "nesterov"])
@pytest.mark.parametrize("complexity", sampled([1, 3, 4]))
def test_a_grid_of_lr_and_beta_is_the_same_runs_one_after_another(optimizer, complexity):
    # lr up to 2.4 at L = 2: a stable corner, the heavy-ball edge and cells that diverge
    axes = {"lr": [0.05, 0.6, 1.3, 2.4], "beta": [0.0, 0.5, 0.95]}
    a, b = both({"dim": 2, "complexity": complexity, "optimizer": optimizer, "steps": 300}, axes)
    assert {r.status for r in a} >= {"ok", "diverged"}  # the grid holds both kinds of cells
    assert max_difference(a, b) == 0.0
    for x, y in zip(a, b):
        assert x.metrics == y.metrics and x.observations == y.observations and x.artifacts == y.artifacts


def test_rippled_level_five_is_within_a_few_ulps():
    """cos over a batch runs torch's vectorised kernel, over one run's 2 values the scalar libm
    one: they may round differently in the last bit (the docstring of lab4.maths.batched)."""
    a, b = both(
        {"dim": 2, "complexity": 5, "optimizer": "momentum", "steps": 200}, {"lr": [0.1, 0.4], "beta": [0.3, 0.8]}
    )
    for x, y in zip(a, b):
        for u, v in zip(x.series["loss"]["y"], y.series["loss"]["y"]):
            assert abs(u - v) <= 8 * torch.finfo(torch.float64).eps * max(abs(u), 1e-300)


def test_seeds_are_batched_too():
    a, b = both(
        {"dim": 5, "complexity": 2, "optimizer": "nesterov", "steps": 150, "lr": 0.7, "beta": 0.4}, {"seed": [0, 1, 7]}
    )
    assert len({tuple(r.series["loss"]["y"][:3]) for r in a}) == 3  # three different functions
    assert max_difference(a, b) == 0.0


def test_your_own_function_batched():
    base = {"expr": "(1-x)**2 + 100*(y-x**2)**2", "start": "x=-1.5, y=2", "optimizer": "momentum", "steps": 400}
    a, b = both(base, {"lr": [0.0002, 0.0008, 0.003], "beta": [0.0, 0.9]})
    assert max_difference(a, b) == 0.0
    a, b = both(
        {**base, "minimum": "x=1, y=1"},
        {"lr": [0.0002, 0.0008], "start": [{"x": -1.5, "y": 2.0}, {"x": 0.0, "y": 0.0}]},
    )
    assert max_difference(a, b) == 0.0


def test_fit_rates_is_fit_rate_on_every_row():
    g = torch.Generator().manual_seed(3)
    rows = []
    for k in range(12):
        rho = 0.5 + 0.04 * k
        t = torch.arange(400, dtype=torch.float64)
        noise = 1 + 0.01 * torch.rand(400, generator=g, dtype=torch.float64)
        rows.append((3.0 * rho**t * (1 + t) ** (k % 3) * noise).tolist())
    rows.append([1.0] * 400)  # a plateau: no rate
    rows.append([2.0, 1.0] + [math.inf] * 398)  # diverged at once
    ends = torch.tensor([400] * 12 + [400, 2])
    got = fit_rates(torch.tensor(rows), ends, 1e-16).tolist()
    for row, end, value in zip(rows, ends.tolist(), got):
        expected = fit_rate(row[:end], 1e-16)
        if expected is None:
            assert math.isnan(value)
        else:
            assert value == pytest.approx(expected, rel=1e-8)  # log by a vectorised kernel, sums reordered


def test_divergence_step_is_where_the_recorder_stops():
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 5e6, 1.0, 1.0], [1.0, 2.0, math.nan, 1.0], [0.0, 1e9, 1.0, 1.0]])
    assert divergence_step(values, 1e6).tolist() == [4, 1, 2, 4]


def test_cli_batched_sweep_is_the_sweep(tmp_path):
    args = [
        "sweep",
        "minimize",
        "--lr",
        "0.1,0.9,2.5",
        "--beta",
        "0,0.7",
        "--optimizer",
        "momentum",
        "--steps",
        "100",
        "--dtype",
        "float64",
        "--json",
        "--no-save",
    ]
    plain = CliRunner().invoke(main, args)
    fast = CliRunner().invoke(main, args + ["--batched"])
    assert plain.exit_code == 0 and fast.exit_code == 0, fast.output
    runs_a, runs_b = json.loads(plain.output)["runs"], json.loads(fast.output)["runs"]
    assert [r["series"] for r in runs_a] == [r["series"] for r in runs_b]
    assert [r["status"] for r in runs_a] == [r["status"] for r in runs_b]
    refused = CliRunner().invoke(
        main, ["sweep", "minimize", "--lr", "0.1,0.2", "--dim", "2,3", "--batched", "--no-save"]
    )
    assert refused.exit_code == 2 and "this sweep varies dim" in refused.output
    other = CliRunner().invoke(main, ["sweep", "autograd", "--batched"])
    assert other.exit_code == 2 and "No such option '--batched'" in other.output


# ---- the measured phase map (the Phase view): batched runs over (lr, beta) beside the theory


def cell_of(values, x):
    return min(range(len(values)), key=lambda k: abs(values[k] - x))


@pytest.mark.parametrize("complexity", [1, 2, 3])
@pytest.mark.parametrize("optimizer", ["gd", "nesterov"])
def test_measured_map_agrees_with_the_theory_on_quadratics(complexity, optimizer):
    """Levels 1-3 are quadratics: each cell's measured rate is the spectral radius of the 2x2
    recurrence (numpy eigenvalues, apart from the code's formula), and the lowest measured rate
    sits within two cells of the theory's optimum."""
    import numpy as np

    from lab4.maths.landscapes import generate_function

    r = sweep_one({"complexity": complexity, "optimizer": optimizer})
    phase = r.artifacts["phase"]
    m, kind = phase["measured"], phase["optimizer"]
    assert len(m["lr"]) * len(m["beta"]) == m["runs"] == 441 and m["steps"] == 200
    f = generate_function(2, complexity, 0)
    lams = torch.linalg.eigvalsh(torch.func.hessian(f)(f.center)).tolist()

    def radius(lr, beta):
        worst = 0.0
        for lam in lams:
            if kind == "momentum":
                mat = np.array([[1 + beta - lr * lam, -beta], [1, 0]])
            else:
                mat = np.array([[(1 + beta) * (1 - lr * lam), -beta * (1 - lr * lam)], [1, 0]])
            worst = max(worst, max(abs(np.linalg.eigvals(mat))))
        return worst

    deviations = []
    for j, beta in enumerate(m["beta"]):
        for i, lr in enumerate(m["lr"]):
            theory = radius(lr, beta)
            if m["diverged"][j][i] is not None:
                assert theory > 0.99, (lr, beta, theory)  # only where the theory says it may
            elif m["rate"][j][i] is not None and 0.2 < theory < 0.97:
                deviations.append(abs(m["rate"][j][i] - theory))
    assert len(deviations) > 100
    assert np.median(deviations) < 5e-3 and np.percentile(deviations, 90) < 2e-2
    best, theory_best = m["optimal"], phase["optimal"]
    assert abs(cell_of(m["lr"], best["lr"]) - cell_of(m["lr"], theory_best["lr"])) <= 2
    assert abs(cell_of(m["beta"], best["beta"]) - cell_of(m["beta"], theory_best["beta"])) <= 2
    assert best["rate"] == pytest.approx(theory_best["rate"], abs=0.1)


def sweep_one(params, dtype="float64"):
    return [r for _, r in sweep("minimize", SPEC.parse(params), {}, RunContext(dtype=dtype))][0]


def test_level_four_map_shows_the_heavy_ball_divergence_at_the_theorys_optimum():
    """The README's level-4 case: the optimal heavy ball for c's curvature diverges (the valley is
    steeper away from c). The measured map shows it at the theory's optimum, which the theory
    calls stable, and finds its best cell at a smaller lr."""
    r = sweep_one({"complexity": 4, "optimizer": "momentum", "lr": "optimal", "beta": "optimal"}, "float32")
    assert r.status == "diverged"
    phase = r.artifacts["phase"]
    m, best = phase["measured"], phase["optimal"]
    i, j = cell_of(m["lr"], best["lr"]), cell_of(m["beta"], best["beta"])
    assert (
        m["diverged"][j][i] is not None
        and phase["rate"][cell_of(phase["beta"], best["beta"])][cell_of(phase["lr"], best["lr"])] < 1
    )
    assert (
        m["optimal"]["lr"] < best["lr"]
        and m["diverged"][cell_of(m["beta"], m["optimal"]["beta"])][cell_of(m["lr"], m["optimal"]["lr"])] is None
    )


def test_your_own_function_has_a_measured_map_and_the_saddle_no_theory():
    booth = sweep_one({"expr": "(x+2*y-7)**2 + (2*x+y-5)**2", "start": "x=-3, y=-2", "lr": 0.05, "steps": 300})
    phase = booth.artifacts["phase"]  # Booth's Hessian [[10, 8], [8, 10]]: eigenvalues 2 and 18
    assert phase["theory_at"] == "the point reached" and phase["measured"]["runs"] == 441
    lr, beta = phase["optimal"]["lr"], phase["optimal"]["beta"]
    assert lr == pytest.approx((2 / (18**0.5 + 2**0.5)) ** 2) and beta == pytest.approx(((3 - 1) / (3 + 1)) ** 2)
    m = phase["measured"]
    assert abs(cell_of(m["lr"], m["optimal"]["lr"]) - cell_of(m["lr"], lr)) <= 2
    assert abs(cell_of(m["beta"], m["optimal"]["beta"]) - cell_of(m["beta"], beta)) <= 2
    saddle = sweep_one({"expr": "x**2 - y**2", "start": "x=1, y=0.01", "lr": 0.1, "steps": 100})
    phase = saddle.artifacts["phase"]
    assert "rate" not in phase and phase["theory_at"] is None  # indefinite: no theory to draw
    assert any(v is not None for row in phase["measured"]["diverged"] for v in row)


def test_the_map_is_small_and_computed_once_for_a_sweep():
    runs = [r for _, r in sweep("minimize", SPEC.parse({"complexity": 2}), {"lr": [0.3, 0.6]})]
    a, b = (r.artifacts["phase"]["measured"] for r in runs)
    assert a is b or a == b  # the same function and optimizer: one map
    size = len(json.dumps(runs[0].artifacts["phase"]["measured"]))
    assert size < 20_000, size
    assert all(v is None or len(repr(v)) <= 12 for row in a["rate"] for v in row)  # 6 significant digits
