"""``lab4 bench``: each figure measured against a baseline in the same run.

Times are medians of several repeats after a warm-up.  A row is ``figure, ours, baseline,
ratio, target, met``; ``ratio`` is ours / baseline when both are times.  The app rows start
the app in a pseudo-terminal of 120x40 through a driver (:func:`lab4.bench.drivers.app_stream`,
run in a fresh process): it opens the mlp screen, waits for its compute worker to be ready,
presses Run, records the largest gap of a 20 ms timer until the run is shown and the time to the
first event, and exits; the bench counts the bytes the app
wrote to the terminal meanwhile.  Nothing in the app's code knows it is being measured.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from lab4.bench import drivers
from lab4.bench.figures import Row, ratio_row
from lab4.bench.store_rows import bench_store
from lab4.maths.numdiff import gradient_cost
from lab4.maths.timing import median_time

__all__ = ["Row", "run_bench", "format_rows"]


def bench_central_difference(device: str, quick: bool) -> list[Row]:
    import torch

    from lab4.maths.landscapes import generate_function
    from lab4.maths.numdiff import central_difference_gradient, central_difference_gradient_loop

    rows = []
    for n, limit, target in ((1000, 0.5, ">= 2x faster (ratio <= 0.5)"), (10000, 1.0, "never slower (ratio <= 1)")):
        f = generate_function(n, 3, 0).to(device, torch.float32)
        x = f.start.clone()
        repeats = 1 if quick else 3  # n = 10,000 too: its first calls move with the allocator (0.2-0.7 s)
        ours = median_time(lambda: central_difference_gradient(f, x), repeats, device)
        base = median_time(lambda: central_difference_gradient_loop(f, x), 1, device)  # warmed as ours is
        rows.append(ratio_row(f"central-difference gradient, n = {n} (batched vs loop)", ours, base, limit, target))
    return rows


def bench_gradient_cost(device: str, quick: bool) -> list[Row]:
    sizes = (10, 100, 1000, 10000) if quick else (10, 30, 100, 300, 1000, 3000, 10000)
    rows = []
    for n, autograd_s, central_s in gradient_cost(sizes, device):
        rows.append(
            Row(
                f"gradient cost, n = {n}: autograd (ours) vs central differences",
                autograd_s,
                central_s,
                autograd_s / central_s if central_s else math.nan,
                "curve (no target)",
                None,
            )
        )
    return rows


def bench_mlp_step(device: str, quick: bool) -> Row:
    import torch
    import torch.nn.functional as F

    from lab4.maths.datasets import load, prepare
    from lab4.maths.training import TrainConfig, forward, init_mlp, make_step

    split = prepare(load("spiral", 1000, 0.2, 0), 0.0, 0, device, torch.float32)
    x, y = split.x_train, split.y_train
    sizes = [2, 64, 64, 3]
    ours_w = init_mlp(sizes, "relu", 0, device, torch.float32)
    velocity = [torch.zeros_like(w) for w in ours_w]
    step = make_step(ours_w, velocity, F.cross_entropy, TrainConfig("momentum", 0.01, 0.9, 1, 0, "relu"))
    ref_w = [w.clone().requires_grad_(True) for w in init_mlp(sizes, "relu", 0, device, torch.float32)]
    opt = torch.optim.SGD(ref_w, lr=0.01, momentum=0.9, foreach=True)

    def baseline() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(forward(ref_w, x, "relu"), y).backward()
        opt.step()

    def block(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(20):
                fn()

        return run

    repeats = 5 if quick else 15
    # interleave the two so that machine noise hits both alike
    ours_s, base_s = [], []
    for _ in range(repeats):
        ours_s.append(median_time(block(lambda: step(x, y)), 1, device))
        base_s.append(median_time(block(baseline), 1, device))
    ours, base = statistics.median(ours_s) / 20, statistics.median(base_s) / 20
    return ratio_row(
        "mlp step 2-64-64-3 x 1000 pts: autograd.grad + momentum vs backward + SGD", ours, base, 1.10, "ratio <= 1.10"
    )


def bench_losses(device: str, quick: bool) -> list[Row]:
    import torch
    import torch.nn.functional as F

    from lab4.maths.losses import custom_cross_entropy, scaled_mse

    g = torch.Generator().manual_seed(0)
    z = torch.randn(4096, 10, generator=g).to(device).requires_grad_(True)
    t = torch.randint(0, 10, (4096,), generator=g).to(device)
    onehot = F.one_hot(t, 10).float()

    def fb(loss_fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(20):
                torch.autograd.grad(loss_fn(), z)

        return run

    repeats = 5 if quick else 15
    rows = []
    pairs = (
        (
            "custom cross-entropy fwd+bwd 4096x10 vs F.cross_entropy",
            lambda: custom_cross_entropy(z, t),
            lambda: F.cross_entropy(z, t),
        ),
        (
            "scaled MSE fwd+bwd 4096x10 vs S * F.mse_loss(softmax)",
            lambda: scaled_mse(z, t, 10.0),
            lambda: 10.0 * F.mse_loss(torch.softmax(z, 1), onehot),
        ),
    )
    for figure, ours_fn, base_fn in pairs:
        ours_s, base_s = [], []
        for _ in range(repeats):
            ours_s.append(median_time(fb(ours_fn), 1, device))
            base_s.append(median_time(fb(base_fn), 1, device))
        rows.append(
            ratio_row(figure, statistics.median(ours_s) / 20, statistics.median(base_s) / 20, 1.3, "ratio <= 1.3")
        )
    return rows


def _subprocess_seconds(*driver: str) -> tuple[float, str]:
    out = subprocess.run(drivers.command(*driver), capture_output=True, text=True, timeout=120, check=True)
    first, _, rest = out.stdout.strip().partition(" ")
    return float(first), rest


def bench_import(quick: bool) -> list[Row]:
    repeats = 3 if quick else 5
    ours_runs = [_subprocess_seconds("import_time", "lab4_tui.app") for _ in range(repeats)]
    base = statistics.median(_subprocess_seconds("import_time", "torch")[0] for _ in range(repeats))
    ours = statistics.median(t for t, _ in ours_runs)
    torch_loaded = any(flag == "True" for _, flag in ours_runs)
    return [
        Row(
            "import lab4_tui.app vs import torch",
            ours,
            base,
            ours / base,
            "< 0.3 s, torch not imported",
            ours < 0.3 and not torch_loaded,
        )
    ]


def bench_first_paint(quick: bool) -> Row:
    repeats = 3 if quick else 5
    ours = statistics.median(_subprocess_seconds("first_paint")[0] for _ in range(repeats))
    return Row("time to the first painted screen (headless run_test)", ours, None, None, "< 0.5 s", ours < 0.5)


def _app_streaming_run(params: dict[str, Any], device: str, size: tuple[int, int] = (120, 40)) -> dict[str, Any]:
    """Run the app in a pseudo-terminal through the driver; return its figures and the bytes written."""
    import fcntl
    import struct
    import termios

    tmp = Path(tempfile.mkdtemp(prefix="lab4-bench-"))
    probe_out = tmp / "probe.json"
    spec = {"params": params, "device": device, "data_dir": str(tmp / "data"), "out": str(probe_out)}
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor", LAB4_CONFIG=str(tmp / "config.toml"))
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        drivers.command("app_stream", json.dumps(spec)),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
        start_new_session=True,
    )
    os.close(slave)
    chunks: list[tuple[float, int]] = []

    def reader() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append((time.time(), len(data)))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        thread.join(timeout=5)
        os.close(master)
    if not probe_out.exists():
        raise RuntimeError("the app did not report (driver output missing)")
    probe = json.loads(probe_out.read_text())
    start, end = probe["run_started"], probe["run_ended"]
    probe["bytes_per_s"] = sum(n for t, n in chunks if start <= t <= end) / max(1e-9, end - start)
    return probe


def _headless_seconds(steps: int, device: str) -> float:
    """The same run through the CLI in a fresh process: the same cold start as the app's."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab4.cli.main",
            "run",
            "mlp",
            "--steps",
            str(steps),
            "--device",
            device,
            "--json",
            "--no-save",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(json.loads(out.stdout)["duration_s"])


