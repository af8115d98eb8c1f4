"""Every claim a run prints is a finding (data) whose condition holds against the run's own
series and metrics: checked here number by number, never by reading the sentence."""

from __future__ import annotations

import math
from typing import Any

import pytest

from lab4.core.context import RunContext
from lab4.core.events import Finding, Result
from lab4.engine.runner import execute
from lab4.tasks import TASKS
from tests import sampled


def run(task_id: str, dtype: str = "float32", seed: int = 0, **params: Any) -> Result:
    result = execute(task_id, TASKS[task_id].spec.parse(params), RunContext(dtype=dtype, seed=seed))
    assert result.status in ("ok", "diverged"), result.message
    return result


def found(result: Result, name: str) -> Finding:
    matches = [f for f in result.findings if f.name == name]
    assert len(matches) == 1, [f.name for f in result.findings]
    return matches[0]


# ---- item 2: task 6's S / lr equivalence, measured where it is measurable


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scaled_mse_equivalence_is_measured_against_the_drift_of_one_ulp(dtype: str) -> None:
    """The default S = 100, lr = 0.1 (effective lr 10): chaotic, so the two trajectories part
    after ~10 steps from round-off alone; S is a learning-rate factor and the run must say so."""
    r = run("scaled-mse", dtype=dtype, steps=5, sharpness_every=0)
    f = found(r, "scale_lr_equivalence")
    assert f.holds and f.check()
    assert not any("not a plain learning-rate factor" in o for o in r.observations)
    check_scale_lr_equivalence(r, f)
    # an exact-arithmetic identity: the first step differs by round-off only (a few ulps of the weights)
    eps = 2.0**-52 if dtype == "float64" else 2.0**-23
    assert f.values["difference_1"] <= 8 * eps * f.values["size"]


def check_scale_lr_equivalence(r: Result, f: Finding) -> None:
    """The finding's numbers are the run's series: the difference of (S, lr) and (1, S lr),
    the drift of a start moved by one ulp, the steps measured while that drift is small."""
    from lab4.tasks.scaled_mse import DIFFERENCE_SERIES, DRIFT_SERIES

    v = f.values
    difference, drift = list(r.series[DIFFERENCE_SERIES]["y"]), list(r.series[DRIFT_SERIES]["y"])
    assert v["difference_1"] == difference[0] == r.metrics["scale_lr_difference"]
    assert v["drift_1"] == drift[0]
    n = v["steps_measured"]
    assert n >= 1
    assert all(d <= v["sensitive"] * v["size"] for d in drift[:n])
    if n < len(drift):
        assert drift[n] > v["sensitive"] * v["size"] and v["drift_after"] == drift[n]
    eps = 2.0**-52 if r.dtype == "float64" else 2.0**-23
    ratios = [d / max(u, eps * v["size"]) for d, u in zip(difference[:n], drift[:n])]
    assert v["ratio"] == pytest.approx(max(ratios), rel=1e-12)
    assert f.holds == (max(ratios) <= v["ratio_limit"])


# ---- item 3: a local minimum needs evidence


def test_level_4_has_no_local_minimum_to_claim() -> None:
    """Level 4 (the curved valley) has one minimum: a run stopped short is still descending."""
    r = run("minimize", dim=1000, complexity=4)
    assert r.metrics["steps_to_tol"] is None
    f = found(r, "local_minimum")
    assert not f.holds and f.check()
    assert not any("local minimum made by the ripples" in o for o in r.observations)
    check_local_minimum(r, f)


def test_a_rippled_run_that_settles_says_local_minimum_with_its_evidence() -> None:
    r = run("minimize", dim=2, complexity=5, steps=3000, dtype="float64")
    f = found(r, "local_minimum")
    assert f.holds and f.check()
    check_local_minimum(r, f)


