"""Holds and faults inside a compute worker, for the tests.

A worker imports this module when ``LAB4_WORKER_PRELUDE=tests.worker_hooks`` (see
:mod:`lab4.engine.worker`).  Each hook acts only while the file its variable names exists, so a test
turns it on and off between runs without restarting the worker, and never waits on time:

- ``LAB4_TEST_HOLD=path``: once a run has emitted its first Progress event, it waits at its
  next step while ``path`` exists (it first writes ``path.held``); a cancel still ends it.
- ``LAB4_TEST_DEAF=path``: the same wait, deaf to the cancel (a kernel that never returns).
- ``LAB4_TEST_EXIT=path``: ``os._exit(3)`` at the first step after the first Progress event.
- ``LAB4_TEST_SEGV=path``: a segmentation fault (SIGSEGV) there.
- ``LAB4_TEST_FAIL=path``: ``generate_function`` raises ZeroDivisionError.
- ``LAB4_TEST_FULL=path``: saving a run fails as on a full disk (SQLITE_FULL).
- ``LAB4_TEST_THREADS=path``: each run appends torch's thread count, as it starts, to ``path``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import lab4.core.events
import lab4.maths.landscapes
import lab4.store
from lab4.core.context import RunContext
from tests.fake_tasks import write_whole


def _on(name: str) -> str | None:
    path = os.environ.get(name)
    return path if path and os.path.exists(path) else None


_seen = {"progress": False}
_add = lab4.core.events.ResultBuilder.add


def _watching_add(self, event):
    if isinstance(event, lab4.core.events.Progress):
        _seen["progress"] = True
    return _add(self, event)


def _cancelled(self) -> bool:
    if _seen["progress"]:
        if _on("LAB4_TEST_EXIT"):
            os._exit(3)
        if _on("LAB4_TEST_SEGV"):
            os.kill(os.getpid(), signal.SIGSEGV)
        for name, deaf in (("LAB4_TEST_HOLD", False), ("LAB4_TEST_DEAF", True)):
            path = _on(name)
            if path:
                write_whole(path + ".held", str(os.getpid()))  # a test that sees it reads the pid
                while os.path.exists(path) and (deaf or not self.cancel_event.is_set()):
                    time.sleep(0.005)
    return self.cancel_event.is_set()


def _generate_function(*args, **kwargs):
    if _on("LAB4_TEST_FAIL"):
        return 1 / 0
    return _generate(*args, **kwargs)


def _full_write(*args, **kwargs):
    if _on("LAB4_TEST_FULL"):
        raise sqlite3.OperationalError("database or disk is full")
    return _write(*args, **kwargs)


def _run_starts(*args, **kwargs):
    _seen["progress"] = False
    if _on("LAB4_TEST_THREADS"):
        import torch

        with open(os.environ["LAB4_TEST_THREADS"], "a") as fh:
            fh.write(f"{torch.get_num_threads()}\n")
    return _execute(*args, **kwargs)


_generate = lab4.maths.landscapes.generate_function
_write = lab4.store.Store._write

lab4.core.events.ResultBuilder.add = _watching_add
RunContext.cancelled = property(_cancelled)
lab4.maths.landscapes.generate_function = _generate_function
lab4.store.Store._write = staticmethod(_full_write)

import lab4.engine.runner  # noqa: E402 - after the patches above

_execute = lab4.engine.runner.execute
lab4.engine.runner.execute = _run_starts
