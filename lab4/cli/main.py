"""``lab4``: the headless command line.

Commands are built from the task specs: ``lab4 run TASK --help`` lists exactly the
parameters the spec declares, with defaults and bounds, and a bad value is click's usage
error (exit 2) carrying the spec's message.  Heavy imports (torch) happen inside commands;
listing saved runs never imports torch.  Exit status: 0 when a result was produced (ok,
diverged and cancelled are results), 1 for an internal error or a data directory that
cannot be used (its message says what to do), 2 for bad usage.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from lab4.cli.options import (
    DATA_DIR,
    common_options,
    context_value,
    jobs_option,
    refuse_broken_extra_tasks,
    task_options,
    usage_error,
)
from lab4.core.context import RunContext, jobs_count
from lab4.core.events import STATUSES, format_value, scalar_metric_names
from lab4.core.spec import ParamError
from lab4.maths.device import parse_device
from lab4.present.textfmt import text_table
from lab4.tasks import TASK_IDS, TASKS, Task
from lab4.tasks import specs as task_specs

__all__ = ["main", "MAX_SWEEP_RUNS"]

#: the most runs a sweep makes without ``--max-runs`` (a typo of a range, ``--seed 0..20000``,
#: or 2000 x 2000 ``--axes`` values, must not start hours of runs and GBs of planning)
MAX_SWEEP_RUNS = 1000


class _Progress:
    """A one-line progress bar on stderr, redrawn at most 10 times a second."""

    def __init__(self, enabled: bool, label: str):
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self.last = 0.0

    def __call__(self, event: Any) -> None:
        from lab4.core.events import Progress

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


def _summary(result: Any, task: Task, saved: bool = False) -> str:
    from lab4.present.reproduce import command_line

    out = [f"{task.id} ({task.title}): {result.status}" + (f" - {result.message}" if result.message else "")]
    out.append(f"device {result.device}, dtype {result.dtype}, seed {result.seed}, {result.duration_s:.2f} s")
    out.append("")
    out.append("parameters: " + "; ".join(f"{k} = {format_value(v)}" for k, v in result.params.items()))
    out.append("reproduce: " + command_line(task, result.typed_params(), result.device, result.dtype, result.seed))
    if result.metrics:
        out.append("")
        out.append(text_table(["metric", "value"], [list(kv) for kv in result.flat_metrics()]))
    for name, table in result.tables.items():
        out.append("")
        out.append(f"[{name}]")
        out.append(text_table(table["columns"], table["rows"]))
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


def _store(data_dir: Path | None) -> Any:
    """The data directory's store, checked: a damaged or foreign database is exit 1 with its
    path and what to do."""
    from lab4.store import Store, StoreError

    store = Store(data_dir, specs=task_specs())
    try:
        store.count()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    return store


def _save(result: Any, data_dir: Path | None, no_save: bool) -> bool:
    if no_save:
        return False
    from lab4.store import StoreError

    try:
        _store(data_dir).save_run(result)
    except (OSError, StoreError, click.ClickException) as exc:
        text = exc.message if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"error: run {result.id} was not saved ({text}); use --out to keep it", err=True)
        return False
    return True


def _preflight(task: Task, params: dict[str, Any], quiet: bool) -> None:
    if task.preflight is not None and not quiet:
        for warning in task.preflight(params):
            click.echo(f"warning: {warning}", err=True)


def _make_run_command(task: Task) -> click.Command:
    def callback(
        device: str,
        dtype: str,
        seed: int,
        as_json: bool,
        out: Path | None,
        data_dir: Path | None,
        no_save: bool,
        quiet: bool,
        **values: Any,
    ) -> None:
        from lab4.engine.runner import execute

        given = {k: v for k, v in values.items() if v is not None}
        try:
            params = task.spec.parse(given)
        except ParamError as exc:
            raise usage_error(exc, task.spec) from None
        if not no_save:
            _store(data_dir)  # a data directory that cannot be used stops us before the run
        _preflight(task, params, quiet or as_json)
        ctx = RunContext(device=device, dtype=dtype, seed=seed)
        progress = _Progress(not quiet and not as_json, task.id)
        with _CancelOnInterrupt(ctx):
            result = execute(task.id, params, ctx, on_event=progress)
        progress.close()
        saved = _save(result, data_dir, no_save)
        if out is not None or as_json:  # the whole run as JSON only when asked for (10M steps: GBs)
            _write_json(result.to_json(), out, as_json)
        if not as_json:
            click.echo(_summary(result, task, saved))
        if result.status == "error":
            if as_json:
                click.echo(f"error: {result.message}", err=True)
            sys.exit(1)
        if not saved and not no_save and out is None:
            sys.exit(1)  # the result exists nowhere but on the screen

    return click.Command(
        task.id,
        callback=callback,
        params=task_options(task, sweep=False) + common_options(sweep=False),
        help=f"Handout task {task.number}: {task.summary}.\n\n\b\n{task.help}",
        short_help=task.summary,
        context_settings={"max_content_width": 100},
    )


def _make_sweep_command(task: Task) -> click.Command:
    def callback(
        device: list[str],
        dtype: list[str],
        seed: list[int],
        as_json: bool,
        out: Path | None,
        data_dir: Path | None,
        no_save: bool,
        quiet: bool,
        axes_text: str | None,
        jobs: Any,
        max_runs: int,
        batched: bool = False,
        **values: Any,
    ) -> None:
        from lab4.core.comparison import comparison_sentence, parse_compare, plan, varying
        from lab4.engine.runner import batch_problem

        axes = {k: v for k, v in values.items() if v is not None}
        if len(dtype) > 1:
            axes["dtype"] = dtype
        if len(seed) > 1:
            axes["seed"] = seed
        try:
            if axes_text:
                axes.update(parse_compare(task.spec, axes_text))
            base = {k: v[0] for k, v in axes.items() if k in task.spec}
            total = math.prod(len(v) for v in axes.values())
            if total > max_runs:  # refused before the combinations are even listed
                sizes = " x ".join(f"{len(v)} {k}" for k, v in axes.items() if len(v) > 1)
                raise click.BadParameter(
                    f"{sizes} is {total:,} runs, more than {max_runs:,}; pass --max-runs {total} to run them all",
                    param_hint="--max-runs",
                )
            planned = plan(task.spec, base, axes)  # every combination checked before the first run
            total = len(planned)
        except ParamError as exc:
            raise usage_error(exc, task.spec) from None
        if batched:  # one computation: the runs must share shapes (no torch needed to tell)
            problem = batch_problem(
                task.id, [(p.params, RunContext(device=device[0], dtype=p.dtype or dtype[0])) for p in planned]
            )
            if problem:
                raise click.UsageError(problem)
        if not no_save:
            _store(data_dir)
        _preflight(task, task.spec.parse(base), quiet or as_json)
        varied = varying(axes)
        devices = list(dict.fromkeys(device))
        ctx = RunContext(device=devices[0], dtype=axes.get("dtype", dtype)[0], seed=axes.get("seed", seed)[0])
        workers = _worker_count(jobs, devices, total)
        runs = []
        unsaved = 0
        with _CancelOnInterrupt(ctx):
            in_process = batched or (workers == 1 and len(devices) == 1)  # a batch is one computation
            computed = (
                _sweep_in_process(task, base, axes, ctx, data_dir, no_save, batched)
                if in_process
                else _sweep_in_workers(task, base, axes, ctx, devices, workers, data_dir, no_save)
            )
            for i, (combo, result, saved) in enumerate(computed):
                if not no_save and not saved:
                    unsaved += 1
                if out is None and not as_json:
                    # saved: keep what the table and the sentence need, not the curves
                    result.series, result.artifacts = {}, {}
                runs.append((combo, result))
                if not quiet and not as_json and sys.stderr.isatty():
                    sys.stderr.write(f"\r{task.id}: run {i + 1}/{total} {result.status}   ")
                    sys.stderr.flush()
        if not quiet and not as_json and sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 60 + "\r")
        group = runs[0][1].group if runs else ""
        if out is not None or as_json:
            data = {
                "task": task.id,
                "group": group,
                "axes": {k: [task.spec[k].to_json(x) if k in task.spec else x for x in v] for k, v in axes.items()},
                "runs": [r.to_json() for _, r in runs],
            }
            _write_json(data, out, as_json)
        if not as_json:
            metrics = scalar_metric_names([r for _, r in runs], task.compare_metrics())
            columns = list(varied) + ["status"] + metrics
            rows = [[combo[k] for k in varied] + [r.status] + [r.metrics.get(m) for m in metrics] for combo, r in runs]
            click.echo(f"{task.id}: {len(runs)} run(s)" + (f", comparison {group}" if group else ""))
            click.echo(text_table(columns, rows))
            sentence = comparison_sentence(task, [(r.label, r) for _, r in runs])
            if sentence:
                click.echo("")
                click.echo(sentence)
        if unsaved:
            click.echo(
                f"error: {unsaved} of {len(runs)} runs were not saved" + ("" if out else "; use --out to keep them"),
                err=True,
            )
        if unsaved or any(r.status == "error" for _, r in runs):
            sys.exit(1)

    axes_option = click.Option(
        ["--axes", "axes_text"],
        default=None,
        help="the axes as the app's compare field takes them: 'optimizer=gd,momentum lr=0.1,0.01'",
    )
    max_runs_option = click.Option(
        ["--max-runs"],
        type=click.IntRange(min=1, max=2**62),
        default=MAX_SWEEP_RUNS,
        show_default=True,
        help="refuse a sweep of more combinations than this",
    )
    batched_option = click.Option(
        ["--batched"],
        is_flag=True,
        help="compute the runs as one batched computation (runs that share shapes: a grid "
        "of lr and beta, or seeds); the same results, much faster",
    )
    return click.Command(
        task.id,
        callback=callback,
        params=task_options(task, sweep=True)
        + [axes_option, jobs_option(), max_runs_option]
        + ([batched_option] if task.batched is not None else [])
        + common_options(sweep=True),
        help=f"Run {task.id} over every combination of the values given "
        f"(e.g. --lr 0.1,0.01); print one row per run.\n\n{task.summary}.",
        short_help=task.summary,
        context_settings={"max_content_width": 100},
    )


def _worker_count(jobs: Any, devices: list[str], total: int) -> int:
    """How many runs compute at once: --jobs (auto: one per core, or per listed device)."""
    if jobs is None:
        n = len(devices)
    elif jobs == "auto" and len(devices) > 1:
        n = len(devices)
    else:
        n = jobs_count(jobs)
    return max(1, min(n, total))


def _sweep_in_process(
    task: Task,
    base: dict[str, Any],
    axes: dict[str, list[Any]],
    ctx: RunContext,
    data_dir: Path | None,
    no_save: bool,
    batched: bool = False,
) -> Any:
    """One run after the other in this process (``--jobs 1``), each saved as it ends:
    (combination, result, whether it was saved)."""
    from lab4.engine.runner import sweep

    for combo, result in sweep(task.id, base, axes, ctx, batched=batched):
        yield combo, result, _save(result, data_dir, no_save)


def _sweep_in_workers(
    task: Task,
    base: dict[str, Any],
    axes: dict[str, list[Any]],
    ctx: RunContext,
    devices: list[str],
    workers: int,
    data_dir: Path | None,
    no_save: bool,
) -> Any:
    """The runs in ``workers`` worker processes at once (lab4.engine.worker.Pool); each worker
    saves the runs it ends; yielded in the comparison's order, with whether each was saved."""
    from lab4.core.comparison import plan
    from lab4.engine.runner import new_group_id
    from lab4.engine.worker import Job, Pool

    planned = plan(task.spec, base, axes)
    group = new_group_id(task.id) if len(planned) > 1 else ""
    jobs = [
        Job(
            task.id,
            dict(p.params),
            devices[0],
            p.dtype or ctx.dtype,
            ctx.seed if p.seed is None else p.seed,
            group,
            p.label,
        )
        for p in planned
    ]
    if not no_save:
        data_dir = _store(data_dir).root
    with Pool(workers, devices) as pool:
        for i, result, tracker in pool.run(jobs, save=not no_save, data_dir=data_dir, cancelled=lambda: ctx.cancelled):
            if tracker.unsaved:
                click.echo(f"error: run {result.id} was not saved ({tracker.unsaved}); use --out to keep it", err=True)
            yield planned[i].combo, result, not tracker.unsaved


