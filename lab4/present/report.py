"""The lab report (one Markdown file) and the export of single runs (JSON and CSV).

For each task the report holds what answers the handout's questions: its latest
comparison (every run of the latest sweep or compare run: the compare text, the line that
reproduces it, the overlay plots as text, one table of the varied parameters and each
run's metrics, and the measured sentence), the runs marked in History, and the user's
notes.  A task with neither a comparison nor a marked run shows its latest run, preferring
a finished one: a cancelled or failed run is chosen only when nothing else exists.
``--sweep ID`` and ``--run ID`` choose explicitly.  Plots are rendered as text by plotext
inside code blocks, readable in a terminal and in any Markdown viewer.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from lab4.core.comparison import axes_of, compare_text, comparison_rows, comparison_sentence, differing, param_value
from lab4.core.events import Result, format_value, plural, variant_series_name
from lab4.present.reproduce import command_line
from lab4.store import Store, atomic_write
from lab4.store.files import child_path
from lab4.tasks import TASKS, Task

__all__ = ["build_report", "write_report", "export_run", "series_csv", "run_json"]

FINISHED = ("ok", "diverged")


def _cell(value: Any) -> str:
    return format_value(value).replace("|", "\\|").replace("\n", " ")


def _md_table(columns: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _plots(task: Task, runs: Sequence[tuple[str, Result]]) -> list[str]:
    from lab4.present.plotting import render_text

    out = []
    for view in task.views:
        if view.kind in ("graph", "boundary"):
            continue  # the graph is a table in the report; a class map needs colour
        try:
            text = render_text(view, [(label, r.series, r.artifacts) for label, r in runs])
        except Exception as exc:  # noqa: BLE001 - a plot never costs the report
            text = f"(plot unavailable: {exc})"
        if text:
            out += [f"*{view.title}*", "", "```text", text.rstrip(), "```", ""]
    return out


def _run_section(result: Result, plots: bool, heading: str = "") -> list[str]:
    task = TASKS[result.task]
    out = [heading, ""] if heading else []
    out += [
        f"Run `{result.id}`: **{result.describe()}**, {result.device}, {result.dtype}, seed {result.seed}, "
        f"{result.duration_s:.2f} s, started {result.started}.",
        "",
        f"`{command_line(task, result.typed_params(), result.device, result.dtype, result.seed)}`",
        "",
        _md_table(["parameter", "value"], [[k, v] for k, v in result.params.items()]),
        "",
    ]
    flat = [list(kv) for kv in result.flat_metrics()]
    if flat:
        out += [_md_table(["metric", "value"], flat), ""]
    for name, table in result.tables.items():
        out += [f"*{name}*", "", _md_table(table["columns"], table["rows"]), ""]
    if plots:
        out += _plots(task, [("", result)])
    if result.observations:
        out += ["Observations:", ""] + [f"- {o}" for o in result.observations] + [""]
    return out


def _comparison_section(runs: Sequence[Result], plots: bool) -> list[str]:
    task = TASKS[runs[0].task]
    varied = differing(runs)
    axes = axes_of(runs)
    labelled = [
        (r.label or " ".join(f"{k}={format_value(param_value(r, k))}" for k in varied) or r.id, r) for r in runs
    ]
    first = runs[0]
    out = [
        f"### Comparison `{first.group or first.id}`: {plural(len(runs), 'run')}, started {first.started}",
        "",
        f"Compare `{compare_text(task.spec, axes)}` over `{command_line(task, first.typed_params(), first.device, first.dtype, first.seed, axes)}`.",
        "",
    ]
    sentence = comparison_sentence(task, labelled)
    if sentence:
        out += [f"**{sentence}**", ""]
    out += [_md_table(*comparison_rows(task, runs, limit=8)), ""]
    if plots:
        out += _plots(task, labelled)
    for label, r in labelled:
        if r.observations:
            out += [f"Observations ({label}):", ""] + [f"- {o}" for o in r.observations] + [""]
    return out


def _chosen(store: Store, task: Task) -> tuple[list[Result], list[Result]]:
    """(latest comparison, other runs to show) for a task, by the report's rule."""
    group = store.latest_group(task.id)
    comparison = store.load_runs([r.id for r in store.list_runs(task.id, group=group).runs]) if group else []
    shown = {r.id for r in comparison}
    marked = [r for r in store.list_runs(task.id, marked=True).runs if r.id not in shown]
    singles = store.load_runs([r.id for r in marked])
    if not comparison and not singles:
        latest = store.latest(task.id, FINISHED) or store.latest(task.id)
        if latest is not None:
            singles = [store.load_run(latest.id)]
    return comparison, singles


