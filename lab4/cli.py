"""``lab4``: the headless command line.

Commands are built from the task specs: ``lab4 run TASK --help`` lists exactly the
parameters the spec declares, with defaults and bounds, and a bad value is click's usage
error (exit 2) carrying the spec's message.  Heavy imports (torch) happen inside commands.
Exit status: 0 when a result was produced (ok, diverged and cancelled are results), 1 for
an internal error, 2 for bad usage.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from lab4.context import RunContext, parse_device, parse_dtype, parse_seed
from lab4.events import format_value, scalar_metric_names
from lab4.spec import Param, ParamError
from lab4.tasks import TASK_IDS, TASKS, Task

__all__ = ["main"]


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


def _common_options(sweep: bool) -> list[click.Option]:
    return [
        click.Option(
            ["--device"],
            default=lambda: os.environ.get("LAB4_DEVICE", "cpu"),
            show_default="cpu, or $LAB4_DEVICE",
            help="cpu, cuda, cuda:N, mps or auto",
            callback=context_value(parse_device),
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
        click.Option(
            ["--data-dir"],
            type=click.Path(file_okay=False, path_type=Path),
            envvar="LAB4_DATA_DIR",
            help="where runs are saved [default: the user data dir, or $LAB4_DATA_DIR]",
        ),
        click.Option(["--no-save"], is_flag=True, help="do not save the run in the data directory"),
        click.Option(["--quiet", "-q"], is_flag=True, help="no progress bar on stderr"),
    ]


def _task_options(task: Task, sweep: bool) -> list[click.Option]:
    options = []
    for p in task.spec:
        hint = p.describe()
        extra = ""
        if sweep:
            extra = " (values separated by ';')" if p.kind in ("ints", "floats", "assign") else " (values separated by ',')"
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


class _Progress:
    """A one-line progress bar on stderr, redrawn at most 10 times a second."""

    def __init__(self, enabled: bool, label: str):
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self.last = 0.0

    def __call__(self, event: Any) -> None:
        from lab4.events import Progress

        if not self.enabled or not isinstance(event, Progress) or event.total <= 0:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and event.step < event.total:
            return
        self.last = now
        frac = min(1.0, max(0.0, event.step / event.total))
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {frac:4.0%} {event.step}/{event.total}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.last:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()


class _CancelOnInterrupt:
    """Ctrl-C sets the run's cancel flag: the run stops at its next check, a result is kept."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.previous: Any = None

    def __enter__(self) -> "_CancelOnInterrupt":
        try:
            self.previous = signal.signal(signal.SIGINT, lambda *_: self.ctx.cancel())
        except ValueError:  # not the main thread (tests)
            self.previous = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _table(columns: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in columns]] + [[format_value(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells[1:]]
    return "\n".join(lines)


def _summary(result: Any, task: Task, saved: bool = False) -> str:
    out = [f"{task.id} ({task.title}): {result.status}" + (f" - {result.message}" if result.message else "")]
    out.append(f"device {result.device}, dtype {result.dtype}, seed {result.seed}, {result.duration_s:.2f} s")
    out.append("")
    out.append("parameters: " + "; ".join(f"{k} = {format_value(v)}" for k, v in result.params.items()))
    if result.metrics:
        out.append("")
        out.append(_table(["metric", "value"], [list(kv) for kv in result.flat_metrics()]))
    for name, table in result.tables.items():
        out.append("")
        out.append(f"[{name}]")
        out.append(_table(table["columns"], table["rows"]))
    if result.observations:
        out.append("")
        out += [f"- {o}" for o in result.observations]
    if saved:
        out.append("")
        out.append(f"saved as {result.id} (lab4 show {result.id})")
    return "\n".join(out)


def _write_json(data: Any, out: Path | None, as_json: bool) -> None:
    text = json.dumps(data, indent=None if as_json else 2, allow_nan=False)
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    if as_json:
        click.echo(text)


def _save(result: Any, data_dir: Path | None, no_save: bool) -> bool:
    if no_save:
        return False
    from lab4.store import Store

    try:
        Store(data_dir).save_run(result)
    except OSError as exc:
        click.echo(f"warning: the run was not saved ({exc}); use --out to keep it", err=True)
        return False
    return True


def _make_run_command(task: Task) -> click.Command:
    def callback(device: str, dtype: str, seed: int, as_json: bool, out: Path | None, data_dir: Path | None,
                 no_save: bool, quiet: bool, **values: Any) -> None:
        from lab4.runner import execute

        given = {k: v for k, v in values.items() if v is not None}
        try:
            params = task.spec.parse(given)
        except ParamError as exc:
            p = task.spec[exc.param] if exc.param in task.spec else None
            raise click.BadParameter(exc.message, param_hint=p.option if p else None) from None
        ctx = RunContext(device=device, dtype=dtype, seed=seed)
        progress = _Progress(not quiet and not as_json, task.id)
        with _CancelOnInterrupt(ctx):
            result = execute(task.id, params, ctx, on_event=progress)
        progress.close()
        saved = _save(result, data_dir, no_save)
        data = result.to_json()
        _write_json(data, out, as_json)
        if not as_json:
            click.echo(_summary(result, task, saved))
        if result.status == "error":
            if as_json:
                click.echo(f"error: {result.message}", err=True)
            sys.exit(1)

    return click.Command(
        task.id,
        callback=callback,
        params=_task_options(task, sweep=False) + _common_options(sweep=False),
        help=f"Handout task {task.number}: {task.summary}.\n\n\b\n{task.help}",
        short_help=task.summary,
        context_settings={"max_content_width": 100},
    )


def _make_sweep_command(task: Task) -> click.Command:
    def callback(device: str, dtype: list[str], seed: list[int], as_json: bool, out: Path | None,
                 data_dir: Path | None, no_save: bool, quiet: bool, **values: Any) -> None:
        from lab4.runner import sweep, sweep_combinations

        axes = {k: v for k, v in values.items() if v is not None}
        base = {k: v[0] for k, v in axes.items()}
        try:
            task.spec.parse(base)
            for combo in sweep_combinations(axes):
                task.spec.parse(combo)
        except ParamError as exc:
            p = task.spec[exc.param] if exc.param in task.spec else None
            raise click.BadParameter(exc.message, param_hint=p.option if p else None) from None
        if len(dtype) > 1:
            axes["dtype"] = dtype
        if len(seed) > 1:
            axes["seed"] = seed
        varying = {k: v for k, v in axes.items() if len(v) > 1}
        ctx = RunContext(device=device, dtype=dtype[0], seed=seed[0])
        total = len(sweep_combinations(axes))
        runs = []
        with _CancelOnInterrupt(ctx):
            for i, (combo, result) in enumerate(sweep(task.id, base, axes, ctx)):
                _save(result, data_dir, no_save)
                runs.append((combo, result))
                if not quiet and not as_json and sys.stderr.isatty():
                    sys.stderr.write(f"\r{task.id}: run {i + 1}/{total} {result.status}   ")
                    sys.stderr.flush()
        if not quiet and not as_json and sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 60 + "\r")
        data = {
            "task": task.id,
            "axes": {k: [task.spec[k].to_json(x) if k in task.spec else x for x in v] for k, v in axes.items()},
            "runs": [r.to_json() for _, r in runs],
        }
        _write_json(data, out, as_json)
        if not as_json:
            metrics = scalar_metric_names([r for _, r in runs], task.headline)
            columns = list(varying) + ["status"] + metrics
            rows = [[combo[k] for k in varying] + [r.status] + [r.metrics.get(m) for m in metrics] for combo, r in runs]
            click.echo(f"{task.id}: {len(runs)} run(s)")
            click.echo(_table(columns, rows))
        if any(r.status == "error" for _, r in runs):
            sys.exit(1)

    return click.Command(
        task.id,
        callback=callback,
        params=_task_options(task, sweep=True) + _common_options(sweep=True),
        help=f"Run {task.id} over every combination of the values given "
        f"(e.g. --lr 0.1,0.01); print one row per run.\n\n{task.summary}.",
        short_help=task.summary,
        context_settings={"max_content_width": 100},
    )


class _TaskGroup(click.Group):
    def __init__(self, *args: Any, factory: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.factory = factory

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(TASK_IDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        task = TASKS.get(name)
        return self.factory(task) if task else None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lab4-tui", prog_name="lab4")
def main() -> None:
    """Tensor differentiation lab, headless: run the six tasks, sweep them, keep the results."""


@main.command()
def tasks() -> None:
    """List the tasks, one line each."""
    width = max(len(t) for t in TASK_IDS)
    for i, task in enumerate(TASKS.values(), start=1):
        click.echo(f"{i}  {task.id.ljust(width)}  (handout {task.number})  {task.summary}")


_DATA_DIR = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="LAB4_DATA_DIR",
    help="where runs are saved [default: the user data dir, or $LAB4_DATA_DIR]",
)


@main.command()
@click.argument("task", required=False)
@_DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="one JSON list of run summaries")
def runs(task: str | None, data_dir: Path | None, as_json: bool) -> None:
    """List saved runs (of TASK, if given), oldest first."""
    from lab4.store import Store

    if task is not None and task not in TASKS:
        raise click.BadParameter(f"unknown task {task!r}; known: {', '.join(TASK_IDS)}", param_hint="TASK")
    store = Store(data_dir)
    listing = store.list_runs(task)
    for warning in listing.warnings:
        click.echo(f"warning: {warning}", err=True)
    rows = []
    for r in listing.runs:
        headline = TASKS[r.task].headline if r.task in TASKS else ""
        rows.append({"id": r.id, "task": r.task, "started": r.started, "status": r.status,
                     "headline": headline, "value": r.metrics.get(headline)})
    if as_json:
        click.echo(json.dumps(rows, allow_nan=False))
        return
    if not rows:
        click.echo(f"no saved runs in {store.runs_dir}")
        return
    click.echo(_table(["id", "task", "status", "metric", "value"],
                      [[r["id"], r["task"], r["status"], r["headline"], r["value"]] for r in rows]))


@main.command()
@click.argument("run_id")
@_DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="print the saved JSON")
def show(run_id: str, data_dir: Path | None, as_json: bool) -> None:
    """Print one saved run (an id, or a unique prefix of one)."""
    from lab4.store import Store

    try:
        result = Store(data_dir).load_run(run_id)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="RUN_ID") from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read run {run_id}: {exc}") from None
    if as_json:
        click.echo(json.dumps(result.to_json(), allow_nan=False))
    else:
        task = TASKS.get(result.task)
        click.echo(_summary(result, task) if task else json.dumps(result.to_json(), indent=1))