def bench_app(device: str, quick: bool) -> list[Row]:
    steps = 3000 if quick else 4000  # long enough that starting and ending the run weigh little
    repeats = 2 if quick else 3
    params = {"steps": steps}
    probes, headless = [], []
    for _ in range(repeats):  # alternate, so that machine noise hits both alike
        probes.append(_app_streaming_run(params, device))
        headless.append(_headless_seconds(steps, device))
    app_rate = steps / statistics.median(p["duration_s"] for p in probes)
    base_rate = steps / statistics.median(headless)
    share = app_rate / base_rate
    probe = {
        "max_gap_s": statistics.median(p["max_gap_s"] for p in probes),
        "bytes_per_s": statistics.median(p["bytes_per_s"] for p in probes),
        "rss_mb": max(p["rss_mb"] for p in probes),
        "worker_rss_mb": max(p["worker_rss_mb"] for p in probes),
        "first_event_s": statistics.median(p["first_event_s"] for p in probes),
        "torch_in_app": any(p["torch_in_app"] for p in probes),
    }
    return [
        Row(
            f"mlp training throughput in the app vs headless (steps/s, {os.cpu_count()} cores)",
            app_rate,
            base_rate,
            share,
            ">= 97%",
            share >= 0.97,
            unit="steps/s",
        ),
        Row(
            "worst event-loop stall during that run (20 ms timer gap, median of runs)",
            probe["max_gap_s"],
            None,
            None,
            "< 30 ms",
            probe["max_gap_s"] < 0.030,
        ),
        Row(
            "bytes written to the terminal per second, 120x40",
            probe["bytes_per_s"] / 1024,
            None,
            None,
            "< 100 KiB/s",
            probe["bytes_per_s"] < 100 * 1024,
            unit="KiB/s",
        ),
        Row(
            "app resident memory after the run (its process: torch never imported)",
            probe["rss_mb"],
            None,
            None,
            "< 120 MB, no torch",
            probe["rss_mb"] < 120 and not probe["torch_in_app"],
            unit="MB",
        ),
        Row(
            "compute worker resident memory after the run",
            probe["worker_rss_mb"],
            None,
            None,
            "(no target)",
            None,
            unit="MB",
        ),
        Row(
            "ctrl+r to the first event on a warm app",
            probe["first_event_s"],
            None,
            None,
            "< 0.3 s",
            probe["first_event_s"] < 0.3,
        ),
    ]


