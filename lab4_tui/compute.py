"""The app's side of the compute worker (:mod:`lab4.engine.worker`): one warm process, one thread.

:class:`Compute` starts the worker in the background when the app opens (the first paint
never waits for torch) and keeps it warm.  One thread of the app (``lab4-compute``) owns the
worker's pipe: it takes the sessions the screens submit, in order, sends each planned run
to the worker as plain data, folds the events that come back, and posts the session's typed
messages (:mod:`lab4_tui.messages`) to its screen, batched to a few a second.  The worker
saves every run it ends; this side saves only the runs whose worker died or was ended.

With the ``jobs`` setting above 1, a comparison's runs compute side by side, each in a worker
of its own (:class:`lab4.engine.worker.Pool`, as ``lab4 sweep --jobs``): the warm worker and
``jobs - 1`` extras, started at the first such comparison and kept warm; each worker's torch
gets (cores - 1) / jobs torch threads, at least one (so with jobs >= cores - 1 they share
the UI's core too).  Their messages reach the screen as each run's do,
started in the comparison's order, ended as they end.

The worker's state is posted to the app as :class:`ComputeState`: ``starting torch``,
``ready``, ``computing``, ``restarted after a fault``.  A cancel sets the worker's flag (it
stops at its next step); a worker that has not ended its run :data:`CANCEL_GRACE_S` seconds
after that can be ended (:meth:`Compute.end_worker`): the run is kept, as cancelled, with the
events received, and a fresh worker starts.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable

from textual.message import Message

from lab4.core.context import RunContext
from lab4.core.events import Observation, Result
from lab4.engine.worker import (
    CANCEL_GRACE_S,
    READY_TIMEOUT_S,
    Job,
    Pool,
    RunTracker,
    Worker,
    WorkerGone,
    next_job_id,
    threads_per_worker,
)
from lab4_tui.messages import RunEnded, RunEvents, RunStarted, SessionFinished

__all__ = ["Compute", "ComputeState", "STARTING", "READY", "COMPUTING", "RESTARTED", "NOT_STARTED", "CANCEL_GRACE_S"]

NOT_STARTED = "not started"
STARTING = "starting torch"
READY = "ready"
COMPUTING = "computing"
RESTARTED = "restarted after a fault"

#: seconds between two messages of events to a screen (the first and observations go at once)
BATCH_INTERVAL = 0.25


class ComputeState(Message):
    """The worker's state changed (``fault`` says why it was restarted)."""

    def __init__(self, state: str, fault: str = ""):
        super().__init__()
        self.state = state
        self.fault = fault


class _Batch:
    """A session's events on their way to its screen: one message for what waited
    BATCH_INTERVAL, sooner for an observation (and on ``flush``)."""

    def __init__(self, session: Any):
        self.session = session
        self.pending: list[tuple[int, Any]] = []
        self.last = -1e9

    def add(self, index: int, events: list[Any]) -> None:
        self.pending.extend((index, e) for e in events)
        if self.last < 0 or any(isinstance(e, Observation) for e in events):
            self.flush()
        else:
            self.tick()

    def tick(self) -> None:
        if time.monotonic() - self.last >= BATCH_INTERVAL:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            events, self.pending = self.pending, []
            self.last = time.monotonic()
            self.session.post(RunEvents(self.session, events))


def worker_threads(jobs: int = 1) -> int:
    """torch threads of each of the app's ``jobs`` workers: the cores but the UI's, shared, at
    least one each."""
    return threads_per_worker(jobs, (os.cpu_count() or 1) - 1)


