"""The reproduce line: the ``lab4`` command that gives the same runs again.

A reproduce line is a contract: re-run, it gives the same runs with the same metrics.  So it
keeps what the user typed (``lr = optimal``, not the number it resolved to: a run's
:meth:`~lab4.core.events.Result.typed_params`), and every axis of a comparison, single-valued
ones included (``complexity=3`` beside ``dim=2,10``: the form's own complexity is not the
comparison's).  A comparison's runs are the product of its typed axes (:func:`lab4.core.comparison.plan`);
a preset whose axes vary *together* (three optimizers, each at its own optimal lr and beta)
is a product too once its values are kept symbolic (``optimizer=gd,momentum,nesterov
lr=optimal beta=optimal``: 3 x 1 x 1 runs), which is why the symbols must be kept.
"""

from __future__ import annotations

import math
import shlex
from typing import Any, Mapping, Sequence

from lab4.core.comparison import separator
from lab4.core.spec import Spec
from lab4.core.task import Task

__all__ = ["command_line"]

#: the context options, with the CLI's defaults
_CONTEXT = {"device": "cpu", "dtype": "float32", "seed": 0}


def command_line(
    task: Task,
    params: Mapping[str, Any],
    device: str = "cpu",
    dtype: str = "float32",
    seed: int = 0,
    axes: Mapping[str, Sequence[Any]] | None = None,
) -> str:
    """The shell line that reproduces a run (``lab4 run``) or a comparison (``lab4 sweep``).

    ``params`` are the parameters as typed (symbols such as ``optimal`` kept); ``axes`` the
    comparison's axes, every one of them: an axis overrides ``params`` even with one value.
    A comparison of one run is written as ``lab4 run``.  Parameters at their default are left
    out; the context options are given when they are not the CLI's defaults.
    """
    axes = {k: list(v) for k, v in (axes or {}).items() if len(v) >= 1}
    spec: Spec = task.spec
    defaults = spec.defaults()
    many = math.prod(len(v) for v in axes.values()) > 1
    words = ["lab4", "sweep" if many else "run", task.id]
    for p in spec:
        if p.name in axes:
            values = [p.parse(v) for v in axes[p.name]]
            if len(values) == 1 and values[0] == defaults[p.name]:
                continue
            words += [p.option, separator(spec, p.name).join(p.format(v) for v in values)]
        elif p.name in params and p.parse(params[p.name]) != defaults[p.name]:
            words += [p.option, p.format(p.parse(params[p.name]))]
    context = {"device": device, "dtype": dtype, "seed": seed}
    for name, default in _CONTEXT.items():
        values = [str(v) for v in axes.get(name, [context[name]])]
        if len(values) > 1 or values[0] != str(default):
            words += [f"--{name}", ",".join(values)]
    return shlex.join(words)
