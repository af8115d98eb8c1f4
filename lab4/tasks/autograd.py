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
* ``domain``: a step leaves f's domain (sqrt at 1e-6 with h = 5e-3) and no smaller step
  cbrt(eps) |x_i| 10^-k stays inside; where one does, the check uses it (and says so);
* ``mismatch``: otherwise.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from lab4.core.events import Artifact, Metric, Observation, Progress, Table, finding
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
    inputs: dict[int, Any] = {}
    nodes: list[tuple[dict[str, Any], Any]] = []
    edges: list[tuple[Any, int, str]] = []  # (node, input index, leaf variable): one per edge into a leaf

    def visit(fn: Any) -> dict[str, Any]:
        count[0] += 1
        node: dict[str, Any] = {"name": fn.name().replace("torch::autograd::", ""), "children": []}
        if id(fn) not in seen:
            seen[id(fn)] = None

            def hook(grad_inputs: Any, grad_outputs: Any, key: int = id(fn)) -> None:
                seen[key] = [g.detach().tolist() if g is not None else None for g in grad_outputs]
                inputs[key] = [g.detach().tolist() if g is not None else None for g in grad_inputs]

            fn.register_hook(hook)
            for index, (child, _) in enumerate(fn.next_functions):
                if child is not None and getattr(child, "variable", None) is not None:
                    edges.append((fn, index, names.get(id(child.variable), "?")))
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
        return {"name": "(no graph: f does not depend on a variable)", "children": []}, lambda: {}
    graph = visit(output.grad_fn)

    def fill() -> dict[str, list[dict[str, Any]]]:
        """Fill the nodes' grads; return, per leaf, its paths: each edge into it, with the node it
        leaves, the gradient reaching that node, and what the node passes down the edge."""
        for node, fn in nodes:
            grads = seen.get(id(fn))
            if grads:
                node["grad"] = grads[0] if len(grads) == 1 else grads
        paths: dict[str, list[dict[str, Any]]] = {}
        for fn, index, variable in edges:
            reaching, passed = (seen.get(id(fn)) or [None])[0], (inputs.get(id(fn)) or [])
            product = passed[index] if index < len(passed) else None
            if isinstance(reaching, float) and isinstance(product, float):
                paths.setdefault(variable, []).append(
                    {
                        "via": fn.name().replace("torch::autograd::", ""),
                        "reaching": reaching,
                        "local": product / reaching if reaching != 0 else None,
                        "product": product,
                    }
                )
        return paths

    return graph, fill


def check_resolution(value: float, step: float, dtype: str) -> float:
    """The smallest gradient a central-difference check can judge at this step: its
    round-off eps |f| / h over the band."""
    eps = 1.1920929e-07 if dtype == "float32" else 2.220446049250313e-16
    return eps * max(abs(value), 1.0) / step / CHECK_BANDS[dtype]


def check_verdict(
    autograd: list[float], central: list[float], steps: list[float], value: float, dtype: str, kinks: list[str]
) -> tuple[str, float]:
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
    paths = fill_grads()
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
    domain = _fit_domain(f_batch, x, steps, names) if math.isfinite(value) else []
    central = central_difference_gradient(f_batch, x, steps)
    central_d = dict(zip(names, central.tolist()))
    # the points the check evaluated: does a kink of f lie among them?
    perturbed = x.expand(2 * len(names) + 1, len(names)).clone()
    for i in range(len(names)):
        perturbed[1 + 2 * i, i] += steps[i]
        perturbed[2 + 2 * i, i] -= steps[i]
    kinked = kinks(expr, {n: perturbed[:, i] for i, n in enumerate(names)})
    verdict, rel = check_verdict([grads[n] for n in names], central.tolist(), steps.tolist(), value, ctx.dtype, kinked)
    if any(d["h_used"] is None for d in domain):
        verdict = "domain"
    yield Progress(3, 3)

    rows = []
    for i, n in enumerate(names):
        a, c = grads[n], central_d[n]
        rows.append([n, point[n], a, forward_grad[n], c, abs(a - c), steps[i].item()])
    yield Table(
        "gradient",
        ["variable", "at", "reverse (backward)", "forward (jacfwd)", "central diff.", "|reverse - central|", "h"],
        rows,
    )
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
        "Forward mode (jacfwd, one pass per input) gives "
        + (
            "the same gradient, bit for bit."
            if same
            else f"the gradient within {max(abs(forward_grad[n] - grads[n]) for n in names):.2g}."
        )
    )
    chain = _chain_rule(paths, grads, ctx.dtype)
    if chain is not None:
        yield chain
    for d in domain:
        yield Observation(
            f"The step h = {d['h']:.2g} leaves f's domain along {d['variable']}: f({d['side']}) = {d['f']:g}, so the "
            "central difference is not a number there; "
            + (
                f"the check uses h = {d['h_used']:.2g} instead, the largest of cbrt(eps) |{d['variable']}| x 10^-k "
                "that stays inside."
                if d["h_used"] is not None
                else "no smaller step that the dtype can represent stays inside it."
            )
        )
    if value != value or abs(value) == float("inf"):
        yield Observation(f"f is not finite at this point ({value}); its gradient is meaningless here.")
    elif verdict == "domain":
        yield Observation(
            "Check: domain. Central differences cannot be taken here: every step leaves f's domain; "
            "the verdict says nothing about autograd."
        )
    elif verdict == "kink":
        yield Observation(
            f"Check: kink. {'; '.join(kinked)}, within h of the point: the central difference straddles it "
            f"(relative error {rel:.2g}), so neither it nor the one-sided gradient autograd picks is 'the' "
            f"derivative there."
        )
    else:
        band = CHECK_BANDS[ctx.dtype]
        said = (
            "Check: {verdict}. The largest relative error between backward() and central differences is "
            "{worst:.2g}, {where} the {dtype} band {band:g}"
        )
        yield finding(
            "gradient_check",
            {
                "verdict": verdict,
                "worst": rel,
                "band": band,
                "dtype": ctx.dtype,
                "where": "within" if verdict == "ok" else "outside",
            },
            [("worst", "<=", "band")],
            said + ": autograd agrees.",
            said + ": the two disagree beyond truncation and round-off.",
        )
        for i, n in enumerate(names):
            resolution = check_resolution(value, steps[i].item(), ctx.dtype)
            if max(abs(grads[n]), abs(central_d[n])) < resolution:
                yield Observation(
                    f"df/d{n} = {grads[n]:.3g} is below what the check resolves at h = {steps[i].item():.2g} "
                    f"(round-off ~{resolution * band:.2g}): it confirms only |df/d{n}| < {resolution:.2g}."
                )


