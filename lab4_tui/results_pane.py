"""The Results tab: the metrics of the shown runs, their tables, the line that reproduces them.

One run: a metric/value table (a run comparing variants inside itself says whose metrics
these are).  Several runs: one row per run, led by the parameters that differ and the metric
the comparison is about, and ended by one sentence measured on the runs ("momentum
reached loss <= 0.1 in 41 steps, gd in 284").  Each run's own tables follow, labelled.
"""

from __future__ import annotations

from typing import Any, Sequence

from rich.console import Group
from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from lab4.compare import comparison_sentence, differing
from lab4.events import Result, format_value, scalar_metric_names
from lab4.textfmt import text_table

__all__ = ["ResultsPane"]


class ResultsPane(VerticalScroll):
    DEFAULT_CSS = """
    ResultsPane > #command { color: $text-muted; margin-bottom: 1; }
    ResultsPane > #sentence { margin: 1 0; text-style: bold; }
    ResultsPane > #metrics { height: auto; max-height: 24; }
    """

    def __init__(self, task: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.task_def = task
        self.text = ""  # the table as plain text (what the copy key sends)

    def compose(self) -> ComposeResult:
        yield Static("", id="command")
        yield DataTable(id="metrics", zebra_stripes=True, cursor_type="row")
        yield Static("", id="sentence")
        yield Static("", id="tables")

    def show(self, runs: Sequence[tuple[str, Result]], command: str = "") -> None:
        """Rebuild for ``runs`` (label, result); ``command`` reproduces them."""
        table = self.query_one("#metrics", DataTable)
        table.clear(columns=True)
        self.query_one("#command", Static).update(Text(f"reproduce: {command}" if command else ""))
        sentence = ""
        if not runs:
            columns, rows = [], []
        elif len(runs) == 1:
            result = runs[0][1]
            columns = ["metric", "value"]
            rows = [["status", result.describe() if result.ended else "running"]]
            rows += [[k, format_value(v)] for k, v in result.flat_metrics()]
            variants = result.artifacts.get("variants") if result.artifacts else None
            if variants and len(variants) > 1:
                sentence = (f"These metrics are the first variant's ({variants[0]['label']}); "
                            "the comparison table below has every variant.")
        else:
            results = [r for _, r in runs]
            varied = differing(results)
            names = scalar_metric_names(results, self.task_def.compare_metrics())
            columns = [*varied, "status", *names]
            rows = [[format_value(r.params.get(k, getattr(r, k, None))) for k in varied]
                    + [r.describe() if r.ended else "running"] + [format_value(r.metrics.get(m)) for m in names]
                    for r in results]
            if all(r.ended for r in results):
                sentence = comparison_sentence(self.task_def, list(runs))
        if columns:
            table.add_columns(*columns)
            for row in rows:
                table.add_row(*row)
        self.query_one("#sentence", Static).update(Text(sentence))
        self.query_one("#tables", Static).update(Group(*self._tables(runs)))
        self.text = "\n\n".join(part for part in (command, text_table(columns, rows) if columns else "", sentence)
                                if part)

    @staticmethod
    def _tables(runs: Sequence[tuple[str, Result]]) -> list[Any]:
        """Each run's tables, each under a line that names it and its run."""
        out: list[Any] = []
        for label, result in runs:
            for name, data in result.tables.items():
                t = RichTable(expand=False)
                for col in data["columns"]:
                    t.add_column(str(col))
                for row in data["rows"]:
                    t.add_row(*[format_value(v) for v in row])
                out += [Text(name + (f" - {label}" if label else ""), style="italic"), t]
        return out
