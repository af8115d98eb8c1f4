"""The app with its compute worker, real processes: the app never imports torch, a worker killed
mid-run is a run with status error and a new worker, a run deaf to its cancel is ended by a
second escape, a cold app says it is starting torch.

Runs are held at a step by :mod:`tests.worker_hooks` (a file the test creates), never by a long
step count or a sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab4.store import Store
from lab4_tui.compute import READY, RESTARTED

from .conftest import HANG_S, finish_run, start_held_run, started, until

ROOT = Path(__file__).resolve().parents[2]
SIZE = (100, 30)


@pytest.fixture
def hooks(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB4_WORKER_PRELUDE", "tests.worker_hooks")
    files = {}
    for name in ("HOLD", "DEAF"):
        files[name] = tmp_path / name.lower()
        monkeypatch.setenv(f"LAB4_TEST_{name}", str(files[name]))
    return files


async def held(app, pilot, screen, gate: Path) -> int:
    """Wait until the run sent its first events and the worker is held at a step; its pid."""
    await started(app, pilot, screen)
    held_file = Path(str(gate) + ".held")
    await until(pilot, held_file.exists, "the run was never held")
    return int(held_file.read_text())


APP_SCRIPT = """
import asyncio, sys
from lab4_tui.app import make_app
from tests.tui.conftest import finish_run, workers_done

