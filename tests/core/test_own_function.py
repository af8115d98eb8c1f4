"""Task 3 on your own function: the expression, its start and minimum, the theory from the
autograd Hessian, against analytic references (Rosenbrock's gradient and Hessian by hand,
Booth's quadratic, the saddle's +-2)."""

import json
import math

import pytest
import torch
from click.testing import CliRunner

from lab4.cli.main import main
from lab4.core.comparison import compare_text, parse_compare
from lab4.core.context import RunContext
from lab4.core.spec import ParamError
from lab4.engine.runner import execute, sweep
from lab4.maths.landscapes import hessian_at, own_function
from lab4.tasks import TASKS
from lab4.tasks.minimize import FUNCTIONS

SPEC = TASKS["minimize"].spec
ROSENBROCK, BOOTH, SADDLE = FUNCTIONS["rosenbrock"][0], FUNCTIONS["booth"][0], FUNCTIONS["saddle"][0]


def run(dtype="float64", **params):
    return execute("minimize", SPEC.parse(params), RunContext(dtype=dtype))


@pytest.mark.parametrize("x, y", [(-1.5, 2.0), (0.3, -0.7), (1.0, 1.0)])
def test_rosenbrock_gradient_and_hessian_by_hand(x, y):
    f = own_function(ROSENBROCK, {"x": x, "y": y})
    w = f.start.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(w), w)
    by_hand = [-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)]
    assert grad.tolist() == pytest.approx(by_hand, rel=1e-12, abs=1e-12)
    hess = hessian_at(f, f.start)
    by_hand = [2 - 400 * (y - 3 * x * x), -400 * x, -400 * x, 200]
    assert hess.flatten().tolist() == pytest.approx(by_hand, rel=1e-12)
    assert torch.equal(hess, torch.func.hessian(f)(f.start))  # the same numbers as torch.func's


def test_rosenbrock_run_states_the_curvature_at_the_start_and_at_the_end():
    r = run(
        expr=ROSENBROCK, start="x=-1.5, y=2", minimum="x=1, y=1", optimizer="momentum", lr=0.0005, beta=0.9, steps=5000
    )
    assert r.status == "ok"
    lams = sorted(torch.linalg.eigvalsh(torch.tensor([[1902.0, 600.0], [600.0, 200.0]], dtype=torch.float64)).tolist())
    assert (r.metrics["mu_start"], r.metrics["L_start"]) == pytest.approx(lams, rel=1e-12)
    assert r.metrics["steps_to_tol"] is not None
    x, y = r.metrics["final_point"]["x"], r.metrics["final_point"]["y"]
    assert math.hypot(x - 1, y - 1) == pytest.approx(r.metrics["final_distance"], rel=1e-9)
    at_min = torch.linalg.eigvalsh(torch.tensor([[802.0, -400.0], [-400.0, 200.0]], dtype=torch.float64)).tolist()
    assert r.metrics["L"] == pytest.approx(max(at_min), rel=1e-3)  # the Hessian at the point reached, near (1, 1)
    assert r.metrics["kappa"] == pytest.approx(max(at_min) / min(at_min), rel=1e-2)
    loss = r.series["loss"]["y"]
    assert loss[0] == pytest.approx(12.5) and loss[-1] < 1e-6


def test_booth_is_a_quadratic_with_known_minimum_and_hessian():
    """Booth: H = [[10, 8], [8, 10]] everywhere (eigenvalues 2 and 18), minimum (1, 3); gd at
    lr = optimal = 2 / (18 + 2) = 0.1 converges at (kappa - 1) / (kappa + 1) = 0.8."""
    f = own_function(BOOTH, {"x": 0.3, "y": -4.0})
    assert hessian_at(f, f.start).tolist() == [[10.0, 8.0], [8.0, 10.0]]
    r = run(expr=BOOTH, start="x=-3, y=-2", minimum="x=1, y=3", lr="optimal", steps=200, tol=1e-20)
    assert r.params["lr"] == pytest.approx(0.1, rel=1e-12)
    assert (r.metrics["L"], r.metrics["mu"], r.metrics["kappa"]) == pytest.approx((18.0, 2.0, 9.0), rel=1e-12)
    assert r.metrics["rate_theory"] == pytest.approx(0.8, rel=1e-12)
    assert r.metrics["rate_measured"] == pytest.approx(0.8, rel=1e-3)
    assert r.metrics["final_point"] == pytest.approx({"x": 1.0, "y": 3.0}, abs=1e-9)
    assert r.metrics["end_positive_definite"] and r.metrics["stationary"]
    # the distance is to the given minimum, from the start: ||(-3, -2) - (1, 3)||
    assert r.series["distance"]["y"][0] == pytest.approx(math.hypot(4, 5), rel=1e-12)


def test_without_a_minimum_f_star_and_the_distance_come_from_the_best_point():
    r = run(expr=BOOTH, start="x=-3, y=-2", lr=0.1, steps=300)
    loss, distance = r.series["loss"]["y"], r.series["distance"]["y"]
    best = min(range(len(loss)), key=loss.__getitem__)
    assert loss[best] == 0.0 and distance[best] == 0.0
    f0 = (-3 + 2 * -2 - 7) ** 2 + (2 * -3 - 2 - 5) ** 2  # f(start) = 365
    assert loss[0] == pytest.approx(f0 - 0.0, abs=1e-9)  # the best found is Booth's minimum, f = 0
    assert distance[0] == pytest.approx(math.hypot(4, 5), rel=1e-6)


