"""Plain-text tables for terminals (the CLI's output, ``lab4 bench``): one formatter."""

from __future__ import annotations

from typing import Any, Sequence

from lab4.core.events import format_value

__all__ = ["text_table"]


def text_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, a dashed rule under the header; values through ``format_value``
    (strings pass unchanged)."""
    cells = [[str(c) for c in columns]] + [[v if isinstance(v, str) else format_value(v) for v in row] for row in rows]
    widths = [max(map(len, column)) for column in zip(*cells)]
    line = "  ".join(f"{{:<{w}}}" for w in widths).format
    lines = [line(*cells[0]).rstrip(), "  ".join("-" * w for w in widths)]
    lines += [line(*r).rstrip() for r in cells[1:]]
    return "\n".join(lines)
