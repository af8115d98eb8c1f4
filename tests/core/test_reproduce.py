"""A reproduce line is a contract: run, it gives the same runs with the same metrics.

Each line is executed for real through the CLI (click's CliRunner, ``--json --no-save``) and
its runs are compared, in number and metric by metric, with the runs the line was written for.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from typing import Any

import pytest
from click.testing import CliRunner

from lab4.cli.main import main
from lab4.core.comparison import axes_of
from lab4.core.context import RunContext
from lab4.engine.runner import execute, sweep
from lab4.present.reproduce import command_line
from lab4.tasks import TASKS
from tests import sampled

#: small sizes per task: every run of a preset takes well under a second or two
SMALL = {
    "autograd": {},
    "derivatives": {"points": 50},
    "minimize": {"steps": 200},
    "mlp": {"samples": 60, "hidden": "8", "steps": 15, "sharpness_every": 5},
    "clipped-ce": {"samples": 60, "hidden": "8", "steps": 15, "sharpness_every": 5},
    "scaled-mse": {"samples": 60, "hidden": "8", "steps": 15, "scale": "1,10", "sharpness_every": 5},
}


def same(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 relative (the same computation, the same seed)."""
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def run_line(line: str, tmp_path: Any = None) -> list[dict[str, Any]]:
    """Run a reproduce line through the CLI; its runs as JSON (one for ``lab4 run``)."""
    words = shlex.split(line)
    assert words[0] == "lab4", line
    result = CliRunner().invoke(main, [*words[1:], "--json", "--no-save", "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, (line, result.output)
    data = json.loads(result.output)
    return data["runs"] if words[1] == "sweep" else [data]


def assert_reproduces(line: str, originals: list[Any]) -> None:
    again = run_line(line)
    assert len(again) == len(originals), f"{line!r} ran {len(again)} runs, not {len(originals)}"
    for old, new in zip(originals, again):
        old_metrics = json.loads(json.dumps(old.to_json()["metrics"]))
        assert new["status"] == old.status, line
        assert new["params"] == json.loads(json.dumps(old.to_json()["params"])), line
        bad = [k for k in old_metrics if not same(old_metrics[k], new["metrics"].get(k))]
        assert not bad, f"{line!r}: {[(k, old_metrics[k], new['metrics'].get(k)) for k in bad]}"


def test_a_run_with_symbols_is_reproduced_with_its_symbols() -> None:
    task = TASKS["minimize"]
    params = task.spec.parse(
        {"complexity": 3, "optimizer": "momentum", "lr": "optimal", "beta": "optimal", "steps": 200}
    )
    result = execute("minimize", params, RunContext(dtype="float64", seed=3))
    assert isinstance(result.params["lr"], float)  # the run used the number...
    line = command_line(task, result.typed_params(), result.device, result.dtype, result.seed)
    assert "--lr optimal" in line and "--beta optimal" in line, line  # ...the line keeps what was typed
    assert_reproduces(line, [result])


def test_a_single_valued_axis_is_kept() -> None:
    """The app's compare ``dim=2,10 complexity=3`` over a form that holds complexity 1."""
    task = TASKS["minimize"]
    form = task.spec.parse({"steps": 200})  # complexity 1 in the form
    axes = {"dim": [2, 10], "complexity": [3]}
    runs = [r for _, r in sweep("minimize", form, axes, RunContext())]
    assert [r.params["complexity"] for r in runs] == [3, 3]
    line = command_line(task, form, "cpu", "float32", 0, axes)
    assert_reproduces(line, runs)


# one preset per task in the quick tier, every preset in the full suite
@pytest.mark.parametrize(
    "task_id, label",
    [case for t in TASKS.values() for case in sampled([(t.id, label) for label in (t.presets or {})], unpack=True)],
)
def test_every_preset_is_reproduced(task_id: str, label: str) -> None:
    task = TASKS[task_id]
    axes = task.presets[label]
    base = task.spec.parse(SMALL[task_id])
    runs = [r for _, r in sweep(task_id, base, axes, RunContext(seed=1))]
    line = command_line(task, base, "cpu", "float32", 1, axes)
    assert_reproduces(line, runs)


def test_a_comparison_in_the_report_is_reproduced(tmp_path: Any) -> None:
    """``lab4 sweep minimize --complexity 3 --axes "optimizer=gd,momentum,nesterov lr=optimal
    beta=optimal"``: 3 runs; the report's line must run those 3, not the 27 of a product of
    the resolved numbers."""
    from lab4.present.report import build_report
    from lab4.store import Store
    from lab4.tasks import specs

    args = [
        "sweep",
        "minimize",
        "--complexity",
        "3",
        "--steps",
        "300",
        "--axes",
        "optimizer=gd,momentum,nesterov lr=optimal beta=optimal",
        "--data-dir",
        str(tmp_path),
        "--quiet",
    ]
    out = CliRunner().invoke(main, args, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    store = Store(tmp_path, specs=specs())
    group = store.latest_group("minimize")
    runs = store.load_runs([r.id for r in store.list_runs("minimize", group=group).runs])
    assert len(runs) == 3 and len({r.params["lr"] for r in runs}) == 3
    assert axes_of(runs) == {"optimizer": ["gd", "momentum", "nesterov"]}
    text, _ = build_report(store, groups=[group], plots=False)
    line = re.search(r" over `(lab4 [^`]+)`", text).group(1)
    assert "--lr optimal" in line and "--beta optimal" in line, line
    assert_reproduces(line, runs)