class _TaskGroup(click.Group):
    def __init__(self, *args: Any, factory: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.factory = factory

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(TASK_IDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        task = TASKS.get(name)
        return self.factory(task) if task else None


class _Main(click.Group):
    """The ``lab4`` group: a store that fails in the middle of a command (a damaged page, a
    full disk, a read-only file) is exit 1 with the store's message, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from lab4.store import StoreError

        try:
            return super().invoke(ctx)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lab4-tui", prog_name="lab4")
def main() -> None:
    """Tensor differentiation lab, headless: run the six tasks, sweep them, keep the results."""
    refuse_broken_extra_tasks()


@main.command()
def tasks() -> None:
    """List the tasks, one line each."""
    width = max(len(t) for t in TASK_IDS)
    for task in TASKS.values():
        click.echo(f"{task.key}  {task.id.ljust(width)}  (handout {task.number})  {task.summary}")


_DATA_DIR = click.option("--data-dir", **DATA_DIR)


def _where(ctx: click.Context, option: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    from lab4.store import where_term

    try:
        return dict(where_term(item) for item in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=option) from None


@main.command()
@click.argument("task", required=False)
@_DATA_DIR
@click.option(
    "--where",
    "where",
    multiple=True,
    callback=_where,
    metavar="NAME=VALUE",
    help="only runs with this parameter value (repeatable): --where optimizer=momentum; "
    "also status, dtype, device, seed",
)
@click.option("--status", type=click.Choice(STATUSES), help="only runs that ended so")
@click.option(
    "--sort", "sort", metavar="METRIC", help="order by a metric (or started, duration_s); runs without it last"
)
@click.option("--desc", is_flag=True, help="largest first (newest first without --sort)")
@click.option("--group", help="only the runs of one comparison (its id, shown by lab4 sweep and lab4 runs)")
@click.option("--marked", is_flag=True, help="only runs marked in the app's History")
@click.option("--limit", type=click.IntRange(min=1, max=2**62), help="at most this many rows")
@click.option("--json", "as_json", is_flag=True, help="one JSON list of run summaries")
def runs(
    task: str | None,
    data_dir: Path | None,
    where: dict[str, str],
    status: str | None,
    sort: str | None,
    desc: bool,
    group: str | None,
    marked: bool,
    limit: int | None,
    as_json: bool,
) -> None:
    """List saved runs (of TASK, if given), oldest first. Never loads a run's series."""
    from lab4.core.comparison import differing, param_value

    if task is not None and task not in TASKS:
        raise click.BadParameter(f"unknown task {task!r}; known: {', '.join(TASK_IDS)}", param_hint="TASK")
    for name in where:
        known = {n for t in ([TASKS[task]] if task else TASKS.values()) for n in t.spec.names}
        if name not in known and name not in ("status", "dtype", "device", "seed", "label"):
            raise click.BadParameter(f"unknown parameter {name!r}", param_hint="--where")
    store = _store(data_dir)
    listing = store.list_runs(
        task,
        status=status,
        where=where,
        sort=sort,
        descending=desc,
        group=group,
        marked=True if marked else None,
        limit=limit,
    )
    for warning in listing.warnings:
        click.echo(f"warning: {warning}", err=True)
    headlines = {t.id: t.headline for t in TASKS.values()}

    def metric(r: Any) -> str:
        return sort if sort and sort in r.metrics else headlines.get(r.task, "")

    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "task": r.task,
                        "started": r.started,
                        "status": r.status,
                        "group": r.group,
                        "label": r.label,
                        "marked": r.marked,
                        "params": r.params,
                        "device": r.device,
                        "dtype": r.dtype,
                        "seed": r.seed,
                        "metric": metric(r),
                        "value": r.metrics.get(metric(r)),
                    }
                    for r in listing.runs
                ],
                allow_nan=False,
            )
        )
        return
    if not listing.runs:
        click.echo("no saved runs" + (" match" if where or status or group or marked else f" in {store.root}"))
        return
    # the parameters that tell one task's runs apart (across tasks, they all differ)
    differ = differing(listing.runs)[:4] if task or group else []
    click.echo(
        text_table(
            ["id", "task", "status", *differ, "in comparison", "metric", "value"],
            [
                [
                    r.id,
                    r.task,
                    r.status,
                    *[format_value(param_value(r, k)) for k in differ],
                    r.label or "-",
                    metric(r),
                    r.metrics.get(metric(r)),
                ]
                for r in listing.runs
            ],
        )
    )
    if listing.total > len(listing.runs):
        click.echo(f"({len(listing.runs)} of {listing.total} runs)")