class Compute:
    def __init__(self, post: Callable[[Message], Any], data_dir: Path | None, jobs: int = 1):
        self._post = post
        self.data_dir = data_dir
        #: how many runs of a comparison compute at once, each in a worker of its own
        self.jobs = max(1, jobs)
        self._extras: list[Worker] = []  # the workers beyond the first, kept warm once started
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.worker: Worker | None = None
        self.state = NOT_STARTED
        self.fault = ""
        self.machine: dict[str, Any] | None = None
        self._ready = threading.Event()  # the machine is known (a worker said ready once)
        self._current: tuple[Any, Worker | Pool] | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.closed = False

    # ---- any thread

    @property
    def ready(self) -> bool:
        return self.state in (READY, RESTARTED, COMPUTING)

    def start(self) -> None:
        """Start the worker (and the thread that talks to it) if not yet started."""
        with self._lock:
            if self._thread is None and not self.closed:
                self._thread = threading.Thread(target=self._serve, name="lab4-compute", daemon=True)
                self._thread.start()

    def submit(self, session: Any) -> None:
        self.start()
        self._idle.clear()
        self._queue.put(session)

    def cancel(self, session: Any) -> None:
        """Stop ``session``'s run at its next step (the session's flag is already set)."""
        current = self._current
        if current is not None and current[0] is session:
            current[1].cancel()

    def end_worker(self) -> bool:
        """End the worker(s) computing now (a run that does not answer its cancel): True if one was."""
        current = self._current
        if current is None:
            return False
        current[1].kill(by_user=True)
        return True

    def workers(self) -> list[Worker]:
        """The workers started: the warm one first, then the extras of the
        ``jobs`` setting (a side-by-side comparison's, in the order of its runs' slots)."""
        current = self._current
        if current is not None and isinstance(current[1], Pool):
            return list(current[1].workers)
        return [w for w in (self.worker, *self._extras) if w is not None]

    def machine_info(self, timeout: float = READY_TIMEOUT_S) -> dict[str, Any] | None:
        """What the worker knows of the machine (devices); waits for it to start."""
        self.start()
        self._ready.wait(timeout)
        return self.machine

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every session submitted has finished (tests, the bench)."""
        return self._idle.wait(timeout)

    def close(self, wait: bool = False) -> None:
        """Cancel the run in flight, let the worker save it and exit.  With ``wait``, return
        once it did (a worker that does not stop is ended after the grace time)."""
        self.closed = True
        current = self._current
        if current is not None:
            current[0].ctx.cancel()
            current[1].cancel()
        self._queue.put(None)
        thread = self._thread
        if not wait:
            return
        if thread is not None:
            thread.join(CANCEL_GRACE_S + 10)
            if thread.is_alive():
                self.end_worker()
                thread.join(10)
        else:
            for worker in [self.worker, *self._extras]:
                if worker is not None:
                    worker.stop()

    # ---- the compute thread

    def _set_state(self, state: str, fault: str = "") -> None:
        if (state, fault) != (self.state, self.fault):
            self.state, self.fault = state, fault
            self._post(ComputeState(state, fault))

    def _serve(self) -> None:
        try:
            self._ensure_worker()
        except WorkerGone:
            pass  # said in the state; the first run tries again
        while True:
            session = self._queue.get()
            if session is None:
                break
            try:
                self._run_session(session)
            except Exception:  # noqa: BLE001 - a bug here must not stop the next sessions
                import traceback

                traceback.print_exc()
            finally:
                if self._queue.empty():
                    self._idle.set()
        workers, self.worker, self._extras = [self.worker, *self._extras], None, []
        for worker in workers:
            if worker is not None:
                worker.stop()
        self._idle.set()

    def _ensure_worker(self) -> Worker:
        if self.worker is None or not self.worker.alive():
            try:
                self.worker = Worker(worker_threads())
            except Exception as exc:  # noqa: BLE001 - no process: every run says why, the app stays up
                self._set_state(RESTARTED, f"the compute process could not start: {exc}")
                raise WorkerGone(self.fault) from None
        if not self.worker.ready:
            if self.state != RESTARTED:
                self._set_state(STARTING)
            try:
                info = self.worker.wait_ready()
            except WorkerGone as exc:
                self.worker = None
                self._set_state(RESTARTED, exc.reason)
                raise
            self.machine = info.get("machine")
            self._ready.set()
            if self.state != RESTARTED:
                self._set_state(READY)
        return self.worker

    def _trim_extras(self, keep: int) -> None:
        """Stop the extras beyond ``keep`` (the setting went down) and those that died."""
        alive = [w for w in self._extras if w.alive()]
        for worker in [w for w in self._extras if w not in alive[:keep]]:
            worker.stop()
        self._extras = alive[:keep]

    def _job_of(self, session: Any, planned: Any) -> tuple[Job, RunContext]:
        dtype, seed = session.dtype_and_seed(planned)
        ctx = RunContext(device=session.ctx.device, dtype=dtype, seed=seed, cancel_event=session.ctx.cancel_event)
        job = Job(session.task.id, dict(planned.params), ctx.device, ctx.dtype, ctx.seed, session.group, planned.label)
        return job, ctx

    def _run_session(self, session: Any) -> None:
        try:
            if session.ctx.cancelled or self.closed:
                return  # replaced or closing before it began: nothing to start
            self._trim_extras(self.jobs - 1)
            jobs = min(self.jobs, len(session.plan))
            if jobs > 1:
                self._run_side_by_side(session, jobs)
                return
            for index, planned in enumerate(session.plan):
                if session.ctx.cancelled or self.closed:
                    break
                job, ctx = self._job_of(session, planned)
                session.post(RunStarted(session, index, planned, ctx))
                result, unsaved = self._drive(session, index, job)
                session.post(RunEnded(session, index, result, unsaved))
        finally:
            if self.state == COMPUTING:
                self._set_state(READY)
            session.post(SessionFinished(session))

    def _run_side_by_side(self, session: Any, jobs: int) -> None:
        """A comparison's runs in ``jobs`` workers at once (:class:`Pool`: the warm worker and
        the extras, started the first time and kept warm); each run's messages as it goes."""
        try:
            first = self._ensure_worker()
        except WorkerGone as exc:  # no worker at all: every run says why
            for index, planned in enumerate(session.plan):
                job, ctx = self._job_of(session, planned)
                session.post(RunStarted(session, index, planned, ctx))
                result = RunTracker(job, session.task.spec.to_json(job.params)).died(exc.reason)
                session.post(RunEnded(session, index, result, session.save(result)))
            return
        extras = self._extras
        spare = extras[jobs - 1 :]  # warm, for a comparison with more runs than this one
        pool = Pool(jobs, [session.ctx.device], worker_threads(jobs), workers=[first, *extras])
        planned_jobs = [self._job_of(session, planned) for planned in session.plan]
        batch = _Batch(session)

        def on_start(index: int, job: Job) -> None:
            batch.flush()
            session.post(RunStarted(session, index, session.plan[index], planned_jobs[index][1]))

        def on_end(index: int, tracker: RunTracker, fault: str) -> None:
            batch.flush()
            if fault:
                self._set_state(RESTARTED, fault)
            session.post(RunEnded(session, index, tracker.current, tracker.unsaved))

        self._current = (session, pool)
        self._set_state(COMPUTING)
        try:
            for _ in pool.run(
                [job for job, _ in planned_jobs],
                save=True,
                data_dir=self.data_dir,
                cancelled=lambda: session.ctx.cancelled or self.closed,
                on_event=lambda index, event: batch.add(index, [event]),
                on_start=on_start,
                on_end=on_end,
                tick=batch.tick,
            ):
                pass
        finally:
            self.worker, self._extras = pool.workers[0], pool.workers[1:] + spare
            self._current = None  # after: workers() never lists the pool's replaced workers

    def _drive(self, session: Any, index: int, job: Job) -> tuple[Result, str]:
        tracker = RunTracker(job, session.task.spec.to_json(job.params))
        batch = _Batch(session)
        worker = None
        job_id = 0  # none sent yet
        try:
            worker = self._ensure_worker()
            self._current = (session, worker)
            sending = next_job_id()
            worker.send_run(sending, job, save=True, data_dir=self.data_dir, threads=worker_threads())
            job_id = sending
            if session.ctx.cancelled or self.closed:
                worker.cancel()
            self._set_state(COMPUTING)
            while True:
                message = worker.recv(BATCH_INTERVAL)
                if message is None:
                    batch.flush()
                    continue
                kind, message_job, payload = message
                if message_job != job_id:
                    continue  # an earlier run's (a worker handed back mid-run by a fault): not this one
                if kind == "events":
                    batch.add(index, tracker.add(payload))
                elif kind == "ended":
                    job_id = 0  # ended: nothing left to settle
                    batch.flush()
                    tracker.end(payload)
                    return tracker.current, tracker.unsaved
        except WorkerGone as exc:
            batch.flush()
            by_user = worker is not None and worker.killed_by_user
            result = tracker.died(exc.reason, by_user)
            self.worker = None
            self._set_state(RESTARTED, exc.reason)
            if not self.closed:
                try:
                    self.worker = Worker(worker_threads())  # a fresh one warms while the user reads
                except Exception:  # noqa: BLE001 - the next run tries again, and says why
                    self.worker = None
            return result, session.save(result)
        except BaseException:  # a bug on this side: the run stops and saves itself, the worker is left idle
            if worker is not None and job_id:
                worker.settle(job_id)
            raise
        finally:
            self._current = None
