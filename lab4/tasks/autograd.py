"""Handout task 1: the gradient of f(x, y) = 3x^3 - y^2 by autograd, and what backs it.

Build f from the typed expression on leaf tensors with ``requires_grad=True``, call
``backward()``, read each leaf's ``.grad``.  Beside it: the same gradient by forward mode
(``torch.func.jacfwd``), the Hessian (``torch.func.hessian``), the graph of ``grad_fn``
nodes with the gradient that flows through each one as ``backward()`` runs (captured with
node hooks: the chain rule in numbers), and a check against central differences with the
step ``h_i = cbrt(eps) * max(1, |x_i|)`` whose verdict comes from the numbers:

* ``ok``: the relative error |a - c| / max(|a|, |c|, R / band) is within the dtype's band
  (1e-7 in float64, 1e-3 in float32: the CS231n gradient-check bands).  R = eps |f| / h is
  the round-off of the difference: a gradient smaller than R / band is below what the check
  can resolve, and is judged against that resolution (and the run says so);
* ``kink``: a non-differentiable function (relu, abs, max, min, sign, floor, ceil) has its
  kink within h of the point: the difference straddles it, no band applies;
* ``mismatch``: otherwise.
"""

from __future__ import annotations

from typing import Any, Iterator

from lab4.core.events import Artifact, Metric, Observation, Progress, Table
from lab4.core.expr import parse_expression
from lab4.core.spec import AssignParam, ExprParam, Spec
from lab4.core.task import Task
from lab4.core.views import PlotView
from lab4.maths.expr import compile_expression, kinks

MAX_GRAPH_NODES = 400
#: the largest relative error of a gradient check called ok, per dtype
CHECK_BANDS = {"float32": 1e-3, "float64": 1e-7}


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


def autograd_graph(output: Any, names: dict[int, str], limit: int = MAX_GRAPH_NODES) -> tuple[dict[str, Any], Any]:
    """The chain of ``grad_fn`` nodes from ``output`` to the leaves, as nested dicts, and a
    function that fills each node's ``grad`` once ``backward()`` has run.

    Each node is ``{"name": "MulBackward0", "children": [...]}``; a leaf's
    ``AccumulateGrad`` node carries ``"variable"``.  A node reached twice (x used twice)
    appears twice, as a tree must show it; at most ``limit`` nodes are listed.  A hook on
    each node records the gradient flowing into it (its ``grad_outputs``).
    """
    count = [0]
    seen: dict[int, Any] = {}
    nodes: list[tuple[dict[str, Any], Any]] = []

    def visit(fn: Any) -> dict[str, Any]:
        count[0] += 1
        node: dict[str, Any] = {"name": fn.name().replace("torch::autograd::", ""), "children": []}
        if id(fn) not in seen:
            seen[id(fn)] = None

            def hook(grad_inputs: Any, grad_outputs: Any, key: int = id(fn)) -> None:
                seen[key] = [g.detach().tolist() if g is not None else None for g in grad_outputs]

            fn.register_hook(hook)
        nodes.append((node, fn))
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
        return {"name": "(no graph: f does not depend on a variable)", "children": []}, lambda: None
    graph = visit(output.grad_fn)

    def fill() -> None:
        for node, fn in nodes:
            grads = seen.get(id(fn))
            if grads:
                node["grad"] = grads[0] if len(grads) == 1 else grads

    return graph, fill


def check_resolution(value: float, step: float, dtype: str) -> float:
    """The smallest gradient a central-difference check can judge at this step: its
    round-off eps |f| / h over the band."""
    eps = 1.1920929e-07 if dtype == "float32" else 2.220446049250313e-16
    return eps * max(abs(value), 1.0) / step / CHECK_BANDS[dtype]