@main.command()
@click.argument("run_id")
@_DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="print the saved JSON")
def show(run_id: str, data_dir: Path | None, as_json: bool) -> None:
    """Print one saved run (an id, or a unique prefix of one)."""
    from lab4.present.report import run_json

    try:
        result = _store(data_dir).load_run(run_id)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="RUN_ID") from None
    if as_json:
        click.echo(run_json(result))
    else:
        task = TASKS.get(result.task)
        click.echo(_summary(result, task) if task else run_json(result, indent=1))


@main.command()
@_DATA_DIR
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="where to write [default: DATA_DIR/report.md]"
)
@click.option("--run", "run_ids", multiple=True, help="report this run (repeatable) instead of the chosen ones")
@click.option("--sweep", "groups", multiple=True, help="report this comparison (repeatable: its group id)")
def report(data_dir: Path | None, out: Path | None, run_ids: tuple[str, ...], groups: tuple[str, ...]) -> None:
    """Write the lab report: each task's latest comparison and marked runs, plots as text, notes."""
    from lab4.present.report import write_report

    store = _store(data_dir)
    try:
        path, warnings = write_report(store, out, run_ids, groups)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out or store.root / 'report.md'}: {exc.strerror or exc}") from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"report written to {path}")


@main.command(name="export")
@click.argument("task", required=False)
@_DATA_DIR
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="the directory to write to [default: DATA_DIR/exports]",
)
def export_command(task: str | None, data_dir: Path | None, out: Path | None) -> None:
    """Write every saved run (of TASK, if given) as one JSON file each: the way to move or share a lab."""
    from lab4.present.report import run_json
    from lab4.store import StoreError, atomic_write
    from lab4.store.files import child_path

    if task is not None and task not in TASKS:
        raise click.BadParameter(f"unknown task {task!r}; known: {', '.join(TASK_IDS)}", param_hint="TASK")
    store = _store(data_dir)
    directory = out or store.exports_dir
    count = 0
    unread = []
    for summary in store.list_runs(task).runs:
        path = child_path(directory, summary.id, ".json")  # the id's safe form, inside the directory
        try:
            text = run_json(store.load_run(summary.id))
        except StoreError:  # a damaged page: the other runs are still exported
            unread.append(summary.id)
            continue
        try:
            atomic_write(path, text)
        except OSError as exc:
            raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
        count += 1
    click.echo(f"exported {count} run(s) to {directory}")
    if unread:
        raise click.ClickException(
            f"{len(unread)} run(s) could not be read (the database is damaged): "
            f"{', '.join(unread[:10])}{' ...' if len(unread) > 10 else ''}; "
            "'lab4 check' tells more"
        )