def bench_sharpness(device: str, quick: bool) -> Row:
    """What following the sharpness costs a default mlp run (every 100 steps, warm-started)."""
    from lab4.core.context import RunContext
    from lab4.engine.runner import execute
    from lab4.tasks import TASKS

    steps = 1000 if quick else 2000
    spec = TASKS["mlp"].spec

    def seconds(every: int) -> float:
        return execute(
            "mlp", spec.parse({"steps": steps, "sharpness_every": every}), RunContext(device=device)
        ).duration_s

    seconds(0)  # warm
    pairs = [(seconds(100), seconds(0)) for _ in range(2 if quick else 3)]
    ours, base = statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)
    return ratio_row(
        f"mlp {steps} steps with the sharpness every 100 steps vs without",
        ours,
        base,
        1.2,
        "ratio <= 1.2 (cost under ~20%)",
    )


def bench_spectrum(device: str, quick: bool) -> list[Row]:
    """One top eigenvalue (Lanczos to a relative 1e-3), against a training step, and one whole
    spectrum of the default 2-64-64-3 mlp's loss Hessian at its initial weights, measured by
    the function the training tasks call at each step of ``spectrum_at``, with its defaults
    (top-3, a 100-probe trace, a 5 x 80 density: lab4.maths.curvature.SPECTRUM_*)."""
    import torch
    import torch.nn.functional as F

    from lab4.core.context import RunContext
    from lab4.maths import curvature
    from lab4.maths.spectrum import hessian_vector_product, top_eigenvalues
    from lab4.maths.training import forward, make_step
    from lab4.tasks import TASKS
    from lab4.tasks.mlp import setup

    params = TASKS["mlp"].spec.parse({})
    split, weights, config = setup(params, RunContext(device=device))
    x, y = split.x_train, split.y_train

    def loss(p: Any) -> Any:
        return F.cross_entropy(forward(p, x, config.activation), y)

    def top() -> None:
        hvp = hessian_vector_product(loss, weights)
        top_eigenvalues(hvp, hvp.n, 1, 1e-3)

    def spectrum() -> None:
        curvature.loss_spectrum(loss, weights)  # what one step of spectrum_at costs a run

    repeats = 3 if quick else 9
    ours = median_time(top, repeats, device)
    step = make_step([w.clone() for w in weights], [torch.zeros_like(w) for w in weights], F.cross_entropy, config)
    base = median_time(lambda: step(x, y), 5 * repeats, device)
    whole = median_time(spectrum, 1 if quick else 3, device)
    return [
        ratio_row(
            "spectrum of the 2-64-64-3 mlp: top eigenvalue (Lanczos, relative 1e-3) vs one training step",
            ours,
            base,
            40,
            "ratio <= 40 (steps)",
        ),
        Row(
            f"spectrum of the 2-64-64-3 mlp: top-{curvature.SPECTRUM_TOP_K}, trace "
            f"({curvature.SPECTRUM_TRACE_PROBES} probes), density ({curvature.SPECTRUM_DENSITY_PROBES} x "
            f"{curvature.SPECTRUM_DENSITY_ITERS} Lanczos steps): one step of spectrum_at",
            whole,
            None,
            None,
            "< 2 s",
            whole < 2,
        ),
    ]


