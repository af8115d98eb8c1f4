"""The options the ``lab4`` commands and ``lab4-tui`` share, built from the task specs and
the run context: what a user types is parsed once, and a bad value is click's usage error
(exit 2) naming the option."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from lab4.core.context import parse_dtype, parse_jobs, parse_seed
from lab4.core.spec import Param, ParamError, Spec
from lab4.core.task import Task
from lab4.maths.device import parse_device
from lab4.store.files import ENV as STORE_ENV

__all__ = [
    "DATA_DIR",
    "usage_error",
    "SpecValue",
    "context_value",
    "common_options",
    "task_options",
    "jobs_option",
    "JobsType",
    "parse_task_args",
    "refuse_broken_extra_tasks",
]


class _DataDirType(click.Path):
    """A directory; the empty text (``--data-dir ""``) is refused, not the current directory."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("needs a directory, got an empty text", param, ctx)
        return super().convert(value, param, ctx)


#: ``--data-dir``, declared once for every command and for ``lab4-tui``
DATA_DIR: dict[str, Any] = dict(
    type=_DataDirType(file_okay=False, path_type=Path),
    envvar=STORE_ENV,
    help=f"where runs and notes are kept [default: the user data dir, or ${STORE_ENV}]",
)


def usage_error(exc: ParamError, spec: Spec | None = None) -> click.BadParameter:
    """A spec's ParamError as click's usage error (exit 2), naming the option."""
    hint = spec[exc.param].option if spec is not None and exc.param in spec else None
    if exc.param == "compare":  # the compare text (lab4.core.comparison), not a task's own parameter
        hint = "--axes"
    return click.BadParameter(exc.message, param_hint=hint)


class SpecValue(click.ParamType):
    """A click type that parses through a spec :class:`Param` (one value, or a sweep list)."""

    def __init__(self, param: Param, sweep: bool = False):
        self.param = param
        self.sweep = sweep
        self.name = param.kind

    def convert(self, value: Any, option: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.param.sweep_values(value) if self.sweep else self.param.parse(value)
        except ParamError as exc:
            self.fail(exc.message, option, ctx)


def context_value(parse: Any, sweep: bool = False) -> Any:
    """A click callback that parses with ``parse`` (which raises ParamError): exit 2 with its
    message; with ``sweep``, a comma-separated list of such values."""

    def callback(ctx: click.Context, option: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            if sweep:
                parts = [p.strip() for p in str(value).split(",")]
                if any(not p for p in parts):
                    raise ParamError(option.name, f"{option.name} needs values separated by ',', got {value!r}")
                return [parse(p) for p in parts]
            return parse(value)
        except ParamError as exc:
            raise click.BadParameter(exc.message, ctx=ctx, param=option) from None

    return callback


class JobsType(click.ParamType):
    """``--jobs``: a whole number >= 1, or ``auto`` (the number of cores)."""

    name = "jobs"

    def convert(self, value: Any, option: Any, ctx: Any) -> Any:
        try:
            return parse_jobs(value)
        except ParamError as exc:
            self.fail(exc.message, option, ctx)


def jobs_option() -> click.Option:
    return click.Option(
        ["--jobs", "-j"],
        type=JobsType(),
        default=None,
        help="runs computed at once, each in a worker process of its own: N, or auto (one per core; "
        "one per device with --device cuda:0,cuda:1) [default: 1, or one per listed device]",
    )


def common_options(sweep: bool) -> list[click.Option]:
    return [
        click.Option(
            ["--device"],
            default=lambda: os.environ.get("LAB4_DEVICE", "cpu"),
            show_default="cpu, or $LAB4_DEVICE",
            help="cpu, cuda, cuda:N, mps or auto" + (" (a list runs one worker per device)" if sweep else ""),
            callback=context_value(parse_device, sweep),
        ),
        click.Option(
            ["--dtype"],
            default="float32",
            show_default=True,
            help="float32 or float64" + (" (a list sweeps it)" if sweep else ""),
            callback=context_value(parse_dtype, sweep),
        ),
        click.Option(
            ["--seed"],
            default="0",
            show_default=True,
            help="seed of every random choice" + (" (a list sweeps it)" if sweep else ""),
            callback=context_value(parse_seed, sweep),
        ),
        click.Option(["--json", "as_json"], is_flag=True, help="print the result as one JSON object"),
        click.Option(["--out"], type=click.Path(dir_okay=False, path_type=Path), help="also write the JSON to FILE"),
        click.Option(["--data-dir"], **DATA_DIR),
        click.Option(["--no-save"], is_flag=True, help="do not save the run in the data directory"),
        click.Option(["--quiet", "-q"], is_flag=True, help="no progress bar on stderr"),
    ]


def task_options(task: Task, sweep: bool) -> list[click.Option]:
    options = []
    for p in task.spec:
        hint = p.describe()
        extra = ""
        if sweep:
            extra = (
                " (values separated by ';')" if p.kind in ("ints", "floats", "assign") else " (values separated by ',')"
            )
        options.append(
            click.Option(
                [p.option, p.name],
                type=SpecValue(p, sweep),
                default=p.format(p.parse(p.default)),
                show_default=True,
                help=f"{p.help}{'; ' + hint if hint else ''}{extra}",
            )
        )
    return options


def parse_task_args(task: Task, args: list[str]) -> dict[str, Any]:
    """The task's own options (``--steps 4000 --dim 3000``) as ``lab4 run TASK`` takes them:
    the values given, validated; a bad one is click's usage error (exit 2)."""
    command = click.Command(task.id, params=task_options(task, sweep=False))
    ctx = command.make_context(f"lab4-tui --task {task.id}", list(args))
    given = {
        k: v for k, v in ctx.params.items() if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT
    }
    try:
        task.spec.parse(given)
    except ParamError as exc:
        raise usage_error(exc, task.spec) from None
    return given


def refuse_broken_extra_tasks() -> None:
    """A module named in LAB4_EXTRA_TASKS that did not load stops the command with its reason."""
    from lab4.tasks import EXTRA_TASK_ERRORS

    if EXTRA_TASK_ERRORS:
        raise click.ClickException("\n".join(EXTRA_TASK_ERRORS))
