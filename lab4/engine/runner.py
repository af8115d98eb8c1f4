"""Drive a task's generator to a :class:`~lab4.core.events.Result`; sweep over parameter values.

The CLI and the TUI both call :func:`execute`; the TUI passes an ``on_event`` callback that
forwards events to the UI thread in batches.  A task signals divergence by raising
:class:`~lab4.core.events.Diverged` and notices cancellation through ``ctx.check()``; any other
exception becomes status ``error`` with its message, so a run always ends in a result.
"""

from __future__ import annotations

import platform
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping

from lab4.core.comparison import PlannedRun, plan
from lab4.core.context import RunContext
from lab4.core.events import REQUEST, Cancelled, Diverged, Observation, Result, ResultBuilder
from lab4.maths.device import on_torch
from lab4.tasks import get_task

__all__ = ["execute", "sweep", "batch_problem", "versions", "new_run_id", "new_group_id", "stopped_metrics"]


def versions() -> dict[str, str]:
    import numpy
    import torch

    import lab4

    return {
        "lab4": lab4.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_run_id(task: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{task}-{uuid.uuid4().hex[:6]}"


def new_group_id(task: str) -> str:
    """The id shared by the runs of one comparison (a sweep, or the app's compare)."""
    return "g" + new_run_id(task)


def execute(
    task_id: str,
    params: Mapping[str, Any],
    ctx: RunContext | None = None,
    on_event: Callable[[Any], None] | None = None,
    group: str = "",
    label: str = "",
    source: Callable[[dict[str, Any], RunContext], Iterator[Any]] | None = None,
) -> Result:
    """Run one task with validated ``params``; always return a Result, never raise.

    A task's ``resolve`` turns symbolic values (``lr = optimal``) into numbers first: the
    result keeps the numbers, the observations say what was resolved, and the ``request``
    artifact keeps what was typed (:meth:`Result.typed_params`).  ``source`` replaces
    ``task.run`` (a run of a batched computation hands over its row).
    """
    task = get_task(task_id)
    ctx = on_torch(ctx or RunContext())
    result = Result(
        id=new_run_id(task.id),
        task=task.id,
        params=task.spec.to_json(params),
        device=ctx.device,
        dtype=ctx.dtype,
        seed=ctx.seed,
        started=_now(),
        group=group,
        label=label,
    )
    builder = ResultBuilder(result)

    def emit(event: Any) -> None:
        builder.add(event)
        if on_event is not None:
            on_event(event)

    t0 = time.perf_counter()
    try:
        import torch

        t0 = time.perf_counter()  # the duration is the computation's, not torch's import
        result.versions = versions()
        torch.manual_seed(ctx.seed % (2**63))
        params = dict(params)
        if task.resolve is not None:
            params, notes = task.resolve(params, ctx)
            typed, result.params = result.params, task.spec.to_json(params)
            request = {k: v for k, v in typed.items() if result.params.get(k) != v}
            if request:  # what the user typed (lr = optimal): the reproduce line repeats it
                result.artifacts[REQUEST] = request
            for note in notes:
                emit(Observation(note))
        for event in (source or task.run)(params, ctx):
            emit(event)
    except Diverged as exc:
        result.status = "diverged"
        result.step = exc.step
        result.message = str(exc)
    except Cancelled:
        result.status = "cancelled"
        result.step = builder.progress.step
        result.message = f"cancelled at step {builder.progress.step}"
        result.metrics.update(stopped_metrics(task, result))
    except Exception as exc:  # noqa: BLE001 - a run ends in a result, whatever happened
        result.status = "error"
        result.message = _error_message(exc)
    result.ended = _now()
    result.duration_s = round(time.perf_counter() - t0, 6)
    return result


def stopped_metrics(task: Any, result: Result) -> dict[str, Any]:
    """The metrics of a run stopped before its end (cancelled, or its worker gone), read from
    the series it recorded: those of its last recorded step, named by ``stopped_at_step``.
    Empty when the task has no such hook or nothing was recorded."""
    if task.stopped_metrics is None:
        return {}
    try:
        return dict(task.stopped_metrics(result))
    except Exception:  # noqa: BLE001 - a stopped run keeps its status and series whatever happens here
        return {}


#: how out-of-memory failures read: CUDA's (``torch.OutOfMemoryError``), the CPU allocator's
#: (``RuntimeError: [enforce fail at alloc_cpu.cpp:...] DefaultCPUAllocator: can't allocate
#: memory: you tried to allocate N bytes``) and Python's own ``MemoryError``
_OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "cannot allocate memory", "not enough memory")


def _error_message(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, MemoryError) or "OutOfMemory" in name or any(s in text.lower() for s in _OUT_OF_MEMORY):
        if text.startswith("[enforce fail") and "] " in text:  # the allocator's source line, then its check
            text = text.split("] ", 1)[1].split(". ", 1)[-1]
        if "cuda" in text.lower() or "OutOfMemory" in name:
            return f"out of memory on the device: {text[:200]} (try a smaller size, or the cpu device)"
        return f"not enough memory: {text[:200] or name} (try a smaller size or fewer steps)"
    return f"{name}: {text[:300]}" if text else name


def sweep(
    task_id: str,
    base: Mapping[str, Any],
    axes: Mapping[str, list[Any]],
    ctx: RunContext | None = None,
    on_event: Callable[[int, Any], None] | None = None,
    on_start: Callable[[int, PlannedRun, RunContext], None] | None = None,
    group: str | None = None,
    batched: bool = False,
) -> Iterator[tuple[dict[str, Any], Result]]:
    """Run ``task_id`` for every combination of ``axes`` over ``base``; yield (combo, result).

    The combinations come from :func:`lab4.core.comparison.plan`, validated before the first run.
    Axes may name task parameters and also ``dtype`` and ``seed`` of the context.  Every
    run uses the same seed unless ``seed`` is an axis, so runs that differ in, say, the
    optimizer start from the same initial weights.  The runs of a comparison share a
    group id and carry their label (``optimizer=gd``).  ``on_start(i, run, ctx)`` is called
    before run ``i``, ``on_event(i, event)`` for each of its events.  ``batched``: the runs are
    computed first as one computation (``Task.batched``; ValueError saying why when they cannot
    be), then each run's result is built from its row, as the run alone would build it.
    """
    task = get_task(task_id)
    ctx = ctx or RunContext()
    runs = plan(task.spec, base, axes)
    if group is None:
        group = new_group_id(task.id) if len(runs) > 1 else ""
    contexts = [
        RunContext(
            device=ctx.device,
            dtype=planned.dtype or ctx.dtype,
            seed=ctx.seed if planned.seed is None else planned.seed,
            cancel_event=ctx.cancel_event,
        )
        for planned in runs
    ]
    sources: list[Any] = [None] * len(runs)
    if batched:
        pairs = [(planned.params, run_ctx) for planned, run_ctx in zip(runs, contexts)]
        problem = batch_problem(task_id, pairs)
        if problem:
            raise ValueError(problem)
        sources = task.batched.sources([(p, on_torch(c)) for p, c in pairs])
    for i, (planned, run_ctx) in enumerate(zip(runs, contexts)):
        if ctx.cancelled:
            return
        if on_start is not None:
            on_start(i, planned, run_ctx)
        callback = (lambda e, i=i: on_event(i, e)) if on_event else None
        yield (
            planned.combo,
            execute(task_id, planned.params, run_ctx, callback, group=group, label=planned.label, source=sources[i]),
        )


def batch_problem(task_id: str, runs: list[tuple[dict[str, Any], RunContext]]) -> str | None:
    """Why these runs cannot be computed as one batched computation, or None when they can."""
    task = get_task(task_id)
    if task.batched is None:
        return f"{task.id} has no batched runs (--batched is for minimize)"
    return task.batched.problem(runs)