def bench_minimize(device: str, quick: bool) -> list[Row]:
    from lab4.core.context import RunContext
    from lab4.engine.runner import execute
    from lab4.tasks import TASKS

    steps = 100 if quick else 1000
    rows = []
    for level in (1, 2, 3):
        params = TASKS["minimize"].spec.parse({"dim": 1_000_000, "complexity": level, "steps": steps})
        result = execute("minimize", params, RunContext(device=device))
        seconds = result.duration_s * (1000 / steps)
        rows.append(
            Row(
                f"minimize dim = 1e6, level {level}, 1000 steps" + (" (100 measured, x10)" if quick else ""),
                seconds,
                None,
                None,
                "< 10 s",
                seconds < 10 and result.status == "ok",
            )
        )
    return rows


def bench_batched(device: str, quick: bool) -> list[Row]:
    """A grid of (lr, beta) runs of minimize (dim 2, level 3, momentum, 500 steps; lr up to 2/L:
    stable, slow and diverging cells) as one batched computation vs the same runs one after
    another.  The baseline times every n-th run of the n x n grid (n runs spread over it) and
    scales by n: timing all of them would take minutes."""
    from lab4.core.context import RunContext
    from lab4.engine.runner import execute, sweep
    from lab4.maths.batched import descend
    from lab4.maths.device import on_torch
    from lab4.tasks import TASKS
    from lab4.tasks.minimize import function_of, observe_generated, steps_alone

    spec = TASKS["minimize"].spec
    steps = 500
    base = spec.parse({"dim": 2, "complexity": 3, "optimizer": "momentum", "steps": steps})
    ctx = on_torch(RunContext(device=device))
    f = function_of(base, ctx)

    def grid(n: int) -> tuple[list[float], list[float], list[tuple[float, float]]]:
        lrs = [2.0 * (i + 1) / n for i in range(n)]
        betas = [0.99 * j / (n - 1) for j in range(n)]
        return lrs, betas, [(lr, beta) for beta in betas for lr in lrs]

    n = 11 if quick else 41
    lrs, betas, cells = grid(n)
    ours = median_time(
        lambda: descend(
            f, f.start, "momentum", [c[0] for c in cells], [c[1] for c in cells], steps, observe_generated(f)
        ),
        1 if quick else 3,
        device,
    )
    sample = cells[::n]
    base_s = (
        median_time(lambda: [steps_alone({**base, "lr": lr, "beta": beta}, ctx) for lr, beta in sample], 1, device)
        * len(cells)
        / len(sample)
    )
    rows = [
        ratio_row(
            f"minimize {n}x{n} (lr, beta) x {steps} steps, dim 2: batched vs one by one ({len(sample)} timed, x{n})",
            ours,
            base_s,
            0.05,
            "ratio <= 0.05",
        )
    ]
    m = 11 if quick else 21  # end to end, each run's result built: lab4 sweep --batched vs lab4 sweep
    lrs, betas, cells = grid(m)
    t0 = time.perf_counter()
    for _ in sweep("minimize", base, {"beta": betas, "lr": lrs}, RunContext(device=device), batched=True):
        pass
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for lr, beta in cells[::m]:
        execute("minimize", {**base, "lr": lr, "beta": beta}, RunContext(device=device))
    base_s = (time.perf_counter() - t0) * m
    rows.append(
        Row(
            f"lab4 sweep {m}x{m} with every result: --batched vs one by one ({m} timed, x{m})",
            ours,
            base_s,
            ours / base_s,
            "curve (no target)",
            None,
        )
    )
    return rows