def check_local_minimum(r: Result, f: Finding) -> None:
    """The finding's numbers against the run: its final loss and distance, and (dim 2, where
    the trajectory is kept) the gradient at the last point and at the start, by autograd on
    the landscape rebuilt here."""
    import torch

    from lab4.maths.landscapes import LEVELS, generate_function

    v = f.values
    assert v["loss"] == r.metrics["final_loss"] and v["distance"] == r.metrics["final_distance"]
    assert v["level"] == r.params["complexity"] and v["tol"] == r.params["tol"]
    assert "ripple" in LEVELS[v["rippled_level"]] and all(
        "ripple" not in LEVELS[k] for k in LEVELS if k < v["rippled_level"]
    )
    assert f.holds == (
        v["level"] >= v["rippled_level"]
        and v["gradient"] <= v["settled"] * v["gradient_start"]
        and v["loss"] >= v["far_above"] * v["tol"]
    )
    if r.params["dim"] == 2:
        dtype = getattr(torch, r.dtype)
        land = generate_function(2, r.params["complexity"], r.seed).to("cpu", dtype)
        path = r.series["trajectory"]
        for point, name in (
            (land.start, "gradient_start"),
            (torch.tensor([path["x"][-1], path["y"][-1]], dtype=dtype), "gradient"),
        ):
            p = point.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(land(p), p)
            assert v[name] == pytest.approx(float(g.norm()), rel=1e-6, abs=1e-12)


# ---- item 5: the chain rule with a variable used twice


def test_chain_rule_names_each_path_and_their_sum() -> None:
    """f = log(x) sqrt(y) + x / y at (2.5, 4): x reaches f through log (2 x 1/x = 0.8) and
    through the division (1 x 1/y = 0.25); its gradient is the sum, 1.05."""
    r = run("autograd", dtype="float64", expr="log(x)*sqrt(y) + x/y", point={"x": 2.5, "y": 4.0})
    f = found(r, "chain_rule")
    assert f.holds and f.check()
    v = f.values
    assert v["variable"] == "x" and v["count"] == 2
    by_node = {p["via"]: p for p in v["paths"]}
    assert set(by_node) == {"LogBackward0", "DivBackward0"}
    x, y = 2.5, 4.0
    assert by_node["LogBackward0"]["reaching"] == pytest.approx(math.sqrt(y), rel=1e-15)
    assert by_node["LogBackward0"]["local"] == pytest.approx(1 / x, rel=1e-15)
    assert by_node["LogBackward0"]["product"] == pytest.approx(math.sqrt(y) / x, rel=1e-15)
    assert by_node["DivBackward0"]["reaching"] == 1.0
    assert by_node["DivBackward0"]["product"] == pytest.approx(1 / y, rel=1e-15)
    assert v["gradient"] == r.metrics["gradient"]["x"] == pytest.approx(math.sqrt(y) / x + 1 / y, rel=1e-15)
    assert v["sum_of_paths"] == pytest.approx(v["gradient"], rel=1e-15)


def test_chain_rule_of_a_variable_used_once() -> None:
    r = run("autograd")  # 3x^3 - y^2 at (2, 3): x receives 36 = 3 (reaching x^3) x 12 (3 x^2)
    f = found(r, "chain_rule")
    assert f.holds and [(p["reaching"], p["local"], p["product"]) for p in f.values["paths"]] == [(3.0, 12.0, 36.0)]


# ---- item 6: a step that leaves f's domain is no disagreement


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_step_outside_the_domain_is_replaced_by_one_inside(dtype: str) -> None:
    """sqrt at 1e-6: the default h (5e-3 or 6e-6) is larger than x, f(x - h) is NaN; a step at
    x's own scale stays inside, and there autograd and the difference agree."""
    x = 1e-6
    r = run("autograd", dtype=dtype, expr="sqrt(x)", point={"x": x})
    assert r.metrics["check"] == "ok", r.observations
    assert r.metrics["central_gradient"]["x"] == pytest.approx(0.5 / math.sqrt(x), rel=1e-3)
    h = r.tables["gradient"]["rows"][0][-1]
    assert 0 < h < x  # the step actually used stays inside the domain


def test_a_point_on_the_domain_boundary_has_the_verdict_domain() -> None:
    r = run("autograd", expr="sqrt(x)", point={"x": 0.0})
    assert r.metrics["check"] == "domain"
    assert not any("disagree beyond truncation" in o for o in r.observations)


