"""Compute in a process of its own: the worker owns torch, the device and the run context.

The app's process (and ``lab4 sweep --jobs N``) never imports torch: it starts workers,
sends them runs as plain data, and folds the events they send back into
:class:`~lab4.core.events.Result` objects with the same :class:`~lab4.core.events.ResultBuilder` the
worker uses, so what the parent shows and what the worker saves are the same data.

Processes
    A worker is a :mod:`multiprocessing` process started with ``forkserver`` where the
    platform has it (Linux, macOS: a server that imported torch once forks each worker, so a
    fresh worker is ready in a fraction of a second), else ``spawn``.  Never plain ``fork``:
    the parent has threads (Textual's, the reader's).  A worker is kept warm and computes one
    run at a time; :class:`Pool` holds N of them for a sweep.

Parent -> worker (dicts over a duplex :func:`multiprocessing.Pipe`)
    ``{"op": "run", "job": int, "run": {"task", "params", "device", "dtype", "seed", "group",
    "label"}, "save": bool, "data_dir": str | None, "threads": int | None}``: compute one run.
    ``params`` are the validated values (:func:`lab4.core.comparison.plan`'s); ``save`` says
    whether the worker saves the finished run in ``Store(data_dir)``; ``threads``, when given,
    is torch's thread count for this run and the next (the app's worker computes a single run
    on every core but the UI's, and a comparison's runs side by side on a share each).
    ``{"op": "stop"}``: finish and exit (so does the end of the pipe: a parent that died).

Cancellation
    A shared flag (one byte of shared memory, :class:`SharedFlag`) that the run's
    ``ctx.check()`` reads at every step: the parent sets it, the run ends ``cancelled`` with
    what it computed, as before.  The parent clears it before it sends the next run.  A
    worker that does not end its run within :data:`CANCEL_GRACE_S` of the flag (a kernel
    that never returns to Python) can be killed; see :meth:`Worker.kill`.

Worker -> parent (tuples ``(kind, job, payload)``)
    ``("ready", None, {"pid", "threads", "versions", "machine"})`` once torch is imported;
    ``machine`` is :func:`lab4.core.context.machine_info` (what :func:`parse_device` needs, so the
    parent checks devices without torch).
    ``("events", job, [event, ...])``: the run's events, batched: the first at once, then at
    most every :data:`BATCH_S` seconds or :data:`BATCH_EVENTS` events, an observation at once;
    a small thread of the worker sends what waited longer than BATCH_S (a slow step never
    holds back the events before it).
    Each event is a tuple (:func:`encode_event`): ``("progress", step, total)``, ``("points",
    series, x, y)`` (x and y as ``array('d')``), ``("table", name, columns, rows)``,
    ``("observation", text)``, ``("metric", name, value)``, ``("artifact", name, data)``.
    ``("ended", job, {"result": {...}, "saved": bool, "unsaved": str})``: the run's result as
    plain data without its series (the parent has them: the concatenated ``points`` events),
    whether the worker saved it, and why not ("" when it did or was not asked to).

Faults
    A worker that dies (SIGKILL, a segfault, ``os._exit``, the out-of-memory killer) closes
    the pipe: :class:`RunTracker.died` turns the run into status ``error`` with how it died,
    keeping every event received; the parent saves that result (the worker cannot), and the
    next run starts a new worker.  A parent that dies closes the pipe too (the parent never
    writes during a run, so the worker's thread sees the pipe become readable): the worker
    stops the run at its next step, saves it (``cancelled``, with what it computed), and exits.

Who saves: the worker, every run it ends (ok, diverged, cancelled, error); the parent only
the runs whose worker died or was killed.  Each run is saved exactly once.

Values that cross are plain Python (str, int, float, bool, None, lists, tuples, dicts,
``array('d')``): unpickling them never imports torch or numpy.
"""

from __future__ import annotations

import importlib
import itertools
import math
import multiprocessing
import os
import signal
import threading
import time
from array import array
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, fields
from multiprocessing.connection import wait as wait_for
from typing import Any, Callable, Iterator, Sequence

from lab4.core.events import (
    Artifact,
    Finding,
    Metric,
    Observation,
    Points,
    Progress,
    Result,
    ResultBuilder,
    Table,
)