def _fit_domain(f_batch: Any, x: Any, steps: Any, names: list[str]) -> list[dict[str, Any]]:
    """Coordinates whose step h leaves f's domain (f(x +- h e_i) not finite while f(x) is):
    each one's h is replaced, in place, by the largest cbrt(eps) |x_i| 10^-k (the step at x_i's
    own scale, then smaller) that stays inside, down to a few ulps of x_i; ``h_used`` None when
    none does."""
    import torch

    def outside(i: int, h: Any) -> tuple[str, float] | None:
        points = x.expand(2, x.numel()).clone()
        points[0, i] += h
        points[1, i] -= h
        values = f_batch(points)
        for side, v in zip(("x + h", "x - h"), values.tolist()):
            if not math.isfinite(v):
                return side, v
        return None

    found = []
    for i, name in enumerate(names):
        h = steps[i].clone()
        bad = outside(i, h)
        if bad is None:
            continue
        eps = torch.finfo(x.dtype).eps
        smallest = 4 * eps * max(abs(float(x[i])), torch.finfo(x.dtype).tiny)
        # the step scaled by |x_i| rather than max(1, |x_i|): near a boundary at 0, x's own scale
        h = min(h, eps ** (1.0 / 3.0) * abs(float(x[i]))) * 10  # (divided by 10 before its first try)
        used = None
        while h / 10 >= smallest:
            h = h / 10
            if outside(i, h) is None:
                used = h
                break
        found.append(
            {
                "variable": name,
                "h": float(steps[i]),
                "side": bad[0].replace("x", name, 1),
                "f": bad[1],
                "h_used": None if used is None else float(used),
            }
        )
        if used is not None:
            steps[i] = used
    return found


def _chain_rule(paths: dict[str, list[dict[str, Any]]], grads: dict[str, float], dtype: str) -> Any:
    """The chain rule in numbers for the first leaf with a recorded path: each path into it (the
    node it leaves, the gradient reaching that node times the node's local derivative), and,
    for a variable used more than once, the sum of the paths' products, which is its gradient
    (to round-off: one rounding per addition)."""
    usable = [(v, ps) for v, ps in paths.items() if ps and all(p["local"] is not None for p in ps)]
    if not usable:
        return None
    variable, ps = usable[0]
    eps = 1.1920929e-07 if dtype == "float32" else 2.220446049250313e-16
    total = sum(p["product"] for p in ps)
    values = {
        "variable": variable,
        "paths": ps,
        "count": len(ps),
        "sum_of_paths": total,
        "gradient": grads[variable],
        "sum_error": abs(total - grads[variable]),
        "round_off": len(ps) * eps * max([abs(p["product"]) for p in ps] + [abs(grads[variable])]),
    }
    if len(ps) == 1:
        text = (
            "Chain rule: the leaf {variable} receives {paths[0][product]:.6g} = {paths[0][reaching]:.6g} (reaching "
            "{paths[0][via]}) x {paths[0][local]:.6g} (its local derivative)."
        )
    else:
        each = "; ".join(
            f"through {{paths[{k}][via]}}, {{paths[{k}][reaching]:.6g}} (reaching it) x "
            f"{{paths[{k}][local]:.6g}} (its local derivative) = {{paths[{k}][product]:.6g}}"
            for k in range(len(ps))
        )
        text = (
            "Chain rule: the leaf {variable} is reached by {count} paths: "
            + each
            + "; {variable} receives their sum, {sum_of_paths:.6g}."
        )
    wrong = text + " (autograd's {gradient:.6g} differs from that sum by {sum_error:.2g}, more than round-off.)"
    return finding("chain_rule", values, [("sum_error", "<=", "round_off")], text, wrong)


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