def bench_cancel(device: str, quick: bool) -> Row:
    """From setting the cancel flag (what escape does) to the run's result, mid-run."""
    from lab4.core.context import RunContext
    from lab4.engine.runner import execute
    from lab4.tasks import TASKS

    latencies = []
    for task, params in (("mlp", {"steps": 10_000_000}), ("minimize", {"dim": 1_000_000, "steps": 10_000_000})):
        ctx = RunContext(device=device)
        box: dict[str, Any] = {}
        thread = threading.Thread(
            target=lambda: box.setdefault("r", execute(task, TASKS[task].spec.parse(params), ctx))
        )
        thread.start()
        time.sleep(1.0 if quick else 2.0)
        t0 = time.perf_counter()
        ctx.cancel()
        thread.join()
        latencies.append(time.perf_counter() - t0)
        if box["r"].status != "cancelled":
            raise RuntimeError(f"{task} ended {box['r'].status}, not cancelled")
    worst = max(latencies)
    return Row("cancel latency, mid-run (mlp; minimize dim 1e6), worst", worst, None, None, "< 0.5 s", worst < 0.5)


def bench_cli_long_run(device: str, quick: bool) -> list[Row]:
    """``lab4 run minimize`` as a user runs it (a fresh process through the CLI, saving to a data
    directory): its peak memory per step, from two long runs (what any run holds, torch and the
    phase map, is in both), projected to 10,000,000 steps; and Ctrl-C (SIGINT) on a
    10,000,000-step run, sent once it computes: the time until it exits, saved as cancelled."""
    import signal

    from lab4.store import Store

    n = 150_000 if quick else 500_000
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:

        def peak_mb(steps: int) -> float:
            argv = ("run", "minimize", "--steps", str(steps), "--device", device, "--data-dir", tmp)
            out = subprocess.run(drivers.command("cli_peak", *argv), capture_output=True, text=True, timeout=1800)
            if out.returncode != 0:
                raise RuntimeError(out.stderr.strip()[-200:])
            return float(out.stderr.strip().splitlines()[-1].split()[1])

        small, one, three = peak_mb(10), peak_mb(n), peak_mb(3 * n)
        per_step = (three - one) * 1024 * 1024 / (2 * n)
        projected = three + (three - one) * (10_000_000 - 3 * n) / (2 * n)
        rows.append(
            Row(
                f"lab4 run minimize --steps {n:,} and {3 * n:,} (CLI): memory per step",
                per_step,
                None,
                None,
                "-",
                None,
                unit="B",
            )
        )
        rows.append(
            Row(
                "... the peak projected to 10,000,000 steps (vs a 10-step run's)",
                projected,
                small,
                projected / small,
                "< 1 GB",
                projected < 1000,
                unit="MB",
            )
        )
        figure = "Ctrl-C on a 10,000,000-step lab4 run minimize: until it exits (saved as cancelled)"
        argv = ("run", "minimize", "--steps", "10000000", "--device", device, "--data-dir", tmp)
        proc = subprocess.Popen(
            drivers.command("cli_peak", *argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            if proc.stderr is None or "imported" not in proc.stderr.readline():
                raise RuntimeError("the run did not start")
            time.sleep(2.0)  # torch is imported: the run computes (it takes minutes)
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
            seconds = time.perf_counter() - t0
            statuses = [r.status for r in Store(tmp).list_runs("minimize").runs]
            if statuses.count("cancelled") != 1:
                raise RuntimeError(f"after Ctrl-C the runs were {statuses}, not one cancelled")
            rows.append(Row(figure, seconds, None, None, "< 2 s", seconds < 2))
        except Exception as exc:  # noqa: BLE001 - the memory rows above stand on their own
            rows.append(Row(f"{figure}: failed ({type(exc).__name__}: {str(exc)[:80]})", None, None, None, "-", False))
        finally:
            proc.kill()
            proc.wait()
    return rows


def bench_cancel_worker(device: str, quick: bool) -> list[Row]:
    """Cancel through a compute worker, mid-run (after its first events), and ending a worker
    (what the app does when a run does not answer its cancel): the time until the parent has
    the run's result."""
    from lab4.engine.worker import Job, RunTracker, Worker, WorkerGone
    from lab4.tasks import TASKS

    def mid_run(worker: Worker, job: Job, stop: Callable[[], None]) -> float:
        tracker, t0 = RunTracker(job), None
        worker.send_run(1, job, save=False)
        try:
            while tracker.result is None:
                kind, _, payload = worker.recv(120) or ("timeout", None, None)
                if kind == "events":
                    tracker.add(payload)
                    if t0 is None and tracker.builder.progress.step:
                        t0 = time.perf_counter()
                        stop()
                elif kind == "ended":
                    tracker.end(payload)
                elif kind == "timeout":
                    raise RuntimeError("the worker went silent")
        except WorkerGone:
            pass
        return time.perf_counter() - t0

    latencies, ends = [], []
    for task, params in (("mlp", {"steps": 10_000_000}), ("minimize", {"dim": 1_000_000, "steps": 10_000_000})):
        job = Job(task, TASKS[task].spec.parse(params), device)
        worker = Worker(threads_for_one_worker())
        try:
            worker.wait_ready()
            latencies.append(mid_run(worker, job, worker.cancel))
            ends.append(mid_run(worker, job, lambda w=worker: w.kill(by_user=True)))
        finally:
            worker.stop()
    return [
        Row(
            "cancel latency through the worker, mid-run (mlp; minimize dim 1e6), worst",
            max(latencies),
            None,
            None,
            "< 0.5 s",
            max(latencies) < 0.5,
        ),
        Row(
            "ending a worker that does not answer (kill to the run's result), worst",
            max(ends),
            None,
            None,
            "< 2 s",
            max(ends) < 2.0,
        ),
    ]


def threads_for_one_worker() -> int:
    return max(1, (os.cpu_count() or 1) - 1)


def bench_sweep_jobs(quick: bool) -> list[Row]:
    """``lab4 sweep minimize`` of 20 small runs with --jobs 2 against --jobs 1 (wall time of the
    whole command, the same process start both ways); the runs' metrics must be identical."""
    args = [
        "--lr",
        "0.01,0.02,0.03,0.04,0.05,0.06,0.07,0.08,0.09,0.1",
        "--optimizer",
        "gd,momentum",
        "--dim",
        "1000",
        "--steps",
        "1000" if quick else "2000",
        "--json",
        "-q",
        "--no-save",
    ]

    def sweep(jobs: str) -> tuple[float, list[Any]]:
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "lab4.cli.main", "sweep", "minimize", *args, "--jobs", jobs],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        runs = json.loads(out.stdout)["runs"]
        return time.perf_counter() - t0, [(r["label"], r["metrics"]) for r in runs]

    pairs = [(sweep("2"), sweep("1")) for _ in range(1 if quick else 2)]
    ours = statistics.median(two[0] for two, _ in pairs)
    base = statistics.median(one[0] for _, one in pairs)
    same = all(two[1] == one[1] for two, one in pairs)
    row = ratio_row(
        f"lab4 sweep minimize, 20 small runs, --jobs 2 vs --jobs 1 ({os.cpu_count()} cores)",
        ours,
        base,
        0.65,
        "ratio <= 0.65, same metrics",
    )
    row.met = bool(row.met) and same
    return [row]


def run_bench(
    device: str = "cpu", quick: bool = False, app: bool = True, progress: Callable[[str], None] | None = None
) -> list[Row]:
    sections: list[tuple[str, Callable[[], Any]]] = [
        ("central differences", lambda: bench_central_difference(device, quick)),
        ("gradient cost vs n", lambda: bench_gradient_cost(device, quick)),
        ("mlp step", lambda: [bench_mlp_step(device, quick)]),
        ("custom losses", lambda: bench_losses(device, quick)),
        ("minimize 1e6", lambda: bench_minimize(device, quick)),
        ("batched runs", lambda: bench_batched(device, quick)),
        ("cancel", lambda: [bench_cancel(device, quick)]),
        ("cancel through the worker", lambda: bench_cancel_worker(device, quick)),
        ("a long run through the CLI", lambda: bench_cli_long_run(device, quick)),
        ("sweep --jobs", lambda: bench_sweep_jobs(quick)),
        ("sharpness", lambda: [bench_sharpness(device, quick)]),
        ("spectrum", lambda: bench_spectrum(device, quick)),
        ("import", lambda: bench_import(quick)),
        ("first paint", lambda: [bench_first_paint(quick)]),
        ("store", lambda: bench_store(quick, app)),
    ]
    if app:
        sections.append(("app streaming run", lambda: bench_app(device, quick)))
    rows: list[Row] = []
    for name, fn in sections:
        if progress:
            progress(name)
        try:
            rows.extend(fn())
        except Exception as exc:  # noqa: BLE001 - one broken figure must not hide the others
            rows.append(Row(f"{name}: failed ({type(exc).__name__}: {str(exc)[:80]})", None, None, None, "-", False))
    return rows


def machine_description(device: str) -> str:
    """CPU model and count, torch version, and the GPU's name when the device is CUDA."""
    import platform

    import torch

    from lab4.maths.device import device_label

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = f"{os.cpu_count()} x {cpu}, torch {torch.__version__}"
    return text + (f", {device_label(device)}" if device.startswith("cuda") else "")


def _num(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if unit == "s":
        return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"
    return f"{value:.4g} {unit}"


def format_rows(rows: list[Row]) -> str:
    from lab4.present.textfmt import text_table

    cells = []
    for r in rows:
        cells.append(
            [
                r.figure,
                _num(r.ours, r.unit),
                _num(r.baseline, r.unit),
                "-" if r.ratio is None or not math.isfinite(r.ratio) else f"{r.ratio:.3g}",
                r.target,
                "-" if r.met is None else ("yes" if r.met else "NO"),
            ]
        )
    return text_table(["figure", "ours", "baseline", "ratio", "target", "met"], cells)