# ---- item 7: the small ones


def test_minimize_help_names_the_levels_as_they_are() -> None:
    from click.testing import CliRunner

    from lab4.cli.main import main
    from lab4.maths.landscapes import LEVELS

    text = " ".join(CliRunner().invoke(main, ["run", "minimize", "--help"], terminal_width=200).output.split())
    for k, formula in LEVELS.items():
        assert f"{k} {formula.split(':')[0]}" in text, (k, text)
    assert "4 curved valley" in text and "5 rippled valley" in text


def test_complex_step_has_a_range_of_best_h_not_one() -> None:
    """In float64 the complex step's RMSE is a floor of rounding from 1e-8 down: any h there is
    as good as any other; the run gives the range, and the RMSE over it is flat."""
    r = run("derivatives", points=200)
    lo, hi = r.metrics["best_h_range"]["complex_step_float64"]
    assert hi >= 1e-8 and lo <= 1e-300
    sweep = r.series["h-sweep complex_step float64"]
    inside = [e for h, e in zip(sweep["x"], sweep["y"]) if lo <= h <= hi]
    assert len(inside) > 10 and max(inside) <= 2 * min(sweep["y"])
    assert r.metrics["best_h_range"]["central_float64"] is None  # a sharp minimum keeps its best h
    assert not any("complex_step at h =" in o for o in r.observations)


def test_a_rate_of_round_off_is_zero() -> None:
    """Momentum at its optimum on kappa = 1 is gd at lr = 1/L: rate 0, not 2.2e-16."""
    r = run("minimize", optimizer="momentum", lr=0.5, beta=0.0, steps=20)
    assert r.metrics["rate_theory"] == 0.0
    assert run("minimize", optimizer="gd", lr=0.5, steps=20).metrics["rate_theory"] == 0.0


def test_counts_agree_with_their_nouns() -> None:
    from lab4.core.comparison import race_sentence
    from lab4.core.events import plural
    from lab4.tasks._training import share

    assert plural(1, "step") == "1 step" and plural(2, "run") == "2 runs" and plural(0, "run") == "0 runs"
    assert (
        race_sentence("loss 0.1", [("a", 1), ("b", None)], 1)
        == "a reached loss 0.1 in 1 step; b never reached loss 0.1 in 1 step."
    )
    assert share(-0.0019) == "-0.19%" and share(0.45) == "45%" and share(-0.0) == "0%"


# ---- item 8: a stopped run keeps the metrics of its last step


def cancelled_run(task_id: str, at: int, dtype: str = "float64", **params: Any) -> Result:
    """The run cancelled as soon as its loss series passes step ``at`` (as escape does)."""
    from lab4.core.events import Points

    ctx = RunContext(dtype=dtype)

    def watch(event: Any) -> None:
        if isinstance(event, Points) and event.series == "loss" and event.x and event.x[-1] >= at:
            ctx.cancel()

    result = execute(task_id, TASKS[task_id].spec.parse(params), ctx, on_event=watch)
    assert result.status == "cancelled", result.message
    return result


def test_a_cancelled_minimize_run_has_the_metrics_of_its_last_step() -> None:
    stopped = cancelled_run("minimize", 300, complexity=3, dim=10, steps=1_000_000)
    s = stopped.metrics["stopped_at_step"]
    assert 300 <= s < 1_000_000
    # the same run, asked for s steps from the start, ends where the stopped one stopped
    whole = run("minimize", dtype="float64", complexity=3, dim=10, steps=s)
    for name in ("final_loss", "final_distance", "initial_loss", "steps_to_tol"):
        assert stopped.metrics[name] == pytest.approx(whole.metrics[name], rel=1e-12), name
    assert stopped.metrics["rate_measured"] == pytest.approx(whole.metrics["rate_measured"], rel=1e-3)


