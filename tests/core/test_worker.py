"""The compute worker with real processes: runs, cancels, faults (SIGKILL, os._exit, SIGSEGV, a
run deaf to its cancel), a parent that dies, and ``lab4 sweep --jobs``.

Runs are held in progress through :mod:`tests.worker_hooks` (a file the test creates holds the
run at a step once its first Progress event was sent; the hook writes ``<file>.held`` then), so
nothing depends on a run being long or on a sleep.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab4.core.context import RunContext
from lab4.core.events import Progress
from lab4.engine.runner import execute
from lab4.engine.worker import CANCEL_GRACE_S, Job, Pool, RunTracker, Worker, WorkerGone
from lab4.store import Store
from lab4.tasks import TASKS
from tests import HANG_S

ROOT = Path(__file__).resolve().parents[2]


def minimize(**params):
    return Job("minimize", TASKS["minimize"].spec.parse({"dim": 50, "steps": 300, **params}))


@pytest.fixture
def hooks(monkeypatch, tmp_path):
    """Workers started from here import tests.worker_hooks; returns the gate files by hook name."""
    monkeypatch.setenv("LAB4_WORKER_PRELUDE", "tests.worker_hooks")
    files = {}
    for name in ("HOLD", "DEAF", "EXIT", "SEGV", "THREADS"):
        files[name] = tmp_path / name.lower()
        monkeypatch.setenv(f"LAB4_TEST_{name}", str(files[name]))
    return files


def wait_file(path: Path) -> None:
    deadline = time.monotonic() + HANG_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def drive(worker: Worker, job: Job, until=None, **send) -> tuple[RunTracker, BaseException | None]:
    """Send ``job`` and fold its messages; ``until(tracker)`` is called after each batch."""
    tracker = RunTracker(job)
    worker.wait_ready()
    worker.send_run(1, job, **{"save": False, **send})
    try:
        while tracker.result is None:
            message = worker.recv(HANG_S)
            assert message is not None, "the worker went silent"
            kind, _, payload = message
            if kind == "events":
                tracker.add(payload)
                if until is not None:
                    until(tracker)
            elif kind == "ended":
                tracker.end(payload)
    except WorkerGone as exc:
        return tracker, exc
    return tracker, None


def test_a_run_in_the_worker_is_the_run_computed_in_process():
    job = minimize(optimizer="momentum")
    worker = Worker(threads=1)
    try:
        tracker, gone = drive(worker, job)
    finally:
        worker.stop()
    assert gone is None
    reference = execute("minimize", job.params, RunContext())
    ours = tracker.current
    assert ours.status == reference.status == "ok"
    assert ours.params == reference.params
    assert set(ours.metrics) == set(reference.metrics)
    for name, value in reference.metrics.items():
        if isinstance(value, float):
            assert math.isclose(ours.metrics[name], value, rel_tol=1e-9, abs_tol=1e-12), name
    assert list(ours.series["loss"]["y"]) == pytest.approx(list(reference.series["loss"]["y"]), rel=1e-9, abs=1e-12)
    assert ours.observations == reference.observations
    assert ours.versions["torch"] and ours.duration_s > 0


def test_the_parent_never_imports_torch(tmp_path):
    script = (
        "import sys\n"
        "from lab4.tasks import TASKS\n"
        "from lab4.engine.worker import Job, Pool\n"
        "jobs = [Job('minimize', TASKS['minimize'].spec.parse({'dim': 10, 'steps': 20, 'lr': lr})) for lr in (0.1, 0.2)]\n"
        "with Pool(2) as pool:\n"
        "    out = [r.status for _, r, _ in pool.run(jobs, save=True, data_dir=sys.argv[1])]\n"
        "print(out, 'torch' in sys.modules, 'numpy' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=HANG_S,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['ok',", "'ok']", "False", "False"]
    assert sorted(r.status for r in Store(tmp_path).list_runs("minimize").runs) == ["ok", "ok"]  # the workers saved


def test_sigkill_mid_run_is_an_error_result_with_the_events_received_and_the_next_run_gets_a_new_worker(
    hooks, tmp_path
):
    hooks["HOLD"].touch()
    killed = []

    def kill_when_held(index, event):
        if isinstance(event, Progress) and not killed:
            wait_file(Path(str(hooks["HOLD"]) + ".held"))  # the run is held at a step: it is computing
            killed.append(pool.workers[0].pid)
            hooks["HOLD"].unlink()
            os.kill(killed[0], signal.SIGKILL)

    with Pool(1) as pool:
        results = [
            r
            for _, r, _ in pool.run(
                [minimize(), minimize(lr=0.2)], save=True, data_dir=tmp_path, on_event=kill_when_held
            )
        ]
        assert pool.workers[0].pid != killed[0]
    first, second = results
    assert first.status == "error" and "SIGKILL" in first.message
    assert first.step > 0 and 0 < len(first.series["loss"]["y"]) < 301  # what arrived before is kept
    assert second.status == "ok" and len(second.series["loss"]["y"]) == 301
    saved = {r.status: r for r in Store(tmp_path).list_runs("minimize").runs}
    assert set(saved) == {"error", "ok"}  # the parent saved the dead worker's run, the new worker its own
    assert len(Store(tmp_path).load_run(saved["error"].id).series["loss"]["y"]) == len(first.series["loss"]["y"])


@pytest.mark.parametrize("hook, words", [("EXIT", "exited with status 3"), ("SEGV", "SIGSEGV")])
def test_a_worker_that_dies_inside_a_run_is_an_error_and_the_pool_goes_on(hooks, hook, words):
    hooks[hook].touch()
    with Pool(1) as pool:
        ((_, dead, _),) = pool.run([minimize()])
        hooks[hook].unlink()
        ((_, alive, _),) = pool.run([minimize()])
    assert dead.status == "error" and words in dead.message and dead.step >= 0
    assert alive.status == "ok"


def test_cancel_stops_at_the_next_step_and_keeps_what_was_computed(hooks):
    hooks["HOLD"].touch()
    worker = Worker(threads=1)
    asked = []

    def cancel_when_held(tracker):
        if tracker.builder.progress.step and not asked:
            wait_file(Path(str(hooks["HOLD"]) + ".held"))
            asked.append(time.perf_counter())
            worker.cancel()

    try:
        tracker, gone = drive(worker, minimize(), until=cancel_when_held)
        latency = time.perf_counter() - asked[0]
    finally:
        worker.stop()
    assert gone is None
    result = tracker.current
    assert result.status == "cancelled" and result.step > 0
    assert len(result.series["loss"]["y"]) > 0
    assert latency < 0.5


def test_a_run_deaf_to_its_cancel_is_ended_within_two_seconds_keeping_its_events(hooks):
    hooks["DEAF"].touch()
    worker = Worker(threads=1)
    marks = {}

    def cancel_then_end(tracker):
        if tracker.builder.progress.step and not marks:
            wait_file(Path(str(hooks["DEAF"]) + ".held"))
            worker.cancel()
            deadline = time.monotonic() + 0.5
            while (left := deadline - time.monotonic()) > 0:  # deaf: no result within 0.5 s of the cancel
                message = worker.recv(left)
                if message is None:
                    break
                assert message[0] == "events"
                tracker.add(message[2])
            marks["kill"] = time.perf_counter()
            worker.kill(by_user=True)  # what the app does on the user's confirm

    try:
        tracker, gone = drive(worker, minimize(), until=cancel_then_end)
        result = tracker.died(gone.reason, worker.killed_by_user)
        ended = time.perf_counter() - marks["kill"]
    finally:
        worker.stop()
    assert ended < 2.0
    assert result.status == "cancelled" and "ended by the user" in result.message
    assert f"{CANCEL_GRACE_S:g} s" in result.message
    assert result.step > 0 and len(result.series["loss"]["y"]) > 0


PARENT = """
import sys, time
from lab4.tasks import TASKS
from lab4.engine.worker import Job, Worker

