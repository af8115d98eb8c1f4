"""The bench: cheap rows computed here and checked for sane values (every run), and the whole
``lab4 bench --quick --json`` (minutes: slow tier).  Timings are never compared with a target
here: this machine may be busy; only what a row says about itself is checked."""

import json
import math
import subprocess
import sys

import pytest

from lab4.bench.rows import bench_losses, bench_mlp_step

EXPECTED = [
    "central-difference gradient, n = 1000",
    "central-difference gradient, n = 10000",
    "gradient cost, n = 10:",
    "gradient cost, n = 10000:",
    "mlp step",
    "custom cross-entropy",
    "scaled MSE",
    "minimize dim = 1e6, level 1",
    "minimize dim = 1e6, level 3",
    "minimize 11x11 (lr, beta) x 500 steps, dim 2: batched",
    "lab4 sweep 11x11 with every result: --batched",
    "cancel latency",
    "lab4 run minimize --steps 150,000 and 450,000 (CLI): memory per step",
    "... the peak projected to 10,000,000 steps",
    "Ctrl-C on a 10,000,000-step lab4 run minimize",
    "import lab4_tui.app",
    "time to the first painted screen",
    "mlp training throughput in the app",
    "worst event-loop stall",
    "bytes written to the terminal",
    "app resident memory",
    "compute worker resident memory",
    "ctrl+r to the first event",
    "cancel latency through the worker",
    "ending a worker that does not answer",
    "lab4 sweep minimize, 20 small runs, --jobs 2 vs --jobs 1",
    "lab4 runs, 10,000 saved runs",
    "home screen's last run",
    "History opens",
    "a 20,000-step mlp run, stored bytes",
    "save a 10,000,000-step minimize run",
    "the 10,000,000-step run on disk",
    "app opens the 10,000,000-step run",
    "listing 1,000 runs of 20,000 steps",
    "mlp 1000 steps with the sharpness",
    "spectrum of the 2-64-64-3 mlp: top eigenvalue",
    "spectrum of the 2-64-64-3 mlp: top-3",
]


def check_row(row: dict) -> None:
    """A row is consistent with itself: positive finite figures, ratio = ours / baseline."""
    assert set(row) >= {"figure", "ours", "baseline", "ratio", "target", "met"}
    assert "failed" not in row["figure"], row
    assert row["met"] is None or isinstance(row["met"], bool)
    for key in ("ours", "baseline"):
        assert row[key] is None or (math.isfinite(row[key]) and row[key] > 0), row
    if row["ours"] is not None and row["baseline"] is not None and row["ratio"] is not None:
        assert row["ratio"] == pytest.approx(row["ours"] / row["baseline"], rel=1e-9), row


@pytest.mark.parametrize(
    "bench, limit, target",
    [
        (lambda: [bench_mlp_step("cpu", True)], 1.10, "ratio <= 1.10"),
        (lambda: bench_losses("cpu", True), 1.3, "ratio <= 1.3"),
    ],
    ids=["mlp step", "custom losses"],
)
def test_cheap_rows_hold_sane_numbers(bench, limit, target):
    rows = [r.to_json() for r in bench()]
    assert rows
    for row in rows:
        check_row(row)
        # the same work done two ways: seconds per step within a second, and within 20x of each other
        assert 0 < row["ours"] < 1 and 0 < row["baseline"] < 1, row
        assert 0.05 < row["ratio"] < 20, row
        assert row["met"] is (row["ratio"] <= limit) and row["target"] == target, row


@pytest.mark.slow
def test_bench_quick_json_reports_every_row():
    out = subprocess.run(
        [sys.executable, "-m", "lab4.cli", "bench", "--quick", "--json"], capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    figures = [r["figure"] for r in rows]
    for prefix in EXPECTED:
        assert any(f.startswith(prefix) for f in figures), (prefix, figures)
    for row in rows:
        check_row(row)


def test_readme_gets_the_measured_table_between_its_lines_and_nothing_else_changes(tmp_path, monkeypatch):
    """``lab4 bench --readme FILE`` replaces what lies between the two marker lines with the
    table it printed, keeps every other line, and refuses a file without the lines before it
    measures anything (minutes)."""
    from click.testing import CliRunner

    import lab4.bench.rows as rows_module
    from lab4.bench.figures import Row
    from lab4.cli.main import README_BEGIN, README_END, main

    rows = [
        Row("a figure that met its target", 0.012, 0.5, 0.024, "ratio <= 0.5", True),
        Row("a figure that missed", 3.0, None, None, "< 1 s", False),
    ]
    calls = []
    monkeypatch.setattr(rows_module, "run_bench", lambda **kw: calls.append(kw) or rows)
    readme = tmp_path / "README.md"
    before, after = "# Title\n\nintro line\n", "\n## Next section\nkept\n"
    readme.write_text(f"{before}{README_BEGIN}\n```\nold table\n```\n{README_END}{after}")

    result = CliRunner().invoke(main, ["bench", "--no-app", "--readme", str(readme)])
    assert result.exit_code == 0, result.output
    text = readme.read_text()
    assert text.startswith(before + README_BEGIN + "\n```\nlab4 bench on cpu: ") and text.endswith(README_END + after)
    inside = text[text.index(README_BEGIN) : text.index(README_END)]
    assert "old table" not in inside
    for line in result.output.splitlines()[:-1]:  # the printed heading and table, all of it
        assert line in inside
    assert [line.split()[-1] for line in inside.splitlines() if line.startswith("a figure")] == ["yes", "NO"]

    readme.write_text("# no marker lines\n")
    refused = CliRunner().invoke(main, ["bench", "--readme", str(readme)])
    assert refused.exit_code == 2 and "--readme" in refused.output and README_BEGIN in refused.output
    assert len(calls) == 1 and readme.read_text() == "# no marker lines\n"
    both = CliRunner().invoke(main, ["bench", "--json", "--readme", str(readme)])
    assert both.exit_code == 2 and "--json" in both.output and len(calls) == 1


def test_generated_runs_can_carry_what_a_real_run_of_their_task_stores():
    """The full bench's 10,000-run store holds runs shaped like real ones (issue 19: synthetic
    runs of 1.1 KB understated a store of real 31 KB minimize runs)."""
    from lab4.bench.store_rows import generate_runs
    from lab4.core.events import Result
    from lab4.tasks import BUILT_IN

    real = Result(task="minimize", params={}, tables={"summary": {"columns": ["a"], "rows": [[1]]}})
    real.artifacts = {"landscape": {"z": [[1.0, 2.0]]}}
    runs = generate_runs(2 * len(BUILT_IN), shaped_like={"minimize": real})
    shaped = [r for r in runs if r.task == "minimize"]
    assert len(shaped) == 2 and all(r.artifacts == real.artifacts and r.tables == real.tables for r in shaped)
    assert all(not r.artifacts for r in runs if r.task != "minimize")
