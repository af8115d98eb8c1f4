"""``lab4-tui``: open the terminal app."""

from __future__ import annotations

from pathlib import Path

import click

from lab4.cli import context_value
from lab4.context import parse_device, parse_dtype, parse_seed
from lab4.spec import ParamError
from lab4.tasks import TASK_IDS, find_task


def _task(value: str):
    task = find_task(value)
    if task is None:
        raise ParamError("task", f"task must be 1-{len(TASK_IDS)} or one of {', '.join(TASK_IDS)}; got {value!r}")
    return task.id


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--task", "-t", callback=context_value(_task), help="open this task: 1-6 or its id")
@click.option("--device", default="cpu", show_default=True, envvar="LAB4_DEVICE", callback=context_value(parse_device),
              help="cpu, cuda, cuda:N, mps or auto")
@click.option("--dtype", default="float32", show_default=True, callback=context_value(parse_dtype), help="float32 or float64")
@click.option("--seed", default="0", show_default=True, callback=context_value(parse_seed), help="seed of every random choice")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="LAB4_DATA_DIR",
              help="where runs and notes are kept [default: the user data dir, or $LAB4_DATA_DIR]")
@click.version_option(package_name="lab4-tui", prog_name="lab4-tui")
def main(task, device, dtype, seed, data_dir) -> None:
    """The tensor-differentiation lab as a keyboard-driven terminal app."""
    from lab4_tui.app import make_app

    make_app(task=task, device=device, dtype=dtype, seed=seed, data_dir=data_dir).run()


if __name__ == "__main__":
    main()
