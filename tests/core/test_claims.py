"""Every claim a run prints is a finding (data) whose condition holds against the run's own
series and metrics: checked here number by number, never by reading the sentence."""

from __future__ import annotations

from typing import Any

import pytest

from lab4.core.context import RunContext
from lab4.core.events import Finding, Result
from lab4.engine.runner import execute
from lab4.tasks import TASKS


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


def check_scale_lr_equivalence(r: Result, f: Finding) -> None:
    """The finding's numbers are the run's series: the difference of (S, lr) and (1, S lr),
    the drift of a start moved by one ulp, the steps measured while that drift is small."""
    from lab4.tasks.scaled_mse import DIFFERENCE_SERIES, DRIFT_SERIES

    v = f.values
    difference, drift = list(r.series[DIFFERENCE_SERIES]["y"]), list(r.series[DRIFT_SERIES]["y"])
    assert v["difference_1"] == difference[0] == r.metrics["scale_lr_difference"]
    assert v["drift_1"] == drift[0]
    n = v["steps_measured"]
    assert all(d <= v["sensitive"] * v["size"] for d in drift[:n])
    if n < len(drift):
        assert drift[n] > v["sensitive"] * v["size"] and v["drift_after"] == drift[n]
    eps = 2.0 ** -52 if r.dtype == "float64" else 2.0 ** -23
    ratios = [d / max(u, eps * v["size"]) for d, u in zip(difference[:n], drift[:n])]
    assert v["ratio"] == pytest.approx(max(ratios), rel=1e-12)
    assert f.holds == (max(ratios) <= v["ratio_limit"])
    # an exact-arithmetic identity: the first step differs by round-off only (a few ulps)
    assert difference[0] <= 8 * eps * v["size"]