__all__ = [
    "Job",
    "Worker",
    "Pool",
    "RunTracker",
    "SharedFlag",
    "WorkerGone",
    "encode_event",
    "decode_event",
    "result_fields",
    "START_METHOD",
    "BATCH_S",
    "BATCH_EVENTS",
    "CANCEL_GRACE_S",
    "READY_TIMEOUT_S",
    "threads_per_worker",
    "next_job_id",
    "PRELUDE_ENV",
]

START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
BATCH_S = 0.05
BATCH_EVENTS = 512
#: seconds a worker has to end its run once cancelled, before it may be killed
CANCEL_GRACE_S = 2.0
#: seconds a new worker may take to import torch and say it is ready
READY_TIMEOUT_S = 120.0
#: modules a worker imports before it says it is ready (comma-separated): a hook for tests
#: that register a task or patch a function inside the worker
PRELUDE_ENV = "LAB4_WORKER_PRELUDE"


class WorkerGone(Exception):
    """The worker's process ended (or its pipe broke): ``reason`` says how."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SharedFlag:
    """A cancel flag both processes see (``is_set``/``set``/``clear``, as threading.Event's)."""

    def __init__(self, mp: Any):
        self._value = mp.RawValue("b", 0)

    def is_set(self) -> bool:
        return bool(self._value.value)

    def set(self) -> None:
        self._value.value = 1

    def clear(self) -> None:
        self._value.value = 0


@dataclass
class Job:
    """One run, as plain data."""

    task: str
    params: dict[str, Any]
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    group: str = ""
    label: str = ""

    def to_plain(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_job_ids = itertools.count(1)


def next_job_id() -> int:
    """A run's id on the pipe, unique in this process: a worker's messages for an earlier run
    (one handed back by a fault or an exception, one lent by the app) never pass for this one."""
    return next(_job_ids)


def threads_per_worker(jobs: int, cores: int | None = None) -> int:
    """torch threads for each of ``jobs`` workers, so that together they fill the cores once."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, jobs))


# ---- plain data


def plain(value: Any) -> Any:
    """``value`` as plain Python data (numpy and torch scalars and arrays become floats and
    lists; NaN stays NaN)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value if type(value) in (str, bool, int, float) or value is None else _scalar(value)
    if isinstance(value, dict):
        return {k if type(k) in (str, int) else str(_scalar(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain(v) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, array):
        return value
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    return str(value)


def _scalar(value: Any) -> Any:
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def encode_event(event: Any) -> tuple:
    if isinstance(event, Progress):
        return ("progress", int(event.step), int(event.total))
    if isinstance(event, Points):
        return ("points", str(event.series), array("d", event.x), array("d", event.y))
    if isinstance(event, Observation):
        return ("observation", str(event.text))
    if isinstance(event, Metric):
        return ("metric", str(event.name), plain(event.value))
    if isinstance(event, Table):
        return ("table", str(event.name), plain(list(event.columns)), plain([list(r) for r in event.rows]))
    if isinstance(event, Artifact):
        return ("artifact", str(event.name), plain(event.data))
    if isinstance(event, Finding):
        return ("finding", plain(event.to_json()))
    raise TypeError(f"not a run event: {type(event).__name__}")


def decode_event(data: Sequence[Any]) -> Any:
    kind = data[0]
    if kind == "progress":
        return Progress(data[1], data[2])
    if kind == "points":
        return Points(data[1], data[2], data[3])
    if kind == "observation":
        return Observation(data[1])
    if kind == "metric":
        return Metric(data[1], data[2])
    if kind == "table":
        return Table(data[1], data[2], data[3])
    if kind == "artifact":
        return Artifact(data[1], data[2])
    if kind == "finding":
        return Finding.from_json(data[1])
    raise ValueError(f"unknown event kind {kind!r}")


def result_fields(result: Result) -> dict[str, Any]:
    """Every field of ``result`` but its series, as plain data."""
    return {f.name: plain(getattr(result, f.name)) for f in fields(Result) if f.name != "series"}


# ---- the worker process


def _child(conn: Any, flag: SharedFlag, options: dict[str, Any]) -> None:
    """The worker's main: import torch, say ready, compute runs until told to stop."""
    os.environ.update(options.get("env", {}))
    try:  # the parent handles ctrl-c (it sets the flag); a worker must not die of it
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):
        pass
    import gc

    import torch

    threads = options.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    for name in filter(None, (options.get("prelude") or "").split(",")):
        importlib.import_module(name.strip())
    from lab4.engine.runner import versions
    from lab4.maths.device import machine_info

    gc.collect()  # with the forkserver, torch's objects were frozen there: this walks the worker's own
    gc.freeze()  # torch's long-lived objects out of the collector's way
    try:
        conn.send(
            (
                "ready",
                None,
                plain(
                    {
                        "pid": os.getpid(),
                        "threads": torch.get_num_threads(),
                        "versions": versions(),
                        "machine": machine_info(),
                    }
                ),
            )
        )
    except OSError:
        return
    stores: dict[Any, Any] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        op = message.get("op")
        if op == "stop":
            return
        if op == "run" and not _serve_run(conn, flag, message, stores):
            return  # the parent is gone: the run was saved, nobody is left to ask for more


def _serve_run(conn: Any, flag: SharedFlag, message: dict[str, Any], stores: dict[Any, Any]) -> bool:
    from lab4.core.context import RunContext
    from lab4.engine.runner import execute

    job, run = message["job"], Job(**message["run"])
    threads = message.get("threads")
    if threads:
        import torch

        if torch.get_num_threads() != int(threads):
            torch.set_num_threads(int(threads))
    outbox = _Outbox(conn, job, flag)
    ctx = RunContext(device=run.device, dtype=run.dtype, seed=run.seed, cancel_event=flag)  # type: ignore[arg-type]
    try:
        result = execute(run.task, run.params, ctx, on_event=outbox.add, group=run.group, label=run.label)
    finally:
        outbox.close()
    saved, unsaved = False, ""
    if message.get("save"):
        from lab4.store import Store, StoreError

        key = message.get("data_dir")
        try:
            store = stores.setdefault(key, Store(key))
            store.save_run(result)
            saved = True
        except (OSError, StoreError) as exc:
            unsaved = str(exc)
    outbox.send(("ended", job, {"result": result_fields(result), "saved": saved, "unsaved": unsaved}))
    return not outbox.broken


class _Outbox:
    """A run's events, batched onto the pipe.  A small thread sends what waited BATCH_S (a run
    whose next event is far off still shows its last ones); a broken pipe (the parent died)
    cancels the run."""

    def __init__(self, conn: Any, job: int, flag: SharedFlag):
        self.conn, self.job, self.flag = conn, job, flag
        self.pending: list[tuple] = []
        self.last = -math.inf
        self.broken = False
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.ticker = threading.Thread(target=self._tick, name="lab4-outbox", daemon=True)
        self.ticker.start()

    def _tick(self) -> None:
        while not self.done.wait(BATCH_S):
            with self.lock:
                if self.pending and time.monotonic() - self.last >= BATCH_S:
                    self._flush()
                try:  # the parent sends nothing during a run: readable means it closed the pipe (died)
                    gone = self.conn.poll(0)
                except (OSError, EOFError):
                    gone = True
                if gone:
                    self.flag.set()

    def add(self, event: Any) -> None:
        encoded = encode_event(event)
        with self.lock:
            self.pending.append(encoded)
            if (
                isinstance(event, (Observation, Finding))
                or len(self.pending) >= BATCH_EVENTS
                or time.monotonic() - self.last >= BATCH_S
            ):
                self._flush()

    def close(self) -> None:
        self.done.set()
        self.ticker.join()
        with self.lock:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            events, self.pending = self.pending, []
            self._send(("events", self.job, events))
        self.last = time.monotonic()

    def send(self, message: tuple) -> None:
        with self.lock:
            self._send(message)

    def _send(self, message: tuple) -> None:
        if self.broken:
            return
        try:
            self.conn.send(message)
        except (OSError, EOFError):  # the parent is gone: stop at the next step, save, exit
            self.broken = True
            self.flag.set()


# ---- the parent's side


def _context() -> Any:
    mp = multiprocessing.get_context(START_METHOD)
    if START_METHOD == "forkserver":
        mp.set_forkserver_preload(["lab4.engine.preload"])  # torch, once, in the server: every worker shares it
    return mp


_MAIN_LOCK = threading.Lock()


@contextmanager
def _without_main() -> Iterator[None]:
    """Start a process without multiprocessing's re-import of the parent's main module in the
    child: the worker needs only lab4, and a script without a main guard, a program read
    from stdin or a notebook would otherwise fail or run twice."""
    import sys
    import types

    with _MAIN_LOCK:
        main, err = sys.modules.get("__main__"), sys.stderr
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:  # a captured stderr (Textual's, a test's) without a file descriptor: the real one
            if err is not None and err.fileno() < 0 and sys.__stderr__ is not None:
                sys.stderr = sys.__stderr__
        except (AttributeError, OSError, ValueError):
            if sys.__stderr__ is not None:
                sys.stderr = sys.__stderr__
        try:
            yield
        finally:
            sys.stderr = err
            if main is not None:
                sys.modules["__main__"] = main


def death_reason(exitcode: int | None) -> str:
    """How a worker process ended, in words."""
    if exitcode is None:
        return "the compute process stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        why = {
            "SIGKILL": " (killed: out of memory, or by a user)",
            "SIGSEGV": " (a crash in native code)",
            "SIGABRT": " (aborted)",
            "SIGBUS": " (a crash in native code)",
        }.get(name, "")
        return f"the compute process was killed by {name}{why}"
    return f"the compute process exited with status {exitcode}"


class Worker:
    """One compute process, seen from the parent.

    One thread talks to it (``send_run``, ``recv``); ``cancel`` and ``kill`` may be called
    from any thread.
    """

    def __init__(self, threads: int | None = None, device: str = "cpu", prelude: str | None = None):
        mp = _context()
        self.device = device
        self.flag = SharedFlag(mp)
        self.conn, child = mp.Pipe(duplex=True)
        env = {k: v for k, v in os.environ.items() if k.startswith("LAB4_")}
        options = {
            "threads": threads,
            "prelude": os.environ.get(PRELUDE_ENV, "") if prelude is None else prelude,
            "env": env,
        }
        self.process = mp.Process(target=_child, args=(child, self.flag, options), name="lab4-worker", daemon=True)
        with _without_main():
            self.process.start()
        child.close()  # the child's end lives in the child only: its death is our EOF
        self.info: dict[str, Any] = {}
        self.killed_by_user = False
        self.gone = ""

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def ready(self) -> bool:
        return bool(self.info)

    def alive(self) -> bool:
        return not self.gone and self.process.is_alive()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> dict[str, Any]:
        """Block until the worker has imported torch; its ``ready`` payload.  Raises WorkerGone."""
        if not self.info:
            message = self.recv(timeout)
            if message is None:
                self.kill()
                raise WorkerGone(f"the compute process did not start within {timeout:.0f} s")
            if message[0] != "ready":
                raise WorkerGone(f"the compute process said {message[0]!r} before it was ready")
            self.info = message[2]
        return self.info

    def send_run(self, job_id: int, job: Job, save: bool, data_dir: Any = None, threads: int | None = None) -> None:
        self.flag.clear()
        try:
            self.conn.send(
                {
                    "op": "run",
                    "job": job_id,
                    "run": job.to_plain(),
                    "save": save,
                    "data_dir": None if data_dir is None else str(data_dir),
                    "threads": threads,
                }
            )
        except (OSError, EOFError):
            raise WorkerGone(self._reason()) from None

    def recv(self, timeout: float | None = None) -> tuple | None:
        """The next message, None after ``timeout`` seconds without one.  Raises WorkerGone."""
        if self.gone:
            raise WorkerGone(self.gone)
        try:
            if timeout is not None and not self.conn.poll(timeout):
                return None
            return self.conn.recv()
        except (EOFError, OSError):
            raise WorkerGone(self._reason()) from None

    def _reason(self) -> str:
        self.process.join(timeout=5)
        self.gone = death_reason(self.process.exitcode)
        if self.killed_by_user:
            self.gone = f"ended by the user: the run did not stop within {CANCEL_GRACE_S:g} s of the cancel"
        return self.gone

    def cancel(self) -> None:
        self.flag.set()

    def kill(self, by_user: bool = False) -> None:
        """End the process now (SIGKILL): a run in flight becomes a WorkerGone for its reader."""
        self.killed_by_user = self.killed_by_user or by_user
        if self.process.is_alive():
            self.process.kill()

    def settle(self, job_id: int, timeout: float = CANCEL_GRACE_S) -> None:
        """Cancel run ``job_id`` and wait for its end (read and dropped: the worker saves it),
        ``timeout`` seconds at most, then kill the worker.  For a reader that stops reading
        mid-run (an exception): the worker is idle after, or dead, never busy.  (A run message
        sent to a busy worker would be taken by its run for the parent's death, and cancel
        the next run at its first step.)"""
        self.cancel()
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                message = self.recv(left) if left > 0 else None
                if message is None:
                    self.kill()
                    return
                if message[0] == "ended" and message[1] == job_id:
                    return
        except WorkerGone:
            return

    def stop(self, timeout: float = CANCEL_GRACE_S) -> None:
        """Ask the worker to exit (cancelling a run in flight) and wait ``timeout`` s; then kill it."""
        self.flag.set()
        try:
            self.conn.send({"op": "stop"})
        except (OSError, EOFError):
            pass
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class RunTracker:
    """One run's messages folded into a Result on the parent's side."""

    def __init__(self, job: Job, params_json: dict[str, Any] | None = None):
        self.job = job
        r = Result(
            task=job.task,
            params=params_json if params_json is not None else _params_json(job),
            device=job.device,
            dtype=job.dtype,
            seed=job.seed,
            group=job.group,
            label=job.label,
            started=_now(),
        )
        self.builder = ResultBuilder(r)
        self.t0 = time.perf_counter()
        self.result: Result | None = None
        self.saved = False
        self.unsaved = ""

    @property
    def current(self) -> Result:
        return self.result if self.result is not None else self.builder.result

    def add(self, events: list[tuple]) -> list[Any]:
        decoded = [decode_event(e) for e in events]
        for event in decoded:
            self.builder.add(event)
        return decoded

    def end(self, payload: dict[str, Any]) -> Result:
        data = payload["result"]
        known = {f.name for f in fields(Result)}
        result = Result(**{k: v for k, v in data.items() if k in known})
        result.series = self.builder.result.series
        self.result, self.saved, self.unsaved = result, payload.get("saved", False), payload.get("unsaved", "")
        return result

    def died(self, reason: str, by_user: bool = False) -> Result:
        """The result of a run whose worker died: status error (cancelled when the user ended
        it), with every event received."""
        r = self.builder.result
        step = self.builder.progress.step
        if by_user:
            r.status, r.message = "cancelled", f"{reason} (at step {step})"
        else:
            r.status, r.message = "error", f"{reason}, at step {step}; what it computed before is kept"
        r.step = step
        from lab4.engine.runner import new_run_id, stopped_metrics
        from lab4.tasks import TASKS

        if not r.id:
            r.id = new_run_id(r.task)
        if r.task in TASKS:  # the metrics of its last recorded step, from the series that arrived
            r.metrics.update(stopped_metrics(TASKS[r.task], r))
        r.ended = _now()
        r.duration_s = round(time.perf_counter() - self.t0, 6)
        self.result = r
        return r


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _params_json(job: Job) -> dict[str, Any]:
    try:
        from lab4.tasks import get_task

        return get_task(job.task).spec.to_json(job.params)
    except KeyError:  # a task only the worker knows (a test's)
        from lab4.core.events import jsonable

        return jsonable(job.params)


def save_result(result: Result, data_dir: Any) -> str:
    """Save a result in the parent (a run whose worker died): "" when saved, else why not."""
    from lab4.store import Store, StoreError

    try:
        Store(data_dir).save_run(result)
    except (OSError, StoreError) as exc:
        return str(exc)
    return ""


class Pool:
    """N workers that compute the runs of a comparison in parallel.

    ``run(jobs)`` yields ``(index, result, tracker)`` in the jobs' order, each as soon as it
    and every run before it have ended; a worker that dies is replaced and its run is an
    ``error`` result.  With several ``devices``, worker i computes on ``devices[i % len]``.
    ``workers`` lends the pool warm workers (the app's): it starts only the rest.  The pool's
    workers, replacements included, are ``pool.workers``; :meth:`close` stops them all.
    """

    def __init__(
        self,
        jobs: int,
        devices: Sequence[str] = ("cpu",),
        threads: int | None = None,
        workers: Sequence[Worker] = (),
    ):
        self.size = max(1, jobs)
        self.devices = list(devices) or ["cpu"]
        self.threads = threads if threads is not None else threads_per_worker(self.size)
        self.workers: list[Worker] = list(workers)[: self.size]
        self.workers += [self._new(i) for i in range(len(self.workers), self.size)]
        #: the running ``run``'s slots computing a run now: slot -> (job index, tracker, job id)
        self._busy: dict[int, tuple[int, RunTracker, int]] = {}

    def _new(self, i: int) -> Worker:
        return Worker(self.threads, self.devices[i % len(self.devices)])

    def cancel(self) -> None:
        for w in self.workers:
            w.cancel()

    def kill(self, by_user: bool = False) -> None:
        """End every worker computing a run now (runs that do not answer their cancel): each
        run becomes a fault with the events received, and its worker is replaced."""
        for slot in list(self._busy):
            self.workers[slot].kill(by_user)

    def close(self) -> None:
        for w in self.workers:
            w.stop()

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def run(
        self,
        jobs: Sequence[Job],
        save: bool = False,
        data_dir: Any = None,
        cancelled: Callable[[], bool] = lambda: False,
        on_event: Callable[[int, Any], None] | None = None,
        on_start: Callable[[int, Job], None] | None = None,
        on_end: Callable[[int, RunTracker, str], None] | None = None,
        tick: Callable[[], None] | None = None,
    ) -> Iterator[tuple[int, Result, RunTracker]]:
        """Compute ``jobs``; yield them in order.  Callbacks, all on the caller's thread:
        ``on_start(index, job)`` as a run is given to a worker (in the jobs' order; a worker
        still importing torch is waited for after it), ``on_event(index, event)`` for each
        event, ``on_end(index, tracker, fault)`` as each run ends, in whatever order they end
        (``fault``: how its worker died, else ""), and ``tick()`` after each wait for
        messages (0.1 s at most, unless a worker is being started or a result saved).  If a
        callback raises, or the caller stops early, the runs in flight are cancelled and their
        ends awaited (:meth:`Worker.settle`): no worker is left computing."""
        busy: dict[int, tuple[int, RunTracker, int]] = {}  # worker slot -> (job index, tracker, job id)
        self._busy = busy
        queue = deque(enumerate(jobs))
        done: dict[int, RunTracker] = {}
        following = 0

        def ended(slot: int, index: int, tracker: RunTracker, fault: str) -> None:
            del busy[slot]
            done[index] = tracker
            if on_end is not None:
                on_end(index, tracker, fault)

        def in_order() -> Iterator[tuple[int, Result, RunTracker]]:
            nonlocal following
            while following in done:
                tracker = done.pop(following)
                yield following, tracker.current, tracker
                following += 1

        try:
            while queue or busy:
                for slot, worker in enumerate(self.workers):
                    if slot in busy or not queue or cancelled():
                        continue
                    index, job = queue.popleft()
                    job = Job(**{**job.to_plain(), "device": self.devices[slot % len(self.devices)]})
                    tracker = RunTracker(job)
                    busy[slot] = (index, tracker, next_job_id())
                    if on_start is not None:
                        on_start(index, job)
                    try:
                        worker.wait_ready()
                        worker.send_run(busy[slot][2], job, save, data_dir, threads=self.threads)
                    except WorkerGone as exc:
                        ended(slot, index, tracker, self._fault(slot, exc.reason, tracker, save, data_dir))
                if not busy:
                    break  # cancelled before the remaining runs
                if cancelled():
                    self.cancel()  # every run in flight stops at its next step, keeping what it computed
                conns = {self.workers[slot].conn: slot for slot in busy}
                for conn in wait_for(list(conns), timeout=0.1):
                    slot = conns[conn]
                    index, tracker, expected = busy[slot]
                    try:
                        message = self.workers[slot].recv(0)
                    except WorkerGone as exc:
                        ended(slot, index, tracker, self._fault(slot, exc.reason, tracker, save, data_dir))
                        continue
                    if message is None:
                        continue
                    kind, job_id, payload = message
                    if job_id != expected:
                        continue  # an earlier run's (a lent worker's, one left by an exception): not this one
                    if kind == "events":
                        for event in tracker.add(payload):
                            if on_event is not None:
                                on_event(index, event)
                    elif kind == "ended":
                        tracker.end(payload)
                        ended(slot, index, tracker, "")
                if tick is not None:
                    tick()
                yield from in_order()
        except BaseException:  # an exception in a callback, or the caller closed us: no worker left busy
            for slot, (_, _, job_id) in list(busy.items()):
                self.workers[slot].settle(job_id)
            busy.clear()
            raise
        yield from in_order()

    def _fault(self, slot: int, reason: str, tracker: RunTracker, save: bool, data_dir: Any) -> str:
        """The run on ``slot`` lost its worker: keep what arrived (saved, if asked), start a
        fresh worker in the slot; the reason, for ``on_end``."""
        worker = self.workers[slot]
        tracker.died(reason, worker.killed_by_user)
        if save:
            tracker.unsaved = save_result(tracker.current, data_dir)
            tracker.saved = not tracker.unsaved
        worker.kill()
        self.workers[slot] = self._new(slot)
        return reason