@main.command()
@_DATA_DIR
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="where to write [default: DATA_DIR/report.md]")
@click.option("--run", "run_ids", multiple=True, help="report this run (repeatable) instead of the task's latest")
def report(data_dir: Path | None, out: Path | None, run_ids: tuple[str, ...]) -> None:
    """Write the lab report: every task's latest run, plots as text, observations, notes."""
    from lab4.report import build_report
    from lab4.store import Store, atomic_write

    store = Store(data_dir)
    text, warnings = build_report(store, run_ids)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    path = out or store.root / "report.md"
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    click.echo(f"report written to {path}")


@main.command()
@click.option("--quick", is_flag=True, help="fewer repeats and smaller sizes (about a minute)")
@click.option("--device", default="cpu", show_default=True, callback=context_value(parse_device),
              help="cpu, cuda, cuda:N, mps or auto")
@click.option("--json", "as_json", is_flag=True, help="a JSON list of rows")
@click.option("--no-app", is_flag=True, help="skip the rows that start the terminal app")
def bench(quick: bool, device: str, as_json: bool, no_app: bool) -> None:
    """Measure each performance figure against a baseline run in the same process."""
    from lab4.bench import format_rows, run_bench

    def progress(name: str) -> None:
        if not as_json and sys.stderr.isatty():
            sys.stderr.write(f"\rbench: {name}...{' ' * 30}")
            sys.stderr.flush()

    rows = run_bench(device=device, quick=quick, app=not no_app, progress=progress)
    if not as_json and sys.stderr.isatty():
        sys.stderr.write("\r" + " " * 60 + "\r")
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], allow_nan=False))
    else:
        from lab4.bench import machine_description

        click.echo(f"lab4 bench on {device}: {machine_description(device)}{' (quick)' if quick else ''}")
        click.echo(format_rows(rows))


main.add_command(_TaskGroup("run", factory=_make_run_command, help="Run one task: lab4 run TASK [--param value ...]."))
main.add_command(
    _TaskGroup("sweep", factory=_make_sweep_command, help="Run one task over lists of values: lab4 sweep TASK --lr 0.1,0.01.")
)


if __name__ == "__main__":  # pragma: no cover
    main()