def check_verdict(autograd: list[float], central: list[float], steps: list[float], value: float, dtype: str,
                  kinks: list[str]) -> tuple[str, float]:
    """(``ok`` / ``kink`` / ``mismatch``, the largest relative error) of a gradient check."""
    import math

    worst = 0.0
    for a, c, h in zip(autograd, central, steps):
        denominator = max(abs(a), abs(c), check_resolution(value, h, dtype))
        error = abs(a - c) / denominator if math.isfinite(a - c) else math.inf
        worst = max(worst, error)
    if kinks:
        return "kink", worst
    return ("ok" if worst <= CHECK_BANDS[dtype] else "mismatch"), worst


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    import torch

    from lab4.maths.numdiff import auto_step, central_difference_gradient

    expr = parse_expression(params["expr"])
    fn = compile_expression(expr)
    point = params["point"]
    names = list(point)
    dtype, device = ctx.torch_dtype, ctx.torch_device
    yield Progress(0, 3)

    leaves = {n: torch.tensor(point[n], dtype=dtype, device=device, requires_grad=True) for n in names}
    out = fn(**leaves)
    if not isinstance(out, torch.Tensor):
        out = torch.tensor(float(out), dtype=dtype, device=device)
    value = out.item()
    graph, fill_grads = autograd_graph(out, {id(t): n for n, t in leaves.items()})
    if out.requires_grad:
        out.backward()
    fill_grads()
    yield Artifact("graph", graph)
    grads = {n: (leaves[n].grad.item() if leaves[n].grad is not None else 0.0) for n in names}
    yield Progress(1, 3)

    x = torch.tensor([point[n] for n in names], dtype=dtype, device=device)

    def f_vector(v: Any) -> Any:
        result = fn(**{n: v[..., i] for i, n in enumerate(names)})
        return torch.as_tensor(result, dtype=dtype, device=device)

    forward = torch.func.jacfwd(f_vector)(x)
    forward_grad = dict(zip(names, forward.reshape(-1).tolist()))
    hessian = torch.func.hessian(f_vector)(x).reshape(len(names), len(names)).tolist()
    yield Progress(2, 3)

    def f_batch(batch: Any) -> Any:
        return f_vector(batch).expand(batch.shape[0])

    steps = auto_step(x)
    central = central_difference_gradient(f_batch, x, steps)
    central_d = dict(zip(names, central.tolist()))
    # the points the check evaluated: does a kink of f lie among them?
    perturbed = x.expand(2 * len(names) + 1, len(names)).clone()
    for i in range(len(names)):
        perturbed[1 + 2 * i, i] += steps[i]
        perturbed[2 + 2 * i, i] -= steps[i]
    kinked = kinks(expr, {n: perturbed[:, i] for i, n in enumerate(names)})
    verdict, rel = check_verdict([grads[n] for n in names], central.tolist(), steps.tolist(), value, ctx.dtype,
                                 kinked)
    yield Progress(3, 3)

    rows = []
    for i, n in enumerate(names):
        a, c = grads[n], central_d[n]
        rows.append([n, point[n], a, forward_grad[n], c, abs(a - c), steps[i].item()])
    yield Table("gradient", ["variable", "at", "reverse (backward)", "forward (jacfwd)", "central diff.",
                             "|reverse - central|", "h"], rows)
    yield Table("hessian", ["d2f", *names], [[n, *row] for n, row in zip(names, hessian)])
    yield Metric("value", value)
    yield Metric("gradient", grads)
    yield Metric("forward_gradient", forward_grad)
    yield Metric("hessian", hessian)
    yield Metric("central_gradient", central_d)
    yield Metric("max_abs_difference", max((abs(grads[n] - central_d[n]) for n in names), default=0.0))
    yield Metric("check", verdict)
    yield Metric("check_rel_error", rel)

    where = ", ".join(f"{n}={point[n]:g}" for n in names)
    grad_text = ", ".join(f"df/d{n} = {grads[n]:.6g}" for n in names)
    yield Observation(f"f({where}) = {value:.6g}; by backward(): {grad_text}.")
    same = all(forward_grad[n] == grads[n] for n in names)
    yield Observation(
        "Forward mode (jacfwd, one pass per input) gives " + ("the same gradient, bit for bit."
                                                             if same else
                                                             "the gradient within "
                                                             f"{max(abs(forward_grad[n] - grads[n]) for n in names):.2g}.")
    )
    leaf = _chain_example(graph)
    if leaf:
        yield Observation(leaf)
    if value != value or abs(value) == float("inf"):
        yield Observation(f"f is not finite at this point ({value}); its gradient is meaningless here.")
    elif verdict == "kink":
        yield Observation(
            f"Check: kink. {'; '.join(kinked)}, within h of the point: the central difference straddles it "
            f"(relative error {rel:.2g}), so neither it nor the one-sided gradient autograd picks is 'the' "
            f"derivative there."
        )
    else:
        band = CHECK_BANDS[ctx.dtype]
        yield Observation(
            f"Check: {verdict}. The largest relative error between backward() and central differences is "
            f"{rel:.2g}, {'within' if verdict == 'ok' else 'outside'} the {ctx.dtype} band {band:g}"
            + (": autograd agrees." if verdict == "ok" else ": the two disagree beyond truncation and round-off.")
        )
        for i, n in enumerate(names):
            resolution = check_resolution(value, steps[i].item(), ctx.dtype)
            if max(abs(grads[n]), abs(central_d[n])) < resolution:
                yield Observation(
                    f"df/d{n} = {grads[n]:.3g} is below what the check resolves at h = {steps[i].item():.2g} "
                    f"(round-off ~{resolution * band:.2g}): it confirms only |df/d{n}| < {resolution:.2g}."
                )


