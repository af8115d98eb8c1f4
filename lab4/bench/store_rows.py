"""``lab4 bench``'s store rows, measured on generated stores.

- ``lab4 runs`` over 10,000 saved runs, as a fresh process, against the same listing read
  from 10,000 JSON files the way lab4 0.1 stored runs;
- the app's History opening on that store, and the home screen's last runs;
- a 20,000-step mlp run's stored size against its JSON export;
- saving a 10,000,000-step minimize run (its time and size), and the app opening it;
- listing 1,000 long runs against listing 1,000 short ones (the cost must not grow with
  the runs' length).

The app rows drive it headless through a small script run with ``python -c`` (the app's
code knows nothing of it).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

from lab4.bench import drivers
from lab4.bench.figures import Row, ratio_row

__all__ = ["bench_store", "generate_runs", "synthetic_long_run"]

MANY = 10_000


def real_shapes() -> dict[str, Any]:
    """One real run of each task (10 steps where the task has steps): what a run of it stores
    beside its curves (tables, artifacts such as minimize's level sets and phase map)."""
    from lab4.core.context import RunContext
    from lab4.engine.runner import execute
    from lab4.tasks import BUILT_IN, TASKS

    shapes = {}
    for task_id in BUILT_IN:
        spec = TASKS[task_id].spec
        shapes[task_id] = execute(task_id, spec.parse({"steps": 10} if "steps" in spec else {}), RunContext())
    return shapes


def generate_runs(
    count: int, steps: int = 100, prefix: str = "r", seed: int = 0, shaped_like: dict[str, Any] | None = None
) -> list[Any]:
    """``count`` plausible small runs of every task (parameters, metrics, observations, a
    loss series of ``steps`` + 1 points), oldest first; with ``shaped_like`` (:func:`real_shapes`)
    each also carries the tables, artifacts and observations of a real run of its task."""
    import numpy as np

    from lab4.core.events import Result
    from lab4.tasks import TASKS

    rng = np.random.default_rng(seed)
    tasks = list(TASKS.values())
    runs = []
    for i in range(count):
        task = tasks[i % len(tasks)]
        params = task.spec.to_json(task.spec.defaults())
        if "optimizer" in params:
            params["optimizer"] = ("gd", "momentum", "nesterov")[i % 3]
        loss = np.exp(-np.arange(steps + 1) * rng.uniform(0.001, 0.05)) * (1 + 0.01 * rng.standard_normal(steps + 1))
        runs.append(
            Result(
                id=f"{prefix}{i:06d}",
                task=task.id,
                params=params,
                started=f"2026-01-01T{i:09d}",
                status="ok",
                metrics={task.headline or "value": float(rng.random()), "final_loss": float(loss[-1])},
                observations=[f"an observation of run {i} with its numbers {rng.random():.4g}"] * 3,
                series={"loss": {"x": array("d", range(steps + 1)), "y": array("d", loss.astype(np.float32).tolist())}},
            )
        )
        real = (shaped_like or {}).get(task.id)
        if real is not None:
            runs[-1].tables, runs[-1].artifacts, runs[-1].observations = real.tables, real.artifacts, real.observations
    return runs


def synthetic_long_run(steps: int) -> Any:
    """A minimize run of ``steps`` steps: float32 loss and distance curves with measured noise
    (random low mantissa bits: the hard case for compression)."""
    import numpy as np

    from lab4.core.events import Result

    t = np.arange(steps + 1, dtype=np.float64)
    rng = np.random.default_rng(1)
    loss = (4.0 * np.exp(-t * 2e-6) * (1 + 1e-3 * rng.standard_normal(steps + 1))).astype(np.float32)
    distance = np.sqrt(loss).astype(np.float32)
    return Result(
        id="long-minimize",
        task="minimize",
        params={"dim": 1000, "steps": steps},
        status="ok",
        dtype="float32",
        started="2026-01-02T00:00:00",
        metrics={"final_loss": float(loss[-1]), "steps_to_tol": None},
        series={
            "loss": {"x": array("d", t.tobytes()), "y": array("d", loss.astype(np.float64).tobytes())},
            "distance": {"x": array("d", t.tobytes()), "y": array("d", distance.astype(np.float64).tobytes())},
        },
    )


def _seconds(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, timeout=300, env=env)
    return time.perf_counter() - t0


def bench_store(quick: bool, app: bool = True) -> list[Row]:
    from lab4.engine.runner import execute
    from lab4.present.report import run_json
    from lab4.store import Store
    from lab4.tasks import TASKS

    repeats = 3 if quick else 5
    tmp = Path(tempfile.mkdtemp(prefix="lab4-bench-store-"))
    rows = []

    many = Store(tmp / "many")
    # the full bench stores them as real runs are, artifacts and all (--quick: curves and metrics)
    runs = generate_runs(MANY, shaped_like=None if quick else real_shapes())
    many.save_runs(runs)
    on_disk = sum(p.stat().st_size for p in (tmp / "many").glob("lab4.sqlite*"))
    if not quick:
        rows.append(
            Row(
                f"{MANY:,} runs shaped like real ones (tables, artifacts), on disk per run",
                on_disk / MANY / 1024,
                None,
                None,
                "-",
                None,
                unit="KB",
            )
        )
    files = tmp / "json"
    files.mkdir()
    for r in runs:
        (files / f"{r.id}.json").write_text(run_json(r))
    cli = [sys.executable, "-m", "lab4.cli.main", "runs", "--data-dir", str(tmp / "many")]
    old = drivers.command("json_listing", str(files))
    ours_s, base_s = [], []
    for _ in range(repeats):  # alternate, so machine noise hits both alike
        ours_s.append(_seconds(cli))
        base_s.append(_seconds(old))
    ours, base = statistics.median(ours_s), statistics.median(base_s)
    torch_free = (
        "torch"
        not in subprocess.run(
            drivers.command("runs_modules", str(tmp / "many")), capture_output=True, text=True, check=True, timeout=120
        ).stdout.split()
    )
    rows.append(
        Row(
            f"lab4 runs, {MANY:,} saved runs (process, all rows) vs the same from JSON files",
            ours,
            base,
            ours / base,
            "< 0.5 s, torch not imported",
            ours < 0.5 and torch_free,
        )
    )

    t0 = time.perf_counter()
    for _ in range(repeats):
        for task_id in TASKS:
            many.latest(task_id)
    home = (time.perf_counter() - t0) / repeats
    rows.append(Row(f"home screen's last run of each task, {MANY:,} runs", home, None, None, "< 0.1 s", home < 0.1))

    if app:
        opened = statistics.median(
            float(
                subprocess.run(
                    drivers.command("history_open", str(tmp / "many"), "mlp"),
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=300,
                ).stdout.split()[-1]
            )
            for _ in range(max(1, repeats - 2))
        )
        rows.append(Row(f"History opens (first page) with {MANY:,} runs", opened, None, None, "< 0.3 s", opened < 0.3))

    mlp = execute("mlp", TASKS["mlp"].spec.parse({"steps": 20000, "hidden": "16"}))
    small = Store(tmp / "mlp")
    small.save_run(mlp)
    import sqlite3

    db = sqlite3.connect(small.db_path)
    stored = (
        db.execute("SELECT sum(length(y) + coalesce(length(x), 0)) FROM series").fetchone()[0]
        + db.execute(
            "SELECT sum(length(params) + length(metrics) + length(observations) + length(tables) + length(artifacts) "
            "+ length(versions)) FROM runs JOIN details ON run_id = id"
        ).fetchone()[0]
    )
    db.close()
    as_json = len(run_json(mlp).encode())
    rows.append(
        Row(
            "a 20,000-step mlp run, stored bytes vs its JSON",
            stored / 1024,
            as_json / 1024,
            stored / as_json,
            "< 100 KB",
            stored < 100_000,
            unit="KB",
        )
    )

    steps = 10_000_000
    long_run = synthetic_long_run(steps)
    big = Store(tmp / "big")
    short_run = synthetic_long_run(100)
    short_run.id, short_run.started = "short-minimize", "2026-01-01T00:00:00"
    big.save_run(short_run)
    t0 = time.perf_counter()
    big.save_run(long_run)
    saved = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in (tmp / "big").glob("lab4.sqlite*")) / 1e6
    rows.append(Row(f"save a {steps:,}-step minimize run (2 series)", saved, None, None, "< 2 s", saved < 2))
    rows.append(Row(f"the {steps:,}-step run on disk", size, None, None, "< 200 MB", size < 200, unit="MB"))
    if app:

        def opened(row: int) -> tuple[float, float]:
            out = subprocess.run(
                drivers.command("open_long_run", str(tmp / "big"), "minimize", str(row)),
                capture_output=True,
                text=True,
                check=True,
                timeout=300,
            ).stdout.split()
            return float(out[-2]), float(out[-1])

        trials = [(opened(0), opened(1)) for _ in range(max(1, repeats - 2))]  # History: newest first
        gap = statistics.median(big_[0] for big_, _ in trials)
        base = statistics.median(small[0] for _, small in trials)
        rows.append(
            ratio_row(
                f"app opens the {steps:,}-step run from History vs a 100-step one: worst UI stall",
                gap,
                base,
                1.5,
                "ratio <= 1.5 (no stall from the size)",
            )
        )
        rows.append(
            Row(
                "... and until its plot is drawn",
                statistics.median(b[1] for b, _ in trials),
                statistics.median(s[1] for _, s in trials),
                None,
                "curve (no target)",
                None,
            )
        )
    del long_run

    short, long = Store(tmp / "short"), Store(tmp / "long")
    short.save_runs(generate_runs(1000, steps=10, prefix="s"))
    long.save_runs(generate_runs(1000, steps=20000, prefix="l"))

    def listing(store: Store) -> float:
        t0 = time.perf_counter()
        store.list_runs()
        return time.perf_counter() - t0

    listing(long), listing(short)  # warm: the first read of a file pays for the disk cache
    pairs = [(listing(long), listing(short)) for _ in range(2 * repeats + 1)]
    ours = statistics.median(a for a, _ in pairs)
    base = statistics.median(b for _, b in pairs)
    rows.append(
        ratio_row(
            "listing 1,000 runs of 20,000 steps vs 1,000 runs of 10 steps",
            ours,
            base,
            1.5,
            "ratio <= 1.5 (cost grows with runs, not length)",
        )
    )
    return rows
