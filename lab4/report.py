"""The lab report (one Markdown file) and the export of single runs (JSON and CSV).

The report lists, for each task that has a run (its latest, or the runs chosen), the
parameters, the metrics and tables as Markdown tables, the plots rendered as text by
plotext inside code blocks (readable in a terminal and in any Markdown viewer), the
observations the engine wrote, and the user's notes.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from lab4.events import Result, format_value
from lab4.store import Store, atomic_write
from lab4.tasks import TASKS

__all__ = ["build_report", "write_report", "export_run", "series_csv"]


def _cell(value: Any) -> str:
    return format_value(value).replace("|", "\\|").replace("\n", " ")


def _md_table(columns: list[str], rows: Iterable[list[Any]]) -> str:
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _run_section(result: Result, plots: bool) -> list[str]:
    from lab4.views import views_for

    out = [
        f"Run `{result.id}`: **{result.describe()}**, {result.device}, {result.dtype}, seed {result.seed}, "
        f"{result.duration_s:.2f} s, started {result.started}.",
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
        from lab4.plotting import render_text

        for view in views_for(result.task):
            if view.kind == "boundary":
                continue  # a class map needs colour; the accuracy curves say it in text
            try:
                text = render_text(view, [("", result.series, result.artifacts)])
            except Exception as exc:  # noqa: BLE001 - a plot never costs the report
                text = f"(plot unavailable: {exc})"
            if text:
                out += [f"*{view.title}*", "", "```text", text.rstrip(), "```", ""]
    if result.observations:
        out += ["Observations:", ""] + [f"- {o}" for o in result.observations] + [""]
    return out


def build_report(store: Store, run_ids: Iterable[str] = (), plots: bool = True) -> tuple[str, list[str]]:
    """The report's Markdown, and warnings (unreadable files, unknown run ids)."""
    listing = store.list_runs()
    warnings = list(listing.warnings)
    chosen: dict[str, list[Result]] = {}
    for run_id in run_ids:
        try:
            r = store.load_run(run_id)
        except (KeyError, OSError, ValueError) as exc:
            warnings.append(f"run {run_id}: {exc}")
            continue
        chosen.setdefault(r.task, []).append(r)
    latest: dict[str, Result] = {}
    for r in listing.runs:
        latest[r.task] = r
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# Laboratory 4: Tensor differentiation - report", "", f"Written by lab4-tui on {now}.", ""]
    for i, task in enumerate(TASKS.values(), 1):
        runs = chosen.get(task.id) or ([latest[task.id]] if task.id in latest else [])
        note = ""
        try:
            note = store.load_note(task.id).strip()
        except OSError as exc:
            warnings.append(f"notes of {task.id}: {exc}")
        if not runs and not note:
            continue
        out += [f"## {i}. {task.title} (`{task.id}`, handout task {task.number})", "", task.summary + ".", ""]
        out += ["```text", task.help, "```", ""]
        for r in runs:
            out += _run_section(r, plots)
        if note:
            out += ["### My notes", "", note, ""]
    if len(out) == 4:
        out += ["No runs and no notes yet: run a task (`lab4 run autograd`, or `lab4-tui`).", ""]
    return "\n".join(out), warnings


def write_report(store: Store, out: Path | str | None = None, run_ids: Iterable[str] = ()) -> Path:
    text, _ = build_report(store, run_ids)
    path = Path(out) if out else store.root / "report.md"
    atomic_write(path, text)
    return path


def series_csv(result: Result) -> str:
    """Every series in long form: series,x,y."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["series", "x", "y"])
    for name, data in result.series.items():
        for x, y in zip(data.get("x", []), data.get("y", [])):
            writer.writerow([name, x, y])
    return buf.getvalue()


def export_run(store: Store, result: Result) -> list[Path]:
    """Write ``exports/<id>.json`` and ``exports/<id>.csv``; return both paths."""
    base = store.root / "exports" / result.id
    json_path = base.with_suffix(".json")
    csv_path = base.with_suffix(".csv")
    atomic_write(json_path, json.dumps(result.to_json(), indent=1, allow_nan=False))
    atomic_write(csv_path, series_csv(result))
    return [json_path, csv_path]