def _chain_example(graph: dict[str, Any]) -> str:
    """"the leaf x receives 36 = 3 x 12": a leaf's gradient as what reached its parent times
    the parent's local derivative (their ratio), read from the recorded grads."""
    def walk(node: dict[str, Any], parent: dict[str, Any] | None) -> str:
        for child in node.get("children", []):
            if "variable" in child and isinstance(child.get("grad"), float) and parent is not None \
                    and isinstance(node.get("grad"), float) and node["grad"] not in (0.0,):
                local = child["grad"] / node["grad"]
                return (f"Chain rule: the leaf {child['variable']} receives {child['grad']:.6g} = "
                        f"{node['grad']:.6g} (reaching {node['name']}) x {local:.6g} (its local derivative).")
            found = walk(child, node)
            if found:
                return found
        return ""

    return walk(graph, None)


TASK = Task(
    id="autograd",
    number="1",
    title="Autograd gradient",
    summary="f(x, y) = 3x^3 - y^2: value, gradient by backward() and forward mode, Hessian, "
            "the graph with its gradients, a checked finite-difference comparison",
    spec=SPEC,
    run=run,
    headline="value",
    views=(PlotView("graph", "Graph", (), kind="graph"),),
    help=(
        "Leaves are tensors with requires_grad=True; f is built from them and\n"
        "f.backward() fills each leaf's .grad. For f(x, y) = 3x^3 - y^2:\n"
        "df/dx = 9x^2, df/dy = -2y, so at (2, 3) the gradient is (36, -6);\n"
        "the Hessian is [[18x, 0], [0, -2]] = [[36, 0], [0, -2]].\n"
        "Forward mode (jacfwd) gives the same gradient in n passes.\n"
        "The graph shows the gradient reaching each grad_fn node: the leaf x\n"
        "receives 36 = 3 (reaching x^3) x 12 (d x^3 / dx = 3x^2).\n"
        "Check: g_i ~ (f(x + h e_i) - f(x - h e_i)) / ((x_i + h) - (x_i - h)),\n"
        "h = cbrt(eps) * max(1, |x_i|); verdict ok / kink / mismatch from the\n"
        "relative error (bands 1e-7 float64, 1e-3 float32)."
    ),
)