def test_a_cancelled_training_has_the_metrics_of_its_last_step() -> None:
    stopped = cancelled_run("mlp", 100, samples=60, hidden="8", steps=1_000_000, sharpness_every=0, target_loss=0.5)
    s = stopped.metrics["stopped_at_step"]
    assert 100 <= s < 1_000_000
    whole = run("mlp", dtype="float64", samples=60, hidden="8", steps=s, sharpness_every=0, target_loss=0.5)
    for name in ("final_loss", "train_accuracy", "steps_to_target_loss"):
        assert stopped.metrics[name] == pytest.approx(whole.metrics[name], rel=1e-9), name
    assert stopped.metrics["test_accuracy"] is not None


def test_a_stopped_run_shows_its_metrics_in_lab4_show(tmp_path: Any) -> None:
    import json

    from click.testing import CliRunner

    from lab4.cli.main import main
    from lab4.store import Store
    from lab4.tasks import specs

    stopped = cancelled_run("minimize", 100, steps=1_000_000)
    Store(tmp_path, specs=specs()).save_run(stopped)
    out = CliRunner().invoke(main, ["show", stopped.id, "--data-dir", str(tmp_path), "--json"])
    metrics = json.loads(out.output)["metrics"]
    assert metrics["stopped_at_step"] == stopped.metrics["stopped_at_step"]
    assert metrics["final_loss"] == stopped.metrics["final_loss"]


# ---- every finding of every run, checked against the run's own numbers


def check_chain_rule(r: Result, f: Finding) -> None:
    """The paths of a leaf are its occurrences in f; their products add up to its gradient, as
    forward mode (jacfwd, computed apart) gives it."""
    import re

    v = f.values
    assert v["count"] == len(v["paths"]) == len(re.findall(rf"\b{v['variable']}\b", r.params["expr"]))
    for p in v["paths"]:
        assert p["product"] == pytest.approx(p["reaching"] * p["local"], rel=1e-12)
    tolerance = 1e-5 if r.dtype == "float32" else 1e-12
    expected = r.metrics["forward_gradient"][v["variable"]]
    assert v["sum_of_paths"] == pytest.approx(expected, rel=tolerance, abs=tolerance)
    assert v["gradient"] == r.metrics["gradient"][v["variable"]]


def check_gradient_check(r: Result, f: Finding) -> None:
    from lab4.tasks.autograd import CHECK_BANDS

    v = f.values
    assert v["worst"] == r.metrics["check_rel_error"] and v["band"] == CHECK_BANDS[r.dtype]
    assert v["verdict"] == r.metrics["check"] and f.holds == (r.metrics["check"] == "ok")


def check_tolerance(r: Result, f: Finding) -> None:
    v = f.values
    ys = list(r.series["loss"]["y"])
    assert v["lowest"] == min(ys) and v["loss"] == ys[-1] == r.metrics["final_loss"]
    first = next((i for i, y in enumerate(ys) if y <= r.params["tol"]), None)
    assert v["reached"] == first == r.metrics["steps_to_tol"]
    assert f.holds == (first is not None)


def check_scale_lr_unmeasurable(r: Result, f: Finding) -> None:
    from lab4.tasks.scaled_mse import DRIFT_SERIES

    drift = list(r.series[DRIFT_SERIES]["y"])
    assert f.holds and f.values["drift_1"] == drift[0] > f.values["sensitive"] * f.values["size"]


CHECKS = {
    "scale_lr_equivalence": check_scale_lr_equivalence,
    "scale_lr_unmeasurable": check_scale_lr_unmeasurable,
    "local_minimum": check_local_minimum,
    "chain_rule": check_chain_rule,
    "gradient_check": check_gradient_check,
    "tolerance": check_tolerance,
}


def check_findings(r: Result) -> None:
    for f in r.findings:
        assert f.check(), f  # the verdict is what its own numbers say
        assert f.name in CHECKS, f"no test checks the finding {f.name!r}"
        CHECKS[f.name](r, f)  # and its numbers are the run's
        assert f.text in r.observations


