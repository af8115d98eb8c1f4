"""Optimization theory beside every curve, each formula against an independent computation:
eigvalsh of an autograd Hessian, rates fitted on float64 runs, torch.func.hessian of a
network's loss."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from lab4.cli.main import main
from lab4.core.context import RunContext
from lab4.engine.runner import execute, sweep
from lab4.maths.landscapes import curvature, generate_function
from lab4.maths.optim_theory import rate
from lab4.tasks import TASKS

SPEC = TASKS["minimize"].spec


def run(dtype="float64", seed=0, **params):
    return execute("minimize", SPEC.parse(params), RunContext(dtype=dtype, seed=seed))


def textbook_lr(optimizer, big, small):
    """The optimal step on the spectrum [small, big]: 2/(L+mu) (gd), 4/(sqrt L+sqrt mu)^2 (Polyak's
    heavy ball), 4/(3L+mu) (Nesterov, Lessard, Recht and Packard 2016)."""
    return {
        "gd": 2 / (big + small),
        "momentum": 4 / (math.sqrt(big) + math.sqrt(small)) ** 2,
        "nesterov": 4 / (3 * big + small),
    }[optimizer]


def hessian_spectrum(dim, level, seed=0):
    f = generate_function(dim, level, seed=seed)
    return torch.linalg.eigvalsh(torch.func.hessian(f)(f.center.double())).tolist()


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("dim", [1, 2, 3, 10, 40])
def test_curvature_at_the_optimum_is_the_hessians(level, dim):
    f = generate_function(dim, level, seed=7)
    eig = torch.linalg.eigvalsh(torch.func.hessian(f)(f.center))
    big, small, kappa = curvature(dim, level)
    assert big == pytest.approx(float(eig.max()), rel=1e-10) == pytest.approx(2.0)  # L = 2 at every level
    assert small == pytest.approx(float(eig.min()), rel=1e-10)
    assert kappa == pytest.approx(float(eig.max() / eig.min()), rel=1e-10)


def test_kappa_and_dimension():
    assert [curvature(n, 2)[2] for n in (2, 10, 1000)] == pytest.approx([10, 10, 10])  # no dim dependence
    chain = [curvature(n, 3)[2] for n in (2, 3, 10, 100, 10000)]
    assert chain == sorted(chain) and chain[0] == pytest.approx(21) and chain[-1] < 41  # grows with dim, to 41
    assert curvature(2, 4)[2] > curvature(2, 3)[2]  # the valley is narrower than the chain


def test_levels_get_harder_at_the_default_settings():
    steps = [run("float32", complexity=k).metrics["steps_to_tol"] for k in range(1, 6)]
    assert None not in steps[:4] and steps[:4] == sorted(steps[:4]) and len(set(steps[:4])) == 4, steps
    five = run("float32", complexity=5)
    assert five.metrics["steps_to_tol"] is None  # caught in a ripple's local minimum
    assert any("local minimum" in o for o in five.observations)


@pytest.mark.parametrize(
    "optimizer, expected",
    [
        ("gd", lambda k: (k - 1) / (k + 1)),
        ("momentum", lambda k: (math.sqrt(k) - 1) / (math.sqrt(k) + 1)),
        ("nesterov", lambda k: 1 - 2 / math.sqrt(3 * k + 1)),
    ],
)
def test_optimal_parameters_reach_the_optimal_rate(optimizer, expected):
    r = run(dim=40, complexity=2, optimizer=optimizer, lr="optimal", beta="optimal", steps=400, tol=1e-30)
    kappa = r.metrics["kappa"]
    assert kappa == pytest.approx(10)
    assert r.metrics["rate_theory"] == pytest.approx(expected(kappa), rel=1e-7)  # a double root: sqrt(~0)
    # measured on the float64 run; heavy ball's double root (error ~ t rho^t) reads a little slower
    assert r.metrics["rate_measured"] == pytest.approx(expected(kappa), rel=0.04 if optimizer != "gd" else 1e-3)
    assert r.params["lr"] == pytest.approx(textbook_lr(optimizer, 2.0, 0.2)) and isinstance(r.params["lr"], float)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_the_predicted_steps_at_the_optimum_are_what_a_run_there_takes(level):
    """The sentence a default run prints about its optimum, checked by running at that optimum.
    Level 1 (kappa = 1) used to say "about 0 steps"; the optimal step lands on c in one."""
    said = [o for o in run("float32", complexity=level).observations if o.startswith("At its optimal parameters")]
    at_optimum = run("float32", complexity=level, lr="optimal").metrics["steps_to_tol"]
    assert len(said) == 1
    if level == 1:
        assert "in one step" in said[0] and at_optimum == 1
    else:
        predicted = int(said[0].split("about ")[1].split(" steps")[0])
        assert abs(predicted - at_optimum) <= 1, (said[0], at_optimum)
    lams = hessian_spectrum(2, level)
    kappa = max(lams) / min(lams)
    rho = (kappa - 1) / (kappa + 1)  # gd's rate at lr = 2 / (L + mu), from the autograd Hessian
    if level == 1:
        assert rho == pytest.approx(0, abs=1e-12) and "rate 0: kappa = 1" in said[0]
    else:
        assert float(said[0].split("rate ")[1].split(":")[0]) == pytest.approx(rho, rel=1e-3)


@pytest.mark.parametrize("optimizer, lr, beta", [("gd", 0.3, 0.0), ("momentum", 0.4, 0.5), ("nesterov", 0.7, 0.3)])
def test_rate_theory_is_the_measured_rate_at_any_parameters(optimizer, lr, beta):
    r = run(dim=30, complexity=3, optimizer=optimizer, lr=lr, beta=beta, steps=600, tol=1e-30)
    assert r.metrics["rate_measured"] == pytest.approx(r.metrics["rate_theory"], rel=0.01)
    # independent: the spectral radius of the 2x2 companion matrices, by numpy eigenvalues
    import numpy as np

    f = generate_function(30, 3, 0)
    lams = torch.linalg.eigvalsh(torch.func.hessian(f)(f.center)).tolist()
    radius = 0.0
    for lam in lams:
        if optimizer == "gd":
            m = np.array([[1 - lr * lam]])
        elif optimizer == "momentum":
            m = np.array([[1 + beta - lr * lam, -beta], [1, 0]])
        else:
            m = np.array([[(1 + beta) * (1 - lr * lam), -beta * (1 - lr * lam)], [1, 0]])
        radius = max(radius, max(abs(np.linalg.eigvals(m))))
    assert r.metrics["rate_theory"] == pytest.approx(radius, rel=1e-9)


def test_an_unstable_run_is_warned_and_stopped_when_it_grows():
    params = {"complexity": 2, "optimizer": "nesterov", "lr": 1.5}
    warnings = TASKS["minimize"].preflight(SPEC.parse(params))
    assert warnings and "unstable" in warnings[0]
    r = run("float32", **params)
    predicted = int(warnings[0].split("by step ~")[1].split(".")[0])
    assert r.status == "diverged" and r.step <= predicted + 2  # was "diverged at step 280" (overflow only)
    assert "grew more than 1e+06" in r.message
    assert r.observations[1].startswith("Warning: ")
    assert not TASKS["minimize"].preflight(SPEC.parse({"complexity": 2}))
    assert not r.metrics["stable"] and run("float32", complexity=2).metrics["stable"]


def test_lr_optimal_through_the_cli_and_the_compare_text(tmp_path):
    out = CliRunner().invoke(
        main, ["run", "minimize", "--complexity", "3", "--lr", "optimal", "--json", "--data-dir", str(tmp_path)]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["params"]["lr"] == pytest.approx(2 / (2 + curvature(2, 3)[1]))
    assert any(o.startswith("lr = optimal: ") for o in data["observations"])
    results = [
        r for _, r in sweep("minimize", SPEC.parse({"complexity": 2}), {"lr": SPEC["lr"].sweep_values("optimal,0.01")})
    ]
    assert [r.label for r in results] == ["lr=optimal", "lr=0.01"]
    assert results[0].params["lr"] == pytest.approx(2 / 2.2) and results[1].params["lr"] == 0.01
    bad = CliRunner().invoke(main, ["run", "minimize", "--lr", "best"])
    assert bad.exit_code == 2 and "must be a number or optimal" in bad.output


def test_the_preset_runs_each_optimizer_at_its_optimum():
    axes = TASKS["minimize"].presets["each at its optimal (lr, beta)"]
    results = [r for _, r in sweep("minimize", SPEC.parse({"complexity": 3}), axes)]
    assert [r.params["optimizer"] for r in results] == ["gd", "momentum", "nesterov"]
    lams = hessian_spectrum(2, 3)
    for r in results:
        assert r.params["lr"] == pytest.approx(textbook_lr(r.params["optimizer"], max(lams), min(lams)))
        assert r.metrics["steps_to_tol"] is not None
    assert results[1].metrics["steps_to_tol"] < results[0].metrics["steps_to_tol"]  # heavy ball beats gd


def test_phase_diagram():
    r = run("float32", complexity=3, optimizer="momentum", lr=0.5, beta=0.6)
    phase = r.artifacts["phase"]
    assert phase["rows"] == "beta" and len(phase["rate"]) == len(phase["beta"])
    assert all(len(row) == len(phase["lr"]) for row in phase["rate"])
    j = min(range(len(phase["beta"])), key=lambda k: abs(phase["beta"][k] - 0.0))
    i = min(range(len(phase["lr"])), key=lambda k: abs(phase["lr"][k] - 1.0))
    f = generate_function(2, 3, 0)
    lams = torch.linalg.eigvalsh(torch.func.hessian(f)(f.center)).tolist()
    gd_rate = max(abs(1 - phase["lr"][i] * lam) for lam in lams)
    # the beta = 0 row is gradient descent (the drawn map keeps 6 significant digits)
    assert phase["rate"][j][i] == pytest.approx(gd_rate, rel=1e-6)
    assert phase["run"] == {"lr": 0.5, "beta": 0.6, "rate": pytest.approx(r.metrics["rate_theory"])}
    best = phase["optimal"]
    assert best["rate"] == pytest.approx(rate("momentum", best["lr"], best["beta"], lams), rel=1e-6)
    assert min(min(row) for row in phase["rate"]) >= best["rate"] - 1e-3  # nothing on the grid beats it


def test_theory_is_drawn_over_the_curves():
    r = run(complexity=2, steps=200)
    rho = r.metrics["rate_theory"]
    theory, loss = r.series["theory loss"], r.series["loss"]
    assert theory["y"][0] == loss["y"][0]
    t = theory["x"][10]
    assert theory["y"][10] == pytest.approx(loss["y"][0] * rho ** (2 * t), rel=1e-9)
    assert min(theory["y"]) > min(v for v in loss["y"] if v > 0) / 10 / 1.0001


def test_sharpness_is_the_top_eigenvalue_of_the_loss_hessian():
    from lab4.maths.curvature import top_eigenvalue
    from lab4.maths.training import forward, init_mlp

    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 2, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=g)
    weights = init_mlp([2, 4, 3], "tanh", 0, "cpu", torch.float64)
    shapes = [w.shape for w in weights]

    def flat_loss(theta):
        parts, at = [], 0
        for shape in shapes:
            n = math.prod(shape)
            parts.append(theta[at : at + n].reshape(shape))
            at += n
        return F.cross_entropy(forward(parts, x, "tanh"), y)

    theta = torch.cat([w.reshape(-1) for w in weights])
    eig = torch.linalg.eigvalsh(torch.func.hessian(flat_loss)(theta))
    result = top_eigenvalue(lambda p: F.cross_entropy(forward(p, x, "tanh"), y), weights, 300, tol=1e-8)
    assert result.converged
    assert result.value == pytest.approx(float(eig.max()), rel=1e-6)  # the largest algebraic, signed


def test_training_records_the_sharpness_against_the_edge():
    r = execute(
        "mlp",
        TASKS["mlp"].spec.parse({"steps": 200, "hidden": "16", "optimizer": "gd", "lr": 0.5, "sharpness_every": 50}),
        RunContext(),
    )
    assert list(r.series["sharpness"]["x"]) == [0, 50, 100, 150, 200]
    assert r.metrics["stability_edge"] == pytest.approx(2 / 0.5)
    assert list(r.series["theory edge"]["y"]) == [4.0, 4.0]
    assert r.metrics["sharpness_final"] == r.series["sharpness"]["y"][-1]
    off = execute("mlp", TASKS["mlp"].spec.parse({"steps": 20, "hidden": "8", "sharpness_every": 0}), RunContext())
    assert "sharpness" not in off.series and off.metrics["sharpness_final"] is None