@main.command()
@_DATA_DIR
@click.option(
    "--salvage",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="write every run that still reads to DIR, one JSON file each (lab4 import reads them)",
)
def check(data_dir: Path | None, salvage: Path | None) -> None:
    """Check the database page by page (SQLite's integrity_check) and read every run whole.
    Exit 0 when all is well, 1 when something is damaged (each damaged run is named)."""
    from lab4.present.report import run_json
    from lab4.store import Store, atomic_write
    from lab4.store.files import child_path

    store = Store(data_dir, specs=task_specs())
    if not store.db_path.is_file():
        raise click.ClickException(f"no database at {store.db_path}")
    problems, good, bad = store.check()
    click.echo(f"{store.db_path}: integrity " + ("ok" if not problems else "DAMAGED"))
    for line in problems[:20]:
        click.echo(f"  {line}")
    click.echo(f"{len(good)} run(s) read whole, {len(bad)} damaged" + (": " + ", ".join(bad[:20]) if bad else ""))
    if salvage is not None:
        written = 0
        for run_id in good:
            try:
                atomic_write(child_path(salvage, run_id, ".json"), run_json(store.load_run(run_id)))
            except OSError as exc:
                raise click.ClickException(f"cannot write in {salvage}: {exc.strerror or exc}") from None
            written += 1
        click.echo(f"salvaged {written} run(s) to {salvage} (lab4 import {salvage}/*.json --data-dir NEW)")
    if problems or bad:
        sys.exit(1)