def test_findings_survive_json_and_old_runs_load_without() -> None:
    r = run("autograd", expr="log(x)*sqrt(y) + x/y", point={"x": 2.5, "y": 4.0})
    again = Result.from_json(r.to_json())
    assert [f.to_json() for f in again.findings] == [f.to_json() for f in r.findings] and again.findings
    old = r.to_json()
    old["artifacts"] = {k: v for k, v in old["artifacts"].items() if k != "findings"}
    assert Result.from_json(old).findings == []


def test_a_finding_renders_its_own_numbers() -> None:
    from lab4.core.events import finding

    f = finding(
        "x", {"a": 0.5, "limit": 1.0}, [("a", "<=", "limit")], "a = {a:g} <= {limit:g}", "a = {a:g} > {limit:g}"
    )
    assert f.holds and f.text == "a = 0.5 <= 1" and f.check()
    g = finding(
        "x", {"a": 2.0, "limit": 1.0}, [("a", "<=", "limit")], "a = {a:g} <= {limit:g}", "a = {a:g} > {limit:g}"
    )
    assert not g.holds and g.text == "a = 2 > 1" and g.check()
    with pytest.raises(ValueError):
        finding("x", {"a": 1}, [("a", "<=", "missing")], "", "")


# one preset per task in the quick tier, every preset in the full suite
@pytest.mark.parametrize(
    "task_id, label",
    [case for t in TASKS.values() for case in sampled([(t.id, label) for label in (t.presets or {})], unpack=True)],
)
def test_every_finding_of_every_preset_holds(task_id: str, label: str) -> None:
    from lab4.engine.runner import sweep
    from tests.core.test_reproduce import SMALL

    task = TASKS[task_id]
    for _, r in sweep(task_id, task.spec.parse(SMALL[task_id]), task.presets[label], RunContext(seed=2)):
        assert r.status in ("ok", "diverged"), r.message
        check_findings(r)


def _drawn() -> Any:
    from hypothesis import strategies as st

    from lab4.core.expr import parse_expression

    exprs = [
        "3*x**3 - y**2",
        "log(x)*sqrt(y) + x/y",
        "x*x*y",
        "sin(x)*exp(y)",
        "x/y + y/x",
        "sqrt(x)",
        "exp(x)*x - log(x)",
    ]

    @st.composite
    def autograd(draw: Any) -> tuple[str, dict[str, Any]]:
        expr = draw(st.sampled_from(exprs))
        names = parse_expression(expr).variables
        point = {n: draw(st.floats(0.1, 5.0)) for n in names}
        return "autograd", {"expr": expr, "point": point}

    minimize = st.fixed_dictionaries(
        {
            "dim": st.integers(1, 30),
            "complexity": st.integers(1, 5),
            "optimizer": st.sampled_from(["gd", "momentum", "nesterov"]),
            "lr": st.one_of(st.just("optimal"), st.floats(0.01, 0.6)),
            "beta": st.one_of(st.just("optimal"), st.floats(0.0, 0.95)),
            "steps": st.integers(1, 200),
            "tol": st.sampled_from([1e-6, 1e-3]),
        }
    ).map(lambda p: ("minimize", p))
    scaled = st.fixed_dictionaries(
        {
            "samples": st.integers(20, 80),
            "hidden": st.sampled_from(["4", "8", "4,4"]),
            "optimizer": st.sampled_from(["gd", "momentum", "nesterov"]),
            "lr": st.floats(0.01, 1.0),
            "scale": st.sampled_from(["0.1,1", "1,100", "10", "0.01,1000"]),
            "steps": st.integers(1, 10),
            "sharpness_every": st.just(0),
        }
    ).map(lambda p: ("scaled-mse", p))
    return st.tuples(
        st.one_of(autograd(), minimize, scaled), st.sampled_from(["float32", "float64"]), st.integers(0, 3)
    )


def test_every_finding_of_drawn_runs_holds() -> None:
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_drawn())
    def one(case: Any) -> None:
        (task_id, params), dtype, seed = case
        r = execute(task_id, TASKS[task_id].spec.parse(params), RunContext(dtype=dtype, seed=seed))
        assert r.status in ("ok", "diverged"), r.message
        if r.status == "ok":
            check_findings(r)

    one()