def build_report(
    store: Store, run_ids: Iterable[str] = (), plots: bool = True, groups: Iterable[str] = ()
) -> tuple[str, list[str]]:
    """The report's Markdown, and warnings (unknown run or comparison ids)."""
    warnings: list[str] = []
    explicit: dict[str, tuple[list[list[Result]], list[Result]]] = {}
    for group in groups:
        runs = store.list_runs(group=group).runs
        if not runs:
            warnings.append(f"comparison {group}: no such comparison")
            continue
        explicit.setdefault(runs[0].task, ([], []))[0].append(store.load_runs([r.id for r in runs]))
    for run_id in run_ids:
        try:
            r = store.load_run(run_id)
        except KeyError as exc:
            warnings.append(f"run {run_id}: {exc.args[0]}")
            continue
        explicit.setdefault(r.task, ([], []))[1].append(r)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# Laboratory 4: Tensor differentiation - report", "", f"Written by lab4-tui on {now}.", ""]
    for task in TASKS.values():
        if explicit:
            comparisons, singles = explicit.get(task.id, ([], []))
        else:
            comparison, singles = _chosen(store, task)
            comparisons = [comparison] if comparison else []
        note = ""
        try:
            note = store.load_note(task.id).strip()
        except OSError as exc:
            warnings.append(f"notes of {task.id}: {exc}")
        if not comparisons and not singles and not note:
            continue
        out += [f"## {task.key}. {task.title} (`{task.id}`, handout task {task.number})", "", task.summary + ".", ""]
        out += ["```text", task.help, "```", ""]
        for runs in comparisons:
            out += _comparison_section(runs, plots)
        for r in singles:
            heading = "### Marked run" if r.marked else "### Latest run"
            out += _run_section(r, plots, heading)
        if note:
            out += ["### My notes", "", note, ""]
    if len(out) == 4:
        out += ["No runs and no notes yet: run a task (`lab4 run autograd`, or `lab4-tui`).", ""]
    return "\n".join(out), warnings


def write_report(
    store: Store, out: Path | str | None = None, run_ids: Iterable[str] = (), groups: Iterable[str] = ()
) -> tuple[Path, list[str]]:
    """Build and write the report (atomically); return its path and the warnings."""
    text, warnings = build_report(store, run_ids, groups=groups)
    path = Path(out) if out else store.root / "report.md"
    atomic_write(path, text)
    return path, warnings


def series_csv(result: Result) -> str:
    """The run's numbers for a spreadsheet, in long form.

    A run with curves: ``series,x,y``, every point of every series.  A run comparing variants
    inside itself (tasks 5 and 6) stores its first variant's curves without a suffix (``loss``,
    ``loss [S=10]``); here every variant's are named alike: ``loss [S=0.1]``, ``loss [S=10]``.
    A run without curves (task 1: a value, a gradient, tables): ``table,row,column,value``, its
    metrics (table ``metrics``; a nested value's keys or indices in ``column``), then every cell
    of its tables (``row`` the row's first cell)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if not result.series:
        writer.writerow(["table", "row", "column", "value"])
        for name, value in result.metrics.items():
            for column, leaf in _leaves(value):
                writer.writerow(["metrics", name, column, _csv_cell(leaf)])
        for table, data in result.tables.items():
            columns = [str(c) for c in data["columns"]]
            for row in data["rows"]:
                for column, value in zip(columns[1:], row[1:]):
                    writer.writerow([table, _csv_cell(row[0]), column, _csv_cell(value)])
        return buf.getvalue()
    writer.writerow(["series", "x", "y"])
    names = variant_series_names(result)
    for name, data in result.series.items():
        for x, y in zip(data.get("x", []), data.get("y", [])):
            writer.writerow([names.get(name, name), float(x), float(y)])
    return buf.getvalue()


def variant_series_names(result: Result) -> dict[str, str]:
    """The first variant's series of a run of variants, named like the others' (``loss`` ->
    ``loss [S=0.1]`` where ``loss [S=10]`` is the second's); a series the other variants do
    not have (the sharpness, a drift between variants) keeps its name."""
    variants = (result.artifacts or {}).get("variants") or []
    others = [v["suffix"] for v in variants[1:] if v.get("suffix")]
    return {
        name: variant_series_name(name, result.artifacts)
        for name in result.series
        if any(f"{name}{suffix}" in result.series for suffix in others)
    }


def _leaves(value: Any, column: str = "") -> list[tuple[str, Any]]:
    """A metric's scalar leaves with where they sit: ``("", 15.0)``, ``("x", 36.0)``,
    ``("[0][1]", 0.0)``, ``("S=10.final_loss", 0.7)``."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{column}.{k}" if column else str(k))]
    if isinstance(value, (list, tuple)):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{column}[{i}]")]
    return [(column, value)]


def _csv_cell(value: Any) -> Any:
    return "" if value is None else value


def run_json(result: Result, indent: int | None = None) -> str:
    """A run as the JSON object of ``lab4 run --json`` and ``lab4 show --json`` (with
    ``"marked": true`` for a run marked in History, so that an export carries the mark)."""
    data = result.to_json()
    if result.marked:
        data["marked"] = True
    return json.dumps(data, indent=indent, allow_nan=False)


def export_run(store: Store, result: Result, directory: Path | None = None) -> list[Path]:
    """Write ``<id>.json`` and ``<id>.csv`` (in ``exports/`` by default); return both paths.
    The file names are the id's safe form, checked to stay inside the directory."""
    folder = directory or store.exports_dir
    json_path = child_path(folder, result.id, ".json")
    csv_path = child_path(folder, result.id, ".csv")
    atomic_write(json_path, run_json(result, indent=1))
    atomic_write(csv_path, series_csv(result))
    return [json_path, csv_path]
