"""Handout task 1: the gradient of f(x, y) = 3x^3 - y^2 by autograd.

Build f from the typed expression on leaf tensors with ``requires_grad=True``, call
``backward()``, read each leaf's ``.grad``; check it against central differences with the
step ``h_i = cbrt(eps) * max(1, |x_i|)``, and expose the graph of ``grad_fn`` nodes.
"""

from __future__ import annotations

from typing import Any, Iterator

from lab4.events import Artifact, Metric, Observation, Progress, Table
from lab4.expr import parse_expression
from lab4.spec import AssignParam, ExprParam, Spec
from lab4.tasks import Task
from lab4.views import PlotView

MAX_GRAPH_NODES = 400


def _point_matches_expr(values: dict[str, Any]) -> tuple[str, str] | None:
    used = parse_expression(values["expr"]).variables
    point = values["point"]
    missing = [v for v in used if v not in point]
    if missing:
        return "point", f"point needs a value for {', '.join(missing)} (used in expr)"
    extra = [v for v in point if v not in used]
    if extra:
        return "point", f"point assigns {', '.join(extra)}, which expr does not use"
    return None


SPEC = Spec(
    (
        ExprParam("expr", "3*x**3 - y**2", help="f of named variables, e.g. 3*x**3 - y**2", label="f ="),
        AssignParam("point", "x=2, y=3", help="where to take the gradient, e.g. x=2, y=3", label="at"),
    ),
    checks=(_point_matches_expr,),
)


def autograd_graph(output: Any, names: dict[int, str], limit: int = MAX_GRAPH_NODES) -> dict[str, Any]:
    """The chain of ``grad_fn`` nodes from ``output`` to the leaves, as nested dicts.

    Each node is ``{"name": "MulBackward0", "children": [...]}``; a leaf's
    ``AccumulateGrad`` node carries ``"variable"``.  A node reached twice (x used twice)
    appears twice, as a tree must show it; at most ``limit`` nodes are listed.
    """
    count = [0]

    def visit(fn: Any) -> dict[str, Any]:
        count[0] += 1
        node: dict[str, Any] = {"name": fn.name().replace("torch::autograd::", ""), "children": []}
        variable = getattr(fn, "variable", None)
        if variable is not None:
            node["variable"] = names.get(id(variable), "?")
        for child, _ in fn.next_functions:
            if child is None:
                continue
            if count[0] >= limit:
                node["children"].append({"name": "…", "children": []})
                break
            node["children"].append(visit(child))
        return node

    if output.grad_fn is None:
        return {"name": "(no graph: f does not depend on a variable)", "children": []}
    return visit(output.grad_fn)


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    import torch

    from lab4.numdiff import auto_step, central_difference_gradient

    expr = parse_expression(params["expr"])
    fn = expr.compile()
    point = params["point"]
    names = list(point)
    dtype, device = ctx.torch_dtype, ctx.torch_device
    yield Progress(0, 2)

    leaves = {n: torch.tensor(point[n], dtype=dtype, device=device, requires_grad=True) for n in names}
    out = fn(**leaves)
    if not isinstance(out, torch.Tensor):
        out = torch.tensor(float(out), dtype=dtype, device=device)
    value = out.item()
    yield Artifact("graph", autograd_graph(out, {id(t): n for n, t in leaves.items()}))
    if out.requires_grad:
        out.backward()
    grads = {n: (leaves[n].grad.item() if leaves[n].grad is not None else 0.0) for n in names}
    yield Progress(1, 2)

    x = torch.tensor([point[n] for n in names], dtype=dtype, device=device)

    def f_batch(batch: Any) -> Any:
        values = fn(**{n: batch[:, i] for i, n in enumerate(names)})
        return torch.as_tensor(values, dtype=dtype, device=device).expand(batch.shape[0])

    steps = auto_step(x)
    central = central_difference_gradient(f_batch, x, steps)
    central_d = dict(zip(names, central.tolist()))
    yield Progress(2, 2)

    rows = []
    worst = 0.0
    for i, n in enumerate(names):
        diff = abs(grads[n] - central_d[n])
        worst = max(worst, diff) if diff == diff else float("nan")
        rows.append([n, point[n], grads[n], central_d[n], diff, steps[i].item()])
    yield Table("gradient", ["variable", "at", "autograd", "central diff.", "|difference|", "h"], rows)
    yield Metric("value", value)
    yield Metric("gradient", grads)
    yield Metric("central_gradient", central_d)
    yield Metric("max_abs_difference", worst)

    where = ", ".join(f"{n}={point[n]:g}" for n in names)
    grad_text = ", ".join(f"df/d{n} = {grads[n]:.6g}" for n in names)
    yield Observation(f"f({where}) = {value:.6g}; by backward(): {grad_text}.")
    if value != value or abs(value) == float("inf"):
        yield Observation(f"f is not finite at this point ({value}); its gradient is meaningless here.")
    else:
        yield Observation(
            f"Central differences (2 evaluations per variable, step h = cbrt(eps)*max(1,|x|)) "
            f"agree with autograd to {worst:.2g} in {ctx.dtype}: autograd is exact up to rounding, "
            f"the finite difference carries O(h^2) truncation and eps/h round-off error."
        )


TASK = Task(
    id="autograd",
    number="1",
    title="Autograd gradient",
    summary="f(x, y) = 3x^3 - y^2: value, gradient by backward(), graph, finite-difference check",
    spec=SPEC,
    run=run,
    headline="value",
    views=(PlotView("graph", "Graph", (), kind="graph"),),
    help=(
        "Leaves are tensors with requires_grad=True; f is built from them and\n"
        "f.backward() fills each leaf's .grad. For f(x, y) = 3x^3 - y^2:\n"
        "df/dx = 9x^2, df/dy = -2y, so at (2, 3) the gradient is (36, -6).\n"
        "Check: g_i ~ (f(x + h e_i) - f(x - h e_i)) / ((x_i + h) - (x_i - h)),\n"
        "h = cbrt(eps) * max(1, |x_i|). The graph lists the grad_fn nodes backward()\n"
        "walks, from the output to the AccumulateGrad node of each leaf."
    ),
)
