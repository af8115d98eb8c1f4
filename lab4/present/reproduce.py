"""The reproduce line: the ``lab4`` command that gives the same runs again."""

from __future__ import annotations

import shlex
from typing import Any, Mapping, Sequence

from lab4.core.comparison import separator
from lab4.core.spec import Spec
from lab4.core.task import Task

__all__ = ["command_line"]


def command_line(task: Task, params: Mapping[str, Any], device: str = "cpu", dtype: str = "float32",
                 seed: int = 0, axes: Mapping[str, Sequence[Any]] | None = None) -> str:
    """The shell line that reproduces a run (``lab4 run``) or a comparison (``lab4 sweep``).

    Parameters at their default are left out; the context options are given when they
    are not the CLI's defaults.
    """
    axes = {k: list(v) for k, v in (axes or {}).items() if len(v) > 1}
    spec: Spec = task.spec
    defaults = spec.defaults()
    words = ["lab4", "sweep" if axes else "run", task.id]
    for p in spec:
        if p.name in axes:
            words += [p.option, separator(spec, p.name).join(p.format(v) for v in axes[p.name])]
        elif p.name in params and p.parse(params[p.name]) != defaults[p.name]:
            words += [p.option, p.format(p.parse(params[p.name]))]
    context = {"device": (device, "cpu"), "dtype": (dtype, "float32"), "seed": (seed, 0)}
    for name, (value, default) in context.items():
        if name in axes:
            words += [f"--{name}", ",".join(str(v) for v in axes[name])]
        elif value != default:
            words += [f"--{name}", str(value)]
    return shlex.join(words)
