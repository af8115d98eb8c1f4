"""A 7th task for the tests, registered as any plugin task is: ``LAB4_EXTRA_TASKS=tests.fake_tasks``.

``gated`` lets a test hold a run in progress for as long as it needs, on any machine, in
this process or in another one (the app's compute worker, ``lab4-tui`` in a pseudo-terminal,
``lab4 run``): the run yields its steps, then, before its last step, waits until the file
named by ``gate`` exists.  The test creates that file to let it finish, or cancels it.
Reaching the hold, the run says so twice: an observation (sent at once, with every step
before it) and a file ``<gate>.held`` (for a test watching another process).
While it waits the run checks ``ctx.check()`` (cancellation) every couple of milliseconds
and sleeps no longer than that at a time.  No speed is assumed anywhere: a held run stays
held until the test lets it go.

tests/conftest.py adds this module to ``LAB4_EXTRA_TASKS`` before anything imports the
registry, so every test process and every process a test starts (they inherit the
environment) knows the task.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Iterator

from lab4.core.events import Metric, Observation, Points, Progress
from lab4.core.spec import IntParam, Spec, TextParam
from lab4.core.views import PlotView
from lab4.tasks import Task

#: the longest a held run sleeps between two looks at its gate and its cancel flag
POLL_S = 0.002
#: the gate value that means "do not hold"
NO_GATE = "-"


def held_text(step: int, gate: str) -> str:
    """The observation a run says when it reaches its gate (tests wait for it)."""
    return f"held at step {step} until {gate} exists"


def held_path(gate: str) -> str:
    """The file a run creates when it reaches its gate."""
    return gate + ".held"


def write_whole(path: str, text: str) -> None:
    """Write ``path`` so that whoever sees it sees all of it (the test hooks' marker files too).
    Through a temporary file of this process and thread: the runs of a side-by-side comparison
    share one gate and reach it together (one ".tmp" for both: one's os.replace moved the
    other's file away, FileNotFoundError, a run with status error)."""
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # whoever sees the file sees all of it


def loss_at(step: int) -> float:
    return 1.0 / (step + 1)


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    steps, gate = params["steps"], params["gate"]
    for step in range(steps + 1):
        if step == steps and gate != NO_GATE:
            # an observation is sent at once (events are otherwise batched): whoever waits
            # for the hold sees it, with every step before it
            yield Observation(held_text(step - 1, gate))
            write_whole(held_path(gate), str(step - 1))
            while not os.path.exists(gate):
                ctx.check()
                time.sleep(POLL_S)
        ctx.check()
        yield Points("loss", [step], [loss_at(step)])
        yield Progress(step, steps)
    yield Metric("final_loss", loss_at(steps))
    yield Metric("steps_done", steps)


TASK = Task(
    id="gated",
    number="test",
    title="Gated test task",
    summary="a run the tests hold in progress until they create its gate file",
    spec=Spec(
        (
            IntParam("steps", 5, help="steps of the run (the hold comes before the last)", ge=1, le=10_000_000),
            TextParam(
                "gate", NO_GATE, help="a file: the run waits before its last step until it exists ('-': no wait)"
            ),
        )
    ),
    run=run,
    headline="final_loss",
    views=(PlotView("loss", "Loss", ("loss",), ylabel="1 / (step + 1)"),),
    help=(
        "loss = 1 / (step + 1) at steps 0..steps.\n"
        "Before the last step the run waits until the file named by gate exists\n"
        "(checking for cancellation every 2 ms). A test task, not a lab task."
    ),
)
