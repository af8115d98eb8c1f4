"""`lab4 bench --quick --json` runs and reports every row (timings are not asserted here)."""

import json
import subprocess
import sys

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


def test_bench_quick_json_reports_every_row():
    out = subprocess.run([sys.executable, "-m", "lab4.cli.main", "bench", "--quick", "--json"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    figures = [r["figure"] for r in rows]
    for prefix in EXPECTED:
        assert any(f.startswith(prefix) for f in figures), (prefix, figures)
    for row in rows:
        assert set(row) >= {"figure", "ours", "baseline", "ratio", "target", "met"}
        assert "failed" not in row["figure"], row
        assert row["met"] is None or isinstance(row["met"], bool)
        assert row["ours"] is None or row["ours"] > 0