@main.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_DATA_DIR
def import_command(files: tuple[Path, ...], data_dir: Path | None) -> None:
    """Read runs exported as JSON (lab4 export, lab4 run --out, the app's export) back in."""
    from lab4.store import StoreError

    store = _store(data_dir)
    try:
        imported, warnings = store.import_runs(files)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"imported {len(imported)} run(s) into {store.db_path}")


README_BEGIN = "<!-- lab4 bench --readme: begin -->"
README_END = "<!-- lab4 bench --readme: end -->"


def _with_bench_table(text: str, table: str) -> str:
    """``text`` with what lies between its begin and end lines replaced by ``table`` in a fenced
    block; ValueError when the file lacks either line, or has them out of order."""
    lines = text.splitlines(keepends=True)
    marks = [i for i, line in enumerate(lines) if line.strip() in (README_BEGIN, README_END)]
    kinds = [lines[i].strip() for i in marks]
    if kinds != [README_BEGIN, README_END]:
        raise ValueError(f"needs one line {README_BEGIN!r} and, after it, one line {README_END!r}")
    begin, end = marks
    return "".join(lines[: begin + 1]) + f"```\n{table}\n```\n" + "".join(lines[end:])


@main.command()
@click.option("--quick", is_flag=True, help="fewer repeats and smaller sizes (a few minutes)")
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    callback=context_value(parse_device),
    help="cpu, cuda, cuda:N, mps or auto",
)
@click.option("--json", "as_json", is_flag=True, help="a JSON list of rows")
@click.option("--no-app", is_flag=True, help="skip the rows that start the terminal app")
@click.option(
    "--readme",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"also write the table into this file, between the lines {README_BEGIN!r} and {README_END!r}",
)
def bench(quick: bool, device: str, as_json: bool, no_app: bool, readme: Path | None) -> None:
    """Measure each performance figure against a baseline run in the same process."""
    from lab4.bench.rows import format_rows, run_bench

    if readme is not None and as_json:
        raise click.UsageError("--readme writes the table; --json prints rows: choose one")
    if readme is not None:  # before minutes of measuring: a file that cannot take the table
        try:
            _with_bench_table(readme.read_text(encoding="utf-8"), "")
        except (OSError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--readme") from None

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
        from lab4.bench.rows import machine_description

        heading = f"lab4 bench on {device}: {machine_description(device)}{' (quick)' if quick else ''}"
        table = format_rows(rows)
        click.echo(heading)
        click.echo(table)
        if readme is not None:
            from lab4.store import StoreError, atomic_write

            try:
                atomic_write(readme, _with_bench_table(readme.read_text(encoding="utf-8"), f"{heading}\n{table}"))
            except (OSError, ValueError, StoreError) as exc:
                raise click.ClickException(f"the table was not written into {readme}: {exc}") from None
            click.echo(f"wrote the table into {readme}")


main.add_command(_TaskGroup("run", factory=_make_run_command, help="Run one task: lab4 run TASK [--param value ...]."))
main.add_command(
    _TaskGroup(
        "sweep", factory=_make_sweep_command, help="Run one task over lists of values: lab4 sweep TASK --lr 0.1,0.01."
    )
)


if __name__ == "__main__":  # pragma: no cover
    main()