def test_the_saddle_is_indefinite_and_says_so():
    f = own_function(SADDLE, {"x": 1.0, "y": 0.01})
    assert torch.linalg.eigvalsh(hessian_at(f, f.start)).tolist() == [-2.0, 2.0]
    off = run(expr=SADDLE, start="x=1, y=0.01", lr=0.1, steps=200)
    assert (off.metrics["mu_start"], off.metrics["L_start"]) == (-2.0, 2.0)
    assert off.status == "diverged"  # y grows x1.2 a step: f falls without bound
    ys = off.series["f"]["y"]
    assert abs(ys[-1]) <= 1e6 * abs(ys[0]) and off.step == len(ys)
    assert any("indefinite" in o for o in off.observations)
    on = run(expr=SADDLE, start="x=1, y=0", lr=0.1, steps=200)  # on the axis gd walks into the saddle point
    assert on.status == "ok" and on.metrics["stationary"] and not on.metrics["end_positive_definite"]
    assert on.metrics["final_point"]["x"] == pytest.approx(0.8**200, abs=1e-15)
    assert on.metrics["L"] is None and on.metrics["rate_theory"] is None  # no minimum's curvature: no theory


def test_a_run_that_does_not_reach_a_minimum_is_not_stationary():
    r = run(expr=ROSENBROCK, start="x=-1.5, y=2", minimum="x=1, y=1", lr=0.0005, steps=50)
    assert not r.metrics["stationary"]
    assert r.metrics["grad_norm_end"] > 1e-3 * r.metrics["grad_norm_start"]


def test_lr_optimal_refuses_an_indefinite_hessian():
    r = run(expr=SADDLE, start="x=1, y=0.01", lr="optimal")
    assert r.status == "error" and "positive definite" in r.message


@pytest.mark.parametrize(
    "values, field, words",
    [
        ({"expr": "x**2 + y**2", "start": "x=1"}, "start", "needs a value for y"),
        ({"expr": "x**2", "start": "x=1, z=2"}, "start", "does not use"),
        ({"expr": "x**2", "start": "x=1", "minimum": "y=0"}, "minimum", "needs a value for x"),
        ({"start": "x=1"}, "start", "give --expr"),
        ({"expr": "2", "start": ""}, "expr", "at least one variable"),
    ],
)
def test_start_and_minimum_must_fit_the_expression(values, field, words):
    with pytest.raises(ParamError) as err:
        SPEC.parse(values)
    assert err.value.param == field and words in err.value.message


def test_generate_function_stays_the_default():
    assert SPEC.defaults()["expr"] == "" and SPEC.defaults()["start"] == {}
    r = run(steps=20)
    assert r.metrics["kappa"] == 1.0 and "expr" in r.params


def test_presets_survive_the_compare_text_and_run():
    """A preset reaches the app as compare text: assignments and expressions written with
    spaces used to split into entries ("start=x=-1.5, y=2" -> "y=2" an unknown parameter)."""
    presets = TASKS["minimize"].presets
    for label in ("Rosenbrock: gd vs momentum vs nesterov", "a saddle x**2 - y**2: from on and off its axis"):
        axes = presets[label]
        assert parse_compare(SPEC, compare_text(SPEC, axes)) == axes, label
    axes = dict(presets["Booth (a quadratic): gd vs momentum vs nesterov"])
    results = [r for _, r in sweep("minimize", SPEC.parse({}), axes, RunContext(dtype="float64"))]
    assert [r.params["optimizer"] for r in results] == ["gd", "momentum", "nesterov"]
    for r in results:
        assert r.metrics["final_point"] == pytest.approx({"x": 1.0, "y": 3.0}, abs=1e-3)


def test_cli_runs_your_own_function(tmp_path):
    out = CliRunner().invoke(
        main,
        [
            "run",
            "minimize",
            "--expr",
            "(1-x)**2 + 100*(y-x**2)**2",
            "--start",
            "x=-1.5, y=2",
            "--lr",
            "0.0005",
            "--steps",
            "100",
            "--json",
            "--no-save",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["params"]["start"] == {"x": -1.5, "y": 2.0} and data["params"]["minimum"] == {}
    assert len(data["series"]["trajectory"]["x"]) == 101
    land = data["artifacts"]["landscape"]
    assert land["start"] == [-1.5, 2.0]
    bad = CliRunner().invoke(main, ["run", "minimize", "--expr", "x**2", "--start", "y=1"])
    assert bad.exit_code == 2 and "--start" in bad.output


def test_a_function_still_falling_has_no_steps_to_tol_and_a_start_outside_the_domain_stops():
    """x + y falls without bound: its best point is always the last one, so "reached f - f* <= tol"
    would be true by definition (it used to say so at the last step)."""
    linear = run(expr="x + y", start="x=0, y=0", lr=0.25, steps=100)
    assert linear.metrics["steps_to_tol"] is None and not linear.metrics["stationary"]
    assert linear.series["f"]["y"][-1] == pytest.approx(-0.25 * 2 * 100)  # f falls by lr * |grad|^2 a step
    outside = run(expr="log(x)", start="x=-1")
    assert outside.status == "diverged" and outside.step == 0 and "domain" in outside.message