async def main():
    app = make_app(task="minimize", data_dir=sys.argv[1], warm_torch=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        screen.query_one("#in-steps").value = "50"
        await pilot.pause()
        await pilot.press("ctrl+r")          # a whole run
        await finish_run(app, pilot)
        await pilot.press("c")               # a comparison (the first preset)
        await finish_run(app, pilot)
        screen.open_tab("tab-history")       # History, then open the marked/first run
        await pilot.pause()
        await workers_done(app)
        await pilot.press("x")               # export the shown runs
        await pilot.press("f6")              # the report
        await workers_done(app)
        await pilot.pause()
        statuses = [r.status for _, r in screen.shown]
    app.compute.close(wait=True)
    with open("/proc/self/status") as fh:
        rss = next(int(line.split()[1]) // 1024 for line in fh if line.startswith("VmRSS"))
    print(statuses, "torch" in sys.modules, "numpy" in sys.modules, rss)

asyncio.run(main())
"""


def test_the_app_process_never_imports_torch(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", APP_SCRIPT, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=HANG_S * 2,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "LAB4_CONFIG": str(tmp_path / "c.toml")},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    *statuses, torch_loaded, numpy_loaded, rss_mb = out.stdout.split()
    assert statuses and all(s.strip("[],'") == "ok" for s in statuses)
    assert torch_loaded == "False"  # (numpy is the plots' own: lab4.present.plotting decimates with it)
    assert (tmp_path / "data" / "report.md").exists() and list((tmp_path / "data" / "exports").iterdir())
    assert int(rss_mb) < 120  # with torch in the process it was ~275 MB


async def test_a_worker_killed_mid_run_is_an_error_run_and_the_next_run_gets_a_new_worker(app_factory, hooks):
    hooks["HOLD"].touch()
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#in-steps").value = "300"
        await pilot.press("ctrl+r")
        pid = await held(app, pilot, screen, hooks["HOLD"])
        hooks["HOLD"].unlink()
        os.kill(pid, signal.SIGKILL)
        await finish_run(app, pilot)
        assert app.is_running  # the UI stays up
        ((_, dead),) = screen.shown
        assert dead.status == "error" and "SIGKILL" in dead.message
        assert screen.control.status_text.startswith("error: the compute process was killed by SIGKILL")
        assert dead.step > 0 and 0 < len(dead.series["loss"]["y"]) < 301  # what arrived is kept
        assert app.compute.state == RESTARTED and RESTARTED in app.sub_title
        saved = Store(app.store.root).list_runs("minimize").runs
        assert [r.status for r in saved] == ["error"]  # saved by the app: the worker could not
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        ((_, again),) = screen.shown
        assert again.status == "ok" and len(again.series["loss"]["y"]) == 301
        assert app.compute.state == READY and app.compute.worker.pid != pid


@pytest.mark.slow  # waits out CANCEL_GRACE_S; the worker side is core/test_worker's deaf-run test
async def test_a_run_deaf_to_its_cancel_is_ended_by_a_second_escape(app_factory, hooks):
    from lab4_tui.compute import CANCEL_GRACE_S

    hooks["DEAF"].touch()
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.query_one("#in-steps").value = "300"
        await pilot.press("ctrl+r")
        pid = await held(app, pilot, screen, hooks["DEAF"])
        session = screen.session
        asked = time.monotonic()
        await pilot.press("escape")  # cancel: the worker never comes back to its check
        assert screen.control.status_text == "cancelling..."
        await until(pilot, lambda: screen._end_armed is session, "the app never said the run did not stop")
        assert time.monotonic() - asked >= CANCEL_GRACE_S and screen.session is session
        assert "did not stop within" in screen.control.status_text and "escape again" in screen.control.status_text
        confirmed = time.monotonic()
        await pilot.press("escape")  # the confirm: end the worker
        await until(pilot, lambda: screen.session is None, "the run did not end")
        assert time.monotonic() - confirmed < 2.0
        ((_, ended),) = screen.shown
        assert ended.status == "cancelled" and "ended by the user" in ended.message
        assert ended.step > 0 and len(ended.series["loss"]["y"]) > 0
        assert [r.status for r in Store(app.store.root).list_runs("minimize").runs] == ["cancelled"]
        hooks["DEAF"].unlink()
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert screen.shown[0][1].status == "ok" and app.compute.worker.pid != pid


async def test_a_cold_app_says_it_is_starting_torch_then_runs(app_factory):
    app = app_factory(task="autograd")
    states, said = [], []
    post = app.compute._post
    app.compute._post = lambda message: (states.append(message.state), post(message))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        set_status = screen.control.set_status
        screen.control.set_status = lambda text, **kw: (said.append(text), set_status(text, **kw))
        assert app.compute.state == "not started"
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert said[0].startswith("starting torch")  # what the status line said at the press
        assert states == ["starting torch", "ready", "computing", "ready"]
        assert screen.shown[0][1].status == "ok" and screen.shown[0][1].metrics["gradient"] == {"x": 36.0, "y": -6.0}
        assert app.sub_title.startswith("ready | ")
        # the header shows it (its title repaints itself, with no screen-wide repaint)
        assert "ready | " in str(screen.query_one("HeaderTitle").render())


def with_jobs(config_file, jobs) -> None:
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(f"jobs = {jobs}\n")


async def start_two(app, pilot, values, compare, reached, what):
    """Type ``values`` and the two-run ``compare``, press ctrl+r; return the session once
    ``reached(run, k)`` holds for both of its runs at once."""
    screen = app.screen
    for name, value in values.items():
        screen.query_one(f"#in-{name}").value = value
    screen.control.set_compare(compare)
    await pilot.pause()
    await pilot.press("ctrl+r")
    await until(
        pilot,
        lambda: (
            screen.session is not None
            and len(screen.session.runs) == 2
            and all(reached(run, k) for k, run in enumerate(screen.session.runs))
        ),
        what,
    )
    return screen.session


async def hold_both(app, pilot, gate, steps=(5, 7)):
    """A comparison of two ``gated`` runs; return once both are held at their gates at once."""
    return await start_two(
        app,
        pilot,
        {"gate": str(gate)},
        "steps=" + ",".join(map(str, steps)),
        lambda run, k: run.builder.progress.step == steps[k] - 1,
        "both runs of the comparison held at once",
    )


async def test_with_jobs_2_a_comparisons_runs_compute_side_by_side_in_two_workers(app_factory, config_file, gate):
    with_jobs(config_file, 2)
    app = app_factory(task="gated")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        session = await hold_both(app, pilot, gate.path)  # with one worker the second run waits: never
        assert all(run.result is None for run in session.runs)
        await until(pilot, lambda: "runs 1, 2/2" in screen.control.status_text, "the status naming both")
        pids = [w.pid for w in app.compute.workers()]
        assert len(set(pids)) == 2
        gate.open()
        await finish_run(app, pilot)
        assert [label for label, _ in screen.shown] == ["steps=5", "steps=7"]  # the comparison's order
        assert [(r.status, r.metrics["steps_done"], len(r.series["loss"]["y"])) for _, r in screen.shown] == [
            ("ok", 5, 6),
            ("ok", 7, 8),
        ]
        saved = Store(app.store.root).list_runs("gated").runs
        assert sorted(r.status for r in saved) == ["ok", "ok"]  # each saved once, by its worker
        assert [w.pid for w in app.compute.workers()] == pids  # both kept warm


@pytest.mark.slow  # quick: the one-worker kill above and the side-by-side comparison
async def test_with_jobs_2_a_worker_killed_is_that_runs_error_and_escape_cancels_the_other(
    app_factory, config_file, gate
):
    with_jobs(config_file, 2)
    app = app_factory(task="gated")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await hold_both(app, pilot, gate.path)
        first, second = app.compute.workers()
        os.kill(second.pid, signal.SIGKILL)
        await until(pilot, lambda: screen.session.runs[1].result is not None, "the killed run's end")
        assert screen.session.runs[0].result is None  # the other run is still held
        await pilot.press("escape")
        await finish_run(app, pilot)
        (_, kept), (_, dead) = screen.shown
        assert kept.status == "cancelled" and kept.step == 4 and len(kept.series["loss"]["y"]) == 5
        assert dead.status == "error" and "SIGKILL" in dead.message and len(dead.series["loss"]["y"]) == 7
        assert app.compute.state == RESTARTED
        saved = Store(app.store.root).list_runs("gated").runs
        assert sorted(r.status for r in saved) == ["cancelled", "error"]  # the error saved by the app
        gate.open()
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert [r.status for _, r in screen.shown] == ["ok", "ok"], [r.message for _, r in screen.shown]
        pids = [w.pid for w in app.compute.workers()]
        assert pids[0] == first.pid and second.pid not in pids and len(set(pids)) == 2


@pytest.mark.slow  # quick: the one-worker deaf run above
async def test_with_jobs_2_a_second_escape_ends_every_worker_deaf_to_its_cancel(app_factory, config_file, hooks):
    with_jobs(config_file, 2)
    hooks["DEAF"].touch()
    app = app_factory(task="minimize")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        session = await start_two(
            app, pilot, {"steps": "300"}, "lr=0.1,0.2", lambda run, k: run.builder.progress.step > 0, "both under way"
        )
        before = [w.pid for w in app.compute.workers()]
        await pilot.press("escape")  # cancel: neither worker comes back to its check
        await until(pilot, lambda: screen._end_armed is session, "the app never said the runs did not stop")
        await pilot.press("escape")  # the confirm: end both workers
        await until(pilot, lambda: screen.session is None, "the runs did not end")
        assert [r.status for _, r in screen.shown] == ["cancelled", "cancelled"]
        assert all("ended by the user" in r.message and len(r.series["loss"]["y"]) > 0 for _, r in screen.shown)
        saved = Store(app.store.root).list_runs("minimize").runs
        assert sorted(r.status for r in saved) == ["cancelled", "cancelled"]  # saved by the app, once each
        hooks["DEAF"].unlink()
        await pilot.press("ctrl+r")
        await finish_run(app, pilot)
        assert [r.status for _, r in screen.shown] == ["ok", "ok"], [r.message for _, r in screen.shown]
        assert not set(before) & {w.pid for w in app.compute.workers()}  # both replaced


@pytest.mark.slow  # a bug's path: the side-by-side comparison above is the quick one
async def test_with_jobs_2_a_fault_in_the_app_mid_comparison_leaves_the_workers_idle(
    app_factory, config_file, gate, monkeypatch
):
    """An exception on the app's side of a side-by-side comparison (a bug) must not hand the
    workers back still computing: each run is cancelled and saved by its worker, and a
    comparison started at once after it computes on the same workers (a run message sent to
    a busy worker was taken by its run for the parent's death: the new run was cancelled at
    its first step)."""
    import lab4.engine.worker

    with_jobs(config_file, 2)
    app = app_factory(task="gated")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await hold_both(app, pilot, gate.path)  # both held at their gate, which never opens by itself
        pids = [w.pid for w in app.compute.workers()]

        def broken(*args, **kwargs):
            raise RuntimeError("a bug in the app's side of the comparison")

        monkeypatch.setattr(lab4.engine.worker, "wait_for", broken)  # the pool's next wait for messages
        await until(pilot, lambda: screen.session is None, "the comparison did not finish")
        monkeypatch.undo()
        store = Store(app.store.root)
        saved = store.list_runs("gated").runs  # the pool waited for both ends before it let go
        assert sorted(r.status for r in saved) == ["cancelled", "cancelled"], [(r.status, r.message) for r in saved]
        await pilot.press("ctrl+r")  # at once: the same comparison, on the same workers
        await until(
            pilot,
            lambda: (
                screen.session is not None
                and len(screen.session.runs) == 2
                and all(run.builder.progress.step == steps - 1 for run, steps in zip(screen.session.runs, (5, 7)))
            ),
            "the next comparison's runs held at their gate",
        )
        gate.open()
        await finish_run(app, pilot)
        assert [r.status for _, r in screen.shown] == ["ok", "ok"], [r.message for _, r in screen.shown]
        assert [w.pid for w in app.compute.workers()] == pids  # the same workers, idle again
        assert sorted(r.status for r in store.list_runs("gated").runs) == ["cancelled", "cancelled", "ok", "ok"]


@pytest.mark.slow  # a bug's path, one worker: the two-worker test above is its twin
async def test_a_fault_in_the_app_mid_run_leaves_the_worker_idle(app_factory, gate, monkeypatch):
    import lab4_tui.compute

    app = app_factory(task="gated")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await start_held_run(app, pilot, screen, gate)
        pid = app.compute.worker.pid

        def broken(self):
            raise RuntimeError("a bug in the app's side of the run")

        monkeypatch.setattr(lab4_tui.compute._Batch, "flush", broken)  # called at the next quiet wait
        await until(pilot, lambda: screen.session is None, "the run did not finish")
        monkeypatch.undo()
        store = Store(app.store.root)
        assert [r.status for r in store.list_runs("gated").runs] == ["cancelled"]  # ended before the worker was let go
        await pilot.press("ctrl+r")  # at once, on the same worker
        await until(
            pilot,
            lambda: screen.session is not None and screen.session.runs[0].builder.progress.step == 4,
            "the next run held at its gate",
        )
        gate.open()
        await finish_run(app, pilot)
        assert [r.status for _, r in screen.shown] == ["ok"], [r.message for _, r in screen.shown]
        assert app.compute.worker.pid == pid
