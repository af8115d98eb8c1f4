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
from textual.widgets import Static

from lab4.core.comparison import comparison_rows, comparison_sentence
from lab4.core.events import Result, format_value
from lab4.present.textfmt import text_table

__all__ = ["ResultsPane"]


class ResultsPane(VerticalScroll, can_focus=True):
    """The answer first (the sentence, the table), then the line that reproduces it, then
    each run's own tables.  The table fits the pane's width (see :class:`ComparisonTable`):
    nothing is cut at the right, nothing needs a horizontal scroll."""

    DEFAULT_CSS = """
    ResultsPane > #sentence { margin: 0 0 1 0; text-style: bold; }
    ResultsPane > #metrics { height: auto; margin-bottom: 1; }
    ResultsPane > #command { color: $text-muted; margin-bottom: 1; }
    """

    def __init__(self, task: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.task_def = task
        self.text = ""  # the table as plain text (what the copy key sends)
        self.columns: list[str] = []  # the table shown: its columns and rows (text)
        self.rows: list[list[str]] = []
        self._key: tuple[Any, ...] | None = None  # what the pane shows now
        self._held: list[Result] = []
        #: what the Statics are to show (metrics, sentence, tables, command), while the pane is hidden
        self._pending: tuple[Any, Any, Any, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="sentence")
        yield Static("", id="metrics")
        yield Static("", id="command")
        yield Static("", id="tables")

    def show(self, runs: Sequence[tuple[str, Result]], command: str = "") -> None:
        """Rebuild for ``runs`` (label, result); ``command`` reproduces them.

        The same runs in the same state are not rebuilt: a rebuild re-lays out the screen,
        and the end of a run asks for one twice (the run ended; the session finished)."""
        key = (command, *((label, id(r), r.status, r.ended, len(r.metrics)) for label, r in runs))
        if key == self._key:
            return
        self._key, self._held = key, [r for _, r in runs]  # held: an id stays theirs
        sentence = ""
        keys = 0  # how many leading columns name the run
        first = False  # a run of variants: its own tables (the comparison) come first
        if not runs:
            columns, rows = [], []
        elif len(runs) == 1:
            result = runs[0][1]
            columns = ["metric", "value"]
            rows = [["status", result.describe() if result.ended else "running"]]
            rows += [[k, format_value(v)] for k, v in result.flat_metrics()]
            variants = result.artifacts.get("variants") if result.artifacts else None
            if variants and len(variants) > 1:
                sentence = (
                    f"Every variant is in the comparison table; the metrics under it are the first "
                    f"variant's ({variants[0]['label']})."
                )
                first = True
        else:
            results = [r for _, r in runs]
            columns, values = comparison_rows(self.task_def, results)
            keys = columns.index("status") if "status" in columns else 1
            rows = [[v if isinstance(v, str) else format_value(v) for v in row] for row in values]
            if all(r.ended for r in results):
                sentence = comparison_sentence(self.task_def, list(runs))
        self.columns, self.rows = list(columns), rows
        table = ComparisonTable(columns, rows, keys) if columns else ""
        tables = Group(*self._tables(runs))
        self._pending = (
            tables if first else table,
            sentence,
            table if first else tables,
            Text(f"reproduce: {command}" if command else ""),
        )
        if self.shown_now():
            self.flush()
        # what the copy key sends: what the pane shows, in its order (a run of variants: its
        # comparison table of every variant first, the metrics the sentence says are under it)
        metrics = text_table(columns, rows) if columns else ""
        own = self._text_tables(runs)
        shown = [*own, metrics] if first else [metrics, *own]
        self.text = "\n\n".join(part for part in (command, sentence, *shown) if part)

    def shown_now(self) -> bool:
        """Whether the pane is on the screen now (its tab is the active one)."""
        node: Any = self
        while node is not None and hasattr(node, "display"):
            if not node.display:
                return False
            node = node.parent
        return True

    def flush(self) -> None:
        """Show what :meth:`show` computed.  While the pane is hidden (another tab is open) it
        waits: updating the Statics re-lays out the whole screen (30-50 ms at 120x40 on a
        busy core), a stall the live plots would feel at each run's start and end."""
        if self._pending is None:
            return
        metrics, sentence, tables, command = self._pending
        self._pending = None
        with self.app.batch_update():
            self.query_one("#command", Static).update(command)
            self.query_one("#metrics", Static).update(metrics)
            self.query_one("#sentence", Static).update(Text(sentence))
            self.query_one("#sentence", Static).display = bool(sentence)
            self.query_one("#tables", Static).update(tables)

    def on_show(self) -> None:
        self.flush()

    @staticmethod
    def _text_tables(runs: Sequence[tuple[str, Result]]) -> list[str]:
        """Each run's tables as plain text, each under the line that names it and its run."""
        return [
            _title(name, label) + "\n" + text_table([str(c) for c in data["columns"]], data["rows"])
            for label, result in runs
            for name, data in result.tables.items()
        ]

    @staticmethod
    def _tables(runs: Sequence[tuple[str, Result]]) -> list[Any]:
        """Each run's tables, each under a line that names it and its run."""
        out: list[Any] = []
        for label, result in runs:
            for name, data in result.tables.items():
                out += [
                    Text(_title(name, label), style="italic"),
                    ComparisonTable(
                        [str(c) for c in data["columns"]],
                        [[format_value(v) for v in row] for row in data["rows"]],
                        keys=1,
                    ),
                ]
        return out


def _title(table: str, run_label: str) -> str:
    """The line over a run's table: the table's name and, among several runs, the run's."""
    return table + (f" - {run_label}" if run_label else "")


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
            words = [row[i] for row in self.cells] if numeric else [w for row in self.cells for w in row[i].split()]
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


class ComparisonTable:
    """The metrics of the shown runs, drawn to fit the width it gets, every value whole.

    Tried in turn: one row per run (names of metrics wrap at their underscores); one row per
    metric and one column per run (headed by what differs between the runs); and where even
    that is too wide, one block per metric, its name then ``run: value`` pieces flowed in lines.
    ``keys`` leading columns name the runs (0 for a metric/value table)."""

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[str]], keys: int = 0):
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]
        self.keys = keys

    @staticmethod
    def _name(column: str) -> str:
        return column.replace("_", " ")

    def _fit(self, columns: list[str], rows: list[list[str]], room: int) -> RichTable | None:
        fitted = FittedTable(columns, rows)
        widths = fitted.widths(room - (len(columns) - 1))  # a space between columns
        if widths is None:
            return None
        t = RichTable(
            box=None, pad_edge=False, padding=(0, 1, 0, 0), expand=False, show_edge=False, header_style="bold underline"
        )
        for col, width in zip(columns, widths):
            t.add_column(col, width=width, overflow="fold")
        for row in rows:
            t.add_row(*row)
        return t

    def _run_names(self) -> list[str]:
        return [" ".join(row[: self.keys]) or str(k + 1) for k, row in enumerate(self.rows)]

    def transposed(self) -> tuple[list[str], list[list[str]]]:
        names = self._run_names()
        metrics = self.columns[self.keys :]
        header = " ".join(self.columns[: self.keys]) if self.keys else ""
        return (
            [header, *names],
            [[self._name(m), *(row[self.keys + i] for row in self.rows)] for i, m in enumerate(metrics)],
        )

    def blocks(self, width: int) -> Text:
        if not self.keys:  # a metric/value table: "metric: value", the value wrapped
            return Text("\n").join(Text.assemble((f"{row[0]}: ", "bold"), "  ".join(row[1:])) for row in self.rows)
        names = self._run_names()
        out = Text()
        for i, metric in enumerate(self.columns[self.keys :]):
            out.append(self._name(metric) + "\n", style="bold")
            line = " "
            for name, row in zip(names, self.rows):
                piece = f" {name}: {row[self.keys + i]}"
                if len(line) + len(piece) > width and line.strip():
                    out.append(line + "\n")
                    line = " "
                line += piece
            out.append(line + "\n")
        out.rstrip()
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        room = options.max_width
        named = [self._name(c) for c in self.columns]
        table = self._fit(named, self.rows, room)
        if table is None and self.keys:
            table = self._fit(*self.transposed(), room)
        yield table if table is not None else self.blocks(room)
