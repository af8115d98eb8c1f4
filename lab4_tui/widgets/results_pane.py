"""The Results tab: the metrics of the shown runs, their tables, the line that reproduces them.

One run: a metric/value table (a run comparing variants inside itself says whose metrics
these are).  Several runs: one row per run, led by the parameters that differ and the metric
the comparison is about, and ended by one sentence measured on the runs ("momentum
reached loss <= 0.1 in 41 steps, gd in 284").  Each run's own tables follow, labelled.
"""

from __future__ import annotations

from typing import Any, Sequence

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from lab4.core.comparison import comparison_rows, comparison_sentence
from lab4.core.events import Result, format_value
from lab4.present.textfmt import text_table

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
        self._key: tuple[Any, ...] | None = None  # what the pane shows now
        self._held: list[Result] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="command")
        yield DataTable(id="metrics", zebra_stripes=True, cursor_type="row")
        yield Static("", id="sentence")
        yield Static("", id="tables")

    def show(self, runs: Sequence[tuple[str, Result]], command: str = "") -> None:
        """Rebuild for ``runs`` (label, result); ``command`` reproduces them.

        The same runs in the same state are not rebuilt: a rebuild re-lays out the screen,
        and the end of a run asks for one twice (the run ended; the session finished)."""
        key = (command, *((label, id(r), r.status, r.ended, len(r.metrics)) for label, r in runs))
        if key == self._key:
            return
        self._key, self._held = key, [r for _, r in runs]  # held: an id stays theirs
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
            columns, values = comparison_rows(self.task_def, results)
            rows = [[v if isinstance(v, str) else format_value(v) for v in row] for row in values]
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
                out += [Text(name + (f" - {label}" if label else ""), style="italic"),
                        FittedTable([str(c) for c in data["columns"]], data["rows"])]
        return out


class FittedTable:
    """A table that fits the width it is drawn at, whatever the pane.

    Numbers keep every digit ("0.001044..." would hide what was measured): their columns keep
    their width and names wrap.  Where even that does not fit, each row is drawn as a record,
    its first cell on a line and ``column: value`` under it.  Drawn again on every resize.
    """

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]):
        self.columns = list(columns)
        self.cells = [[format_value(v) for v in row] for row in rows]
        # each column's narrowest (a number whole, a name down to its longest word) and widest
        self.least, self.most = [], []
        for i, col in enumerate(self.columns):
            numeric = all(not isinstance(row[i], str) for row in rows)
            words = [row[i] for row in self.cells] if numeric else \
                [w for row in self.cells for w in row[i].split()]
            self.least.append(max(map(len, [*col.split(), *words]), default=1))
            self.most.append(max(map(len, [col, *(row[i] for row in self.cells)])))

    def widths(self, room: int) -> list[int] | None:
        """Column widths for ``room`` cells of text (borders apart); None when it is too narrow."""
        if sum(self.most) <= room:
            return self.most
        spare = room - sum(self.least)
        if spare < 0:
            return None
        give = [m - n for m, n in zip(self.most, self.least)]
        total = sum(give)
        return [n + spare * g // total for n, g in zip(self.least, give)]

    def table(self, widths: list[int]) -> RichTable:
        t = RichTable(expand=False)
        for col, width in zip(self.columns, widths):
            t.add_column(col, width=width)
        for row in self.cells:
            t.add_row(*row)
        return t

    def records(self) -> Text:
        lines = []
        for row in self.cells:
            lines.append(Text(row[0], style="bold"))
            lines += [Text(f"  {col}: {value}") for col, value in zip(self.columns[1:], row[1:])]
        return Text("\n").join(lines)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self.widths(options.max_width - (3 * len(self.columns) + 1))
        yield self.records() if widths is None else self.table(widths)
