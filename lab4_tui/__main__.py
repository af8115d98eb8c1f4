"""``lab4-tui``: open the terminal app.

``lab4-tui --task TASK`` takes the task's own options as ``lab4 run TASK`` does, and opens its
form filled in: ``lab4-tui --task minimize --steps 4000000 --dim 3000``.  Device, dtype and
seed come from the options, else from the saved settings.  The exit status is 0, 1 after an
unexpected error (the computation was stopped and saved first), 2 for bad usage.
"""

from __future__ import annotations

import sys

import click

from lab4.cli.options import DATA_DIR, context_value, parse_task_args, refuse_broken_extra_tasks, usage_error
from lab4.core.context import device_syntax, parse_dtype, parse_seed
from lab4.core.spec import ParamError
from lab4.tasks import TASK_IDS, find_task, task_keys


def _task(value: str):
    refuse_broken_extra_tasks()  # before "no such task" for a task whose module did not load
    task = find_task(value)
    if task is None:
        raise ParamError("task", f"task must be {task_keys()} or one of {', '.join(TASK_IDS)}; got {value!r}")
    return task.id


@click.command(context_settings={"help_option_names": ["-h", "--help"], "ignore_unknown_options": True})
@click.option("--task", "-t", callback=context_value(_task), help="open this task: its number or its id")
@click.option("--axes", "compare", default="", help="the compare field, filled in: 'optimizer=gd,momentum'")
@click.option(
    "--device",
    envvar="LAB4_DEVICE",
    callback=context_value(device_syntax),
    help="cpu, cuda, cuda:N, mps or auto [default: the saved setting, or cpu]",
)
@click.option("--dtype", callback=context_value(parse_dtype), help="float32 or float64 [default: saved, or float32]")
@click.option("--seed", callback=context_value(parse_seed), help="seed of every random choice [default: saved, or 0]")
@click.option("--data-dir", **DATA_DIR)
@click.argument("task_options", nargs=-1, type=click.UNPROCESSED)
@click.version_option(package_name="lab4-tui", prog_name="lab4-tui")
def main(task, compare, device, dtype, seed, data_dir, task_options) -> None:
    """The tensor-differentiation lab as a keyboard-driven terminal app.

    After --task, the task's own options (see lab4 run TASK --help) fill in its form.
    """
    from lab4.store import Store, StoreError

    refuse_broken_extra_tasks()
    params = None
    if task_options:
        if task is None:
            raise click.UsageError(f"{' '.join(task_options)[:60]}: task options need --task TASK first")
        params = parse_task_args(find_task(task), list(task_options))
    if compare and task:
        from lab4.core.comparison import parse_compare

        try:
            parse_compare(find_task(task).spec, compare)
        except ParamError as exc:
            raise usage_error(exc) from None
    try:
        Store(data_dir).count()  # a damaged or foreign database: say so before the screen opens
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    from lab4_tui.app import make_app

    app = make_app(task=task, params=params, compare=compare, device=device, dtype=dtype, seed=seed, data_dir=data_dir)
    app.run()
    app.stop_computations(wait=True)  # the worker saves the run it was computing, then exits
    sys.exit(app.return_code or 0)


if __name__ == "__main__":
    main()