w = Worker(threads=1)
w.wait_ready()
job = Job('minimize', TASKS['minimize'].spec.parse({'dim': 50, 'steps': 300}))
w.send_run(1, job, save=True, data_dir=sys.argv[1])
while True:
    m = w.recv(120)
    if m and m[0] == 'events':
        print(w.pid, flush=True)
        break
time.sleep(600)  # the test kills this process
"""


def test_a_parent_that_dies_leaves_the_run_saved_by_the_worker(hooks, tmp_path):
    hooks["HOLD"].touch()
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        worker_pid = int(parent.stdout.readline())
        wait_file(Path(str(hooks["HOLD"]) + ".held"))  # computing, held at a step
        parent.kill()
        parent.wait(HANG_S)
    finally:
        if parent.poll() is None:
            parent.kill()
    store = Store(tmp_path / "data")
    deadline = time.monotonic() + HANG_S
    while not store.list_runs("minimize").runs:
        assert time.monotonic() < deadline, "the worker did not save the run"
        time.sleep(0.01)
    run = store.list_runs("minimize").runs[0]
    assert run.status == "cancelled" and run.step > 0  # stopped at its next step, what it computed kept
    assert len(store.load_run(run.id).series["loss"]["y"]) > 0
    deadline = time.monotonic() + HANG_S
    while _running(worker_pid):
        assert time.monotonic() < deadline, "the worker outlived its parent"
        time.sleep(0.01)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def _sweep(tmp_path, jobs: str) -> dict:
    args = [
        sys.executable,
        "-m",
        "lab4.cli",
        "sweep",
        "minimize",
        "--dim",
        "200",
        "--steps",
        "200",
        "--lr",
        "0.05,0.1,0.2",
        "--optimizer",
        "gd,momentum,nesterov",
        "--json",
        "-q",
        "--data-dir",
        str(tmp_path / f"data{jobs}"),
        "--jobs",
        jobs,
    ]
    out = subprocess.run(
        args, capture_output=True, text=True, timeout=HANG_S, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.slow  # two CLI sweeps in subprocesses; a pool of two workers runs in test_the_parent_never_imports_torch
def test_sweep_jobs_2_gives_the_runs_of_jobs_1_in_the_same_order(tmp_path):
    one, two = _sweep(tmp_path, "1"), _sweep(tmp_path, "2")
    assert [r["label"] for r in two["runs"]] == [r["label"] for r in one["runs"]] and len(one["runs"]) == 9
    for a, b in zip(one["runs"], two["runs"]):
        assert (a["status"], a["params"], a["seed"], a["dtype"]) == (b["status"], b["params"], b["seed"], b["dtype"])
        for name, value in a["metrics"].items():
            if isinstance(value, float):
                assert math.isclose(b["metrics"][name], value, rel_tol=1e-9, abs_tol=1e-12), name
            else:
                assert b["metrics"][name] == value, name
    saved = Store(tmp_path / "data2").list_runs("minimize").runs
    assert len(saved) == 9 and {r.group for r in saved} == {two["group"]}  # each saved once, by its worker


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_jobs_value_is_a_usage_error(value):
    from click.testing import CliRunner

    from lab4.cli.main import main

    out = CliRunner().invoke(main, ["sweep", "minimize", "--jobs", value])
    assert out.exit_code == 2 and "--jobs" in out.output


def test_each_run_computes_with_the_torch_threads_sent_with_it(hooks):
    """The app's worker computes a single run on every core but the UI's and a comparison's
    runs on a share each: the count sent with a run is torch's for that run, and the next."""
    hooks["THREADS"].write_text("")
    worker = Worker(threads=1)
    try:
        assert worker.wait_ready()["threads"] == 1
        for sent in (2, None, 3, 1):
            tracker, gone = drive(worker, minimize(steps=2), threads=sent)
            assert gone is None and tracker.result.status == "ok"
    finally:
        worker.stop()
    assert hooks["THREADS"].read_text().split() == ["2", "2", "3", "1"]  # None: as the run before
