"""Drive a task's generator to a :class:`~lab4.events.Result`; sweep over parameter values.

The CLI and the TUI both call :func:`execute`; the TUI passes an ``on_event`` callback that
forwards events to the UI thread in batches.  A task signals divergence by raising
:class:`~lab4.events.Diverged` and notices cancellation through ``ctx.check()``; any other
exception becomes status ``error`` with its message, so a run always ends in a result.
"""

from __future__ import annotations

import itertools
import platform
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping

from lab4.context import RunContext
from lab4.events import Cancelled, Diverged, Result, ResultBuilder
from lab4.tasks import get_task

__all__ = ["execute", "sweep_combinations", "sweep", "versions", "new_run_id"]


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


def execute(
    task_id: str,
    params: Mapping[str, Any],
    ctx: RunContext | None = None,
    on_event: Callable[[Any], None] | None = None,
) -> Result:
    """Run one task with validated ``params``; always return a Result, never raise."""
    task = get_task(task_id)
    ctx = ctx or RunContext()
    result = Result(
        id=new_run_id(task.id),
        task=task.id,
        params=task.spec.to_json(params),
        device=ctx.device,
        dtype=ctx.dtype,
        seed=ctx.seed,
        started=_now(),
    )
    builder = ResultBuilder(result)
    t0 = time.perf_counter()
    try:
        import torch

        t0 = time.perf_counter()  # the duration is the computation's, not torch's import
        result.versions = versions()
        torch.manual_seed(ctx.seed % (2**63))
        for event in task.run(dict(params), ctx):
            builder.add(event)
            if on_event is not None:
                on_event(event)
    except Diverged as exc:
        result.status = "diverged"
        result.step = exc.step
        result.message = str(exc)
    except Cancelled:
        result.status = "cancelled"
        result.step = builder.progress.step
        result.message = f"cancelled at step {builder.progress.step}"
    except Exception as exc:  # noqa: BLE001 - a run ends in a result, whatever happened
        result.status = "error"
        result.message = _error_message(exc)
    result.ended = _now()
    result.duration_s = round(time.perf_counter() - t0, 6)
    return result


def _error_message(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "OutOfMemory" in name or "out of memory" in text.lower():
        return f"out of memory on the device: {text[:200]} (try a smaller size or --device cpu)"
    return f"{name}: {text[:300]}" if text else name


def sweep_combinations(axes: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of the axes, in order: [{a: 1, b: x}, {a: 1, b: y}, ...]."""
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]


def sweep(
    task_id: str,
    base: Mapping[str, Any],
    axes: Mapping[str, list[Any]],
    ctx: RunContext | None = None,
    on_event: Callable[[int, Any], None] | None = None,
    on_start: Callable[[int, dict[str, Any], dict[str, Any], RunContext], None] | None = None,
) -> Iterator[tuple[dict[str, Any], Result]]:
    """Run ``task_id`` for every combination of ``axes`` over ``base``; yield each result.

    Axes may name task parameters and also ``dtype`` and ``seed`` of the context.  Every
    run uses the same seed unless ``seed`` is an axis, so runs that differ in, say, the
    optimizer start from the same initial weights.  ``on_start(i, combo, params, ctx)`` is
    called before run ``i``, ``on_event(i, event)`` for each of its events.
    """
    task = get_task(task_id)
    ctx = ctx or RunContext()
    for i, combo in enumerate(sweep_combinations(axes)):
        if ctx.cancelled:
            return
        params = dict(base)
        params.update({k: v for k, v in combo.items() if k in task.spec})
        params = task.spec.parse(params)
        run_ctx = RunContext(
            device=ctx.device,
            dtype=combo.get("dtype", ctx.dtype),
            seed=combo.get("seed", ctx.seed),
            cancel_event=ctx.cancel_event,
        )
        if on_start is not None:
            on_start(i, combo, params, run_ctx)
        callback = (lambda e, i=i: on_event(i, e)) if on_event else None
        yield combo, execute(task_id, params, run_ctx, callback)
