"""The autograd graph view: the grad_fn nodes backward() walks, as a tree, with the
gradient that flows through each node when it carries one (the chain rule in numbers)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static, Tree

from lab4.core.events import Result, format_value

__all__ = ["GraphPane", "node_label"]


def node_label(node: dict[str, Any]) -> str:
    label = node["name"]
    if "variable" in node:
        label += f"  -> leaf {node['variable']}"
    if node.get("grad") is not None:
        label += f"   grad {format_value(node['grad'])}"
    return label


class GraphPane(Vertical):
    DEFAULT_CSS = """
    GraphPane > #graph-summary { height: auto; margin: 0 1 1 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="graph-summary")
        yield Tree("run to see the graph of grad_fn nodes", id="graph")

    def show(self, result: Result | None) -> None:
        graph = (result.artifacts or {}).get("graph") if result is not None else None
        tree = self.query_one("#graph", Tree)
        tree.clear()
        if not graph:
            tree.root.set_label("run to see the graph of grad_fn nodes")
            self.query_one("#graph-summary", Static).update("")
            return
        tree.root.set_label(node_label(graph) + ("  (output)" if graph.get("children") else ""))

        def add(node: Any, data: dict[str, Any]) -> None:
            for child in data.get("children", []):
                if child.get("children"):
                    add(node.add(node_label(child), expand=True), child)
                else:
                    node.add_leaf(node_label(child))

        add(tree.root, graph)
        tree.root.expand_all()
        said = [o for o in result.observations if o.startswith(("f(", "Chain rule", "Check:"))]
        self.query_one("#graph-summary", Static).update("\n".join(said))
