"""Handout task 3: minimise ``generate_function(dim, complexity, seed)`` by gradient descent,
with the theory beside every curve.

Each step takes the gradient with autograd (``torch.autograd.grad``) at w (or at the
Nesterov look-ahead w + beta v) and applies the handout's update from :mod:`lab4.maths.optim`.
The loss f(w_t) - f* (f* = 0) and the distance ||w_t - c|| are recorded from t = 0, the
start point.  Values stay on the device and are copied to the host in blocks, so a step
costs no host-device synchronisation.

Theory (:mod:`lab4.maths.optim_theory`, the landscape's exact spectrum at c): L, mu, kappa; the
optimal (lr, beta) of the chosen optimizer (``lr = optimal`` and ``beta = optimal`` take
them); the rate of the run's own (lr, beta) on the quadratic model, drawn over the measured
curves (rho^t for the distance, rho^2t for the loss) and against the rate fitted on the
measurement; a phase diagram of the rate over (lr, beta).  An unstable (lr, beta) is warned
before it runs; a loss that grows 1e6-fold is divergence at that step.

Your own function (``expr``, ``start``, optional ``minimum``): any expression of the safe
language over the variables the start names, minimised by the same optimizers.  f* is
f(minimum) when the minimiser is given, else the lowest value the run finds (and the
distance is to that best point).  The theory comes from the autograd Hessian at the start and
at the point reached: L, mu, kappa and the optimal (lr, beta) for that curvature when it is
positive definite, said plainly when it is indefinite (a saddle) or when the run did not
reach a stationary point (its gradient norm against the start's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

from lab4.core.events import Artifact, Finding, Metric, Observation, Points, Table, finding, plural
from lab4.core.expr import parse_expression
from lab4.core.spec import AssignParam, ChoiceParam, ExprParam, FloatParam, IntParam, Spec
from lab4.core.task import Batched, Comparison, Task
from lab4.core.views import PlotView
from lab4.maths.landscapes import LEVEL_FORMULAS, LEVELS, curvature, spectrum
from lab4.maths.optim import OPTIMIZERS
from lab4.maths.optim_theory import fit_rate, optimal, phase, rate, steps_to_grow

FLUSH = 64  # steps between host copies of the recorded values
GROWTH = 1e6  # a loss above GROWTH x its start has diverged
THEORY_POINTS = 400  # points of the drawn theory curves
#: the phase diagram's grid: lr from 0 to PHASE_LR / L, beta from 0 to PHASE_BETA
PHASE_GRID, PHASE_LR, PHASE_BETA = (48, 32), 4.0, 0.99
#: the measured phase map: MAP_GRID x MAP_GRID runs of (lr, beta) over the theory's ranges, at
#: most MAP_STEPS steps each, batched into one computation; not above MAP_MAX_DIM variables
MAP_GRID, MAP_STEPS, MAP_MAX_DIM = 21, 200, 64
#: a gradient norm below this fraction of the start's: the run reached a stationary point
STATIONARY = 1e-3

#: classic test functions for "your own function" (expr, start, known minimiser)
FUNCTIONS = {
    "rosenbrock": ("(1-x)**2+100*(y-x**2)**2", {"x": -1.5, "y": 2.0}, {"x": 1.0, "y": 1.0}),
    "himmelblau": ("(x**2+y-11)**2+(x+y**2-7)**2", {"x": 0.0, "y": 0.0}, {"x": 3.0, "y": 2.0}),
    "beale": ("(1.5-x+x*y)**2+(2.25-x+x*y**2)**2+(2.625-x+x*y**3)**2", {"x": 1.0, "y": 1.0}, {"x": 3.0, "y": 0.5}),
    "booth": ("(x+2*y-7)**2+(2*x+y-5)**2", {"x": -3.0, "y": -2.0}, {"x": 1.0, "y": 3.0}),
    "saddle": ("x**2-y**2", {"x": 1.0, "y": 0.01}, None),
}


@dataclass(frozen=True)
class OwnExpr(ExprParam):
    """An expression, or empty: generate_function(dim, complexity, seed) as the handout's default."""

    def parse(self, value: Any) -> str:
        return "" if str(value).strip() == "" else super().parse(value)

    def sweep_values(self, text: str) -> list[Any]:
        return [""] if str(text).strip() == "" else super().sweep_values(text)


@dataclass(frozen=True)
class OptionalPoint(AssignParam):
    """Assignments like x=-1.5, y=2, or empty (not given)."""

    def parse(self, value: Any) -> dict[str, float]:
        if value is None or (not isinstance(value, dict) and str(value).strip() == "") or value == {}:
            return {}
        return super().parse(value)

    def format(self, value: Any) -> str:
        return super().format(value) if value else ""

    def sweep_values(self, text: str) -> list[Any]:
        return [{}] if str(text).strip() == "" else super().sweep_values(text)


def _own_function_fits(values: dict[str, Any]) -> tuple[str, str] | None:
    """start (and minimum, when given) assign exactly the variables of expr."""
    if not values["expr"]:
        for name in ("start", "minimum"):
            if values[name]:
                return name, f"{name} is for your own function: give --expr too (empty expr: generate_function)"
        return None
    used = parse_expression(values["expr"]).variables
    if not used:
        return "expr", "expr needs at least one variable to minimise over"
    for name in ("start", "minimum"):
        point = values[name]
        if not point and name == "minimum":
            continue
        missing = [v for v in used if v not in point]
        if missing:
            return name, f"{name} needs a value for {', '.join(missing)} (used in expr)"
        extra = [v for v in point if v not in used]
        if extra:
            return name, f"{name} assigns {', '.join(extra)}, which expr does not use"
    return None


#: rates at most this are the round-off of 0 (64 ulps of 1 in float64)
RATE_ZERO = 64 * 2.0**-52
#: the level whose ripples make local minima (levels 1-4 have one minimum, c)
RIPPLED_LEVEL = 5
#: a run has settled when its gradient is below this share of the start's...
SETTLED = 1e-3
#: ...and a settled run is in a local minimum when f - f* is above this many times tol
FAR_ABOVE = 100.0

SPEC = Spec(
    (
        IntParam("dim", 2, help="number of variables", ge=1, le=10_000_000),
        IntParam(
            "complexity",
            1,
            help=", ".join(f"{k} {text.split(':')[0]}" for k, text in LEVELS.items()),
            ge=min(LEVELS),
            le=max(LEVELS),
        ),
        ChoiceParam("optimizer", "gd", help="gd, momentum or nesterov (handout formulas)", choices=OPTIMIZERS),
        FloatParam(
            "lr",
            0.25,
            help="learning rate, or optimal (from the landscape's L and mu)",
            gt=0,
            le=1e3,
            symbols=("optimal",),
        ),
        FloatParam(
            "beta", 0.9, help="momentum coefficient (ignored by gd), or optimal", ge=0, lt=1, symbols=("optimal",)
        ),
        IntParam("steps", 1000, help="number of updates", ge=1, le=10_000_000),
        FloatParam("tol", 1e-6, help="converged when f - f* <= tol", gt=0),
        OwnExpr(
            "expr",
            "",
            help="your own f to minimise, e.g. (1-x)**2 + 100*(y-x**2)**2; empty: "
            "generate_function(dim, complexity, seed)",
            label="own f =",
        ),
        OptionalPoint("start", "", help="where your own f starts, e.g. x=-1.5, y=2 (with expr)", label="start"),
        OptionalPoint(
            "minimum",
            "",
            help="your own f's known minimiser, for the distance (optional; "
            "without it: the distance to the best point found)",
            label="minimum",
        ),
    ),
    checks=(_own_function_fits,),
)


def resolve(params: dict[str, Any], ctx: Any = None) -> tuple[dict[str, Any], list[str]]:
    """``lr = optimal`` and ``beta = optimal`` as numbers for this landscape and optimizer
    (for your own f: for the autograd Hessian at ``minimum`` when given, else at ``start``)."""
    params = dict(params)
    if "optimal" not in (params["lr"], params["beta"]):
        return params, []
    if params.get("expr"):
        big, small, where = _own_curvature(params)
        kappa = big / small
    else:
        big, small, kappa = curvature(params["dim"], params["complexity"])
        where = ""
    lr, beta = optimal(params["optimizer"], big, small)
    notes = []
    rule = {"gd": "2/(L + mu)", "momentum": "(2/(sqrt L + sqrt mu))^2", "nesterov": "4/(3L + mu)"}
    beta_rule = {
        "gd": "unused by gd",
        "momentum": "((sqrt kappa - 1)/(sqrt kappa + 1))^2",
        "nesterov": "(sqrt(3 kappa + 1) - 2)/(sqrt(3 kappa + 1) + 2)",
    }
    if params["lr"] == "optimal":
        params["lr"] = lr
        notes.append(
            f"lr = optimal: {lr:.6g} = {rule[params['optimizer']]} with L = {big:.4g}, mu = {small:.4g}{where}."
        )
    if params["beta"] == "optimal":
        params["beta"] = beta
        notes.append(f"beta = optimal: {beta:.6g} ({beta_rule[params['optimizer']]}, kappa = {kappa:.4g}).")
    return params, notes


def _own_curvature(params: dict[str, Any]) -> tuple[float, float, str]:
    """(L, mu, where) of the autograd Hessian of your own f at its minimum (given) or start;
    ValueError when it is not positive definite there (no optimal step exists)."""
    import torch

    from lab4.maths.landscapes import hessian_at, own_function

    f = own_function(params["expr"], params["start"], params.get("minimum") or None)
    at, where = (f.center, "the given minimum") if f.center is not None else (f.start, "the start")
    eig = torch.linalg.eigvalsh(hessian_at(f, at)).tolist()
    if not all(math.isfinite(v) for v in eig) or min(eig) <= 0:
        raise ValueError(
            f"lr = optimal needs a positive definite Hessian, and at {where} its eigenvalues are "
            + ", ".join(f"{v:.4g}" for v in eig)
            + " (not a minimum's curvature): give a number"
        )
    return max(eig), min(eig), f" (the autograd Hessian at {where})"


def theory(params: dict[str, Any]) -> dict[str, Any]:
    """L, mu, kappa, the optimal (lr, beta) and the run's rate on the quadratic model at c."""
    params, _ = resolve(params)
    big, small, kappa = curvature(params["dim"], params["complexity"])
    optimizer = params["optimizer"]
    lr_opt, beta_opt = optimal(optimizer, big, small)
    beta = params["beta"] if optimizer != "gd" else 0.0
    rho = _snap(rate(optimizer, params["lr"], beta, spectrum(params["dim"], params["complexity"])))
    return {
        "L": big,
        "mu": small,
        "kappa": kappa,
        "lr_optimal": lr_opt,
        "beta_optimal": beta_opt if optimizer != "gd" else None,
        "rate_theory": rho,
        "stable": rho < 1,
    }


def _snap(rho: float) -> float:
    """A rate within RATE_ZERO of 0 is 0: the root formula's round-off in float64 (momentum
    at its optimum on kappa = 1 computes 2.2e-16 where gd computes 0)."""
    return 0.0 if abs(rho) <= RATE_ZERO else rho


def preflight(params: dict[str, Any]) -> list[str]:
    """Known before a step is taken: an (lr, beta) that theory says blows up (generated
    functions: your own f's curvature needs torch, the run states it)."""
    if params.get("expr"):
        return []
    t = theory(params)
    if t["stable"]:
        return []
    lr, _ = resolve(params)[0]["lr"], None
    edge = {"gd": "2/L", "momentum": "2(1 + beta)/L", "nesterov": "2(1 + beta)/((1 + 2 beta) L)"}[params["optimizer"]]
    grow = steps_to_grow(t["rate_theory"], GROWTH)
    return [
        f"lr = {lr:g} is unstable for {params['optimizer']} on this landscape (lr must be < {edge}; rate "
        f"{t['rate_theory']:.4g} > 1): theory says the distance grows x{t['rate_theory']:.3g} a step and the loss "
        f"passes {GROWTH:.0e} x its start by step ~{math.ceil(grow) if math.isfinite(grow) else '?'}."
    ]


def function_of(params: dict[str, Any], ctx: Any) -> Any:
    """The function a run minimises, on the run's device and dtype: your own f, or
    generate_function(dim, complexity, seed)."""
    from lab4.maths.landscapes import generate_function, own_function

    if params.get("expr"):
        f = own_function(params["expr"], params["start"], params.get("minimum") or None)
    else:
        f = generate_function(params["dim"], params["complexity"], ctx.seed)
    return f.to(ctx.torch_device, ctx.torch_dtype)


def observe_generated(f: Any) -> Any:
    """What a step records on a generated function: f - f* (f* = 0) and ||w - c|| (batched or not)."""
    import torch

    return lambda w, value: {"loss": value, "distance": torch.linalg.vector_norm(w - f.center, dim=-1)}


def observe_own(f: Any) -> Any:
    """What a step records on your own f: f - f(minimum) and ||w - minimum|| when the minimum
    is given; else f itself (f* and the distance come from the best point, at the end)."""
    import torch

    if f.center is None:
        return lambda w, value: {"f": value}
    with torch.no_grad():
        best = f(f.center)
    return lambda w, value: {"loss": value - best, "distance": torch.linalg.vector_norm(w - f.center, dim=-1)}


def observe(f: Any, params: dict[str, Any]) -> Any:
    return observe_own(f) if params.get("expr") else observe_generated(f)


def run(params: dict[str, Any], ctx: Any, batch_row: dict[str, Any] | None = None) -> Iterator[Any]:
    """The run; with ``batch_row`` (this run's row of a batched computation,
    :func:`lab4.maths.batched.descend`) the steps are not computed again but handed over as
    they would have been, in the same blocks."""
    from lab4.maths.recording import StepRecorder

    if params.get("expr"):
        yield from _run_own(params, ctx, batch_row)
        return
    dim, steps, lr, tol = params["dim"], params["steps"], params["lr"], params["tol"]
    optimizer, level = params["optimizer"], params["complexity"]
    f = function_of(params, ctx)
    t = theory(params)
    for name in ("L", "mu", "kappa", "lr_optimal", "beta_optimal", "rate_theory", "stable"):
        yield Metric(name, t[name])
    local = " (local values at c: f is not convex)" if level >= 4 else ""
    yield Observation(
        f"Level {level}: {f.formula}; dim = {dim}, optimum f* = 0 at a seeded c. At c: L = {t['L']:.4g}, "
        f"mu = {t['mu']:.4g}, kappa = {t['kappa']:.4g}{local}."
    )
    for warning in preflight(params):
        yield Observation("Warning: " + warning)

    if t["stable"]:
        hint = (
            f"theory at c says rate {t['rate_theory']:.3g} < 1, but f is steeper away from c (the curved "
            f"valley): lr = {lr:g} is too large there; take a smaller lr"
        )
    else:
        hint = (
            f"lr = {lr:g} is too large for this landscape (theory: rate {t['rate_theory']:.3g} > 1; try lr = optimal)"
        )
    record = StepRecorder(
        ("loss", "distance"), steps, f.start.device, f.start.dtype, watch="loss", growth=GROWTH, hint=hint
    )
    path = _path_buffer(f, steps, keep=dim == 2)
    theory_phase = _phase(params, t)
    yield Artifact("phase", theory_phase)
    try:
        w = yield from _descend(f, params, ctx, record, path, observe_generated(f), batch_row)
    finally:
        yield from _theory_curves(record.host, t["rate_theory"])
        if not ctx.cancelled:  # a diverged run too: the map shows where
            yield from _with_measured(theory_phase, f, params, ctx, t["L"])

    loss_host, dist_host = record.host["loss"], record.host["distance"]
    final_loss = loss_host[-1]
    reached = next((i for i, value in enumerate(loss_host) if value <= tol), None)
    eps = _eps(ctx)
    measured = fit_rate(dist_host, eps * max(1.0, _max_abs(f.center)) * math.sqrt(dim))
    yield Metric("final_loss", final_loss)
    yield Metric("final_distance", dist_host[-1])
    yield Metric("initial_loss", loss_host[0])
    yield Metric("steps_to_tol", reached)
    yield Metric("converged", final_loss <= tol)
    yield Metric("rate_measured", measured)
    yield Table(
        "summary",
        ["quantity", "value"],
        [
            ["f(w_0) - f*", loss_host[0]],
            ["f(w_T) - f*", final_loss],
            ["||w_0 - c||", dist_host[0]],
            ["||w_T - c||", dist_host[-1]],
            [f"steps to f - f* <= {tol:g}", reached],
            ["L, mu, kappa at c", f"{t['L']:.4g}, {t['mu']:.4g}, {t['kappa']:.4g}"],
            ["rate: theory, measured", f"{t['rate_theory']:.6g}, " + (f"{measured:.6g}" if measured else "-")],
            [
                f"optimal lr, beta for {optimizer}",
                f"{t['lr_optimal']:.6g}, " + (f"{t['beta_optimal']:.6g}" if t["beta_optimal"] is not None else "-"),
            ],
        ],
    )
    yield from _observations(
        params,
        t,
        reached,
        loss_host,
        dist_host,
        measured,
        f,
        grad_at_start=_gradient_norm(f, f.start),
        grad_at_end=_gradient_norm(f, w),
    )
    if path is not None:
        yield Artifact("landscape", _landscape_grid(f, path[: len(loss_host)]))


def _max_abs(t: Any) -> float:
    """max |t| as a number (numpy on the CPU: torch's threaded reductions stall on a busy machine)."""
    if t.device.type == "cpu":
        import numpy as np

        return float(np.abs(t.detach().numpy()).max())
    return float(t.abs().max())


def _eps(ctx: Any) -> float:
    import torch

    return torch.finfo(ctx.torch_dtype).eps


def _path_buffer(f: Any, steps: int, keep: bool) -> Any:
    import torch

    return torch.empty((steps + 1, f.dim), dtype=f.start.dtype, device=f.start.device) if keep else None


def _descend(
    f: Any, params: dict[str, Any], ctx: Any, record: Any, path: Any, seen: Any, batch_row: dict[str, Any] | None = None
) -> Iterator[Any]:
    """The steps from f.start (the handout's updates, gradients by autograd), recorded by
    ``record`` (``seen(w, f(w))`` gives the values) and handed over every FLUSH steps, the
    path (when kept) as the trajectory for two variables; returns the last point.  With
    ``batch_row``, the values of a batched computation are handed over instead."""
    import torch

    from lab4.maths.optim import apply_step, lookahead

    steps, lr, beta, optimizer = params["steps"], params["lr"], params["beta"], params["optimizer"]
    trajectory = path is not None and path.shape[1] == 2

    def flush(upto: int) -> Iterator[Any]:
        start = record.done
        try:
            yield from record.flush(upto)
        finally:
            if trajectory and record.done > start:
                pts = path[start : record.done].tolist()
                yield Points("trajectory", [p[0] for p in pts], [p[1] for p in pts])

    if batch_row is not None:
        for name, values in batch_row["series"].items():
            record.buffers[name].copy_(values)
        if path is not None:
            path.copy_(batch_row["path"])
        for upto in [*range(FLUSH, steps + 1, FLUSH), steps + 1]:
            yield from flush(upto)
        return batch_row["w"]

    w = f.start.clone()
    v = torch.zeros_like(w)
    for step in range(steps + 1):
        if ctx.cancelled:
            yield from flush(step)  # a cancelled run keeps every step it computed
            ctx.check()
        point = lookahead(optimizer, [w], [v], beta)[0].detach().requires_grad_(True)
        value = f(point)
        with torch.no_grad():
            record.record(step, **seen(w, f(w) if optimizer == "nesterov" else value.detach()))
            if path is not None:
                path[step] = w
        if (step + 1) % FLUSH == 0 or step == steps:
            yield from flush(step + 1)
        if step == steps:
            break
        (grad,) = torch.autograd.grad(value, point)
        with torch.no_grad():
            apply_step(optimizer, [w], [v], [grad], lr, beta)
    return w


def _curvature_at(f: Any, w: Any) -> dict[str, Any]:
    """f, ||grad f|| and the autograd Hessian's eigenvalues at the point w (host numbers)."""
    import torch

    from lab4.maths.landscapes import hessian_at

    p = w.detach().clone().requires_grad_(True)
    value = f(p)
    (grad,) = torch.autograd.grad(value, p)
    hess = hessian_at(f, w)
    finite = bool(torch.isfinite(hess).all())
    eig = torch.linalg.eigvalsh(hess.double()).tolist() if finite else []
    newton = math.nan
    if eig and min(eig) > 0:  # the quadratic model's minimum is -H^-1 grad away
        newton = float(torch.linalg.vector_norm(torch.linalg.solve(hess.double(), grad.double())))
    return {
        "f": float(value.detach()),
        "grad": float(torch.linalg.vector_norm(grad)),
        "eig": eig,
        "newton": newton,
        "point": {n: float(x) for n, x in zip(f.names, w.tolist())},
    }


def _kind(eig: list[float], scale: float) -> str:
    """positive definite, indefinite (a saddle), semidefinite (flat along some direction), or
    not finite; eigenvalues within 1e-9 of the largest magnitude count as 0."""
    if not eig:
        return "not finite"
    zero = 1e-9 * max(abs(v) for v in eig) if scale == 0 else 1e-9 * scale
    if min(eig) > zero:
        return "positive definite"
    if min(eig) < -zero and max(eig) > zero:
        return "indefinite"
    if max(eig) < -zero:
        return "negative definite"
    return "semidefinite"


def _local_theory(optimizer: str, lr: float, beta: float, eig: list[float]) -> dict[str, Any]:
    """L, mu, kappa, the optimal (lr, beta) and the run's rate on the quadratic model with the
    Hessian spectrum ``eig`` (positive definite)."""
    big, small = max(eig), min(eig)
    lr_opt, beta_opt = optimal(optimizer, big, small)
    rho = rate(optimizer, lr, beta if optimizer != "gd" else 0.0, eig)
    return {
        "L": big,
        "mu": small,
        "kappa": big / small,
        "lr_optimal": lr_opt,
        "beta_optimal": beta_opt if optimizer != "gd" else None,
        "rate_theory": rho,
        "stable": rho < 1,
    }


def _point_text(point: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in point.items())


def _curvature_sentence(where: str, c: dict[str, Any], optimizer: str) -> str:
    eig = c["eig"]
    head = f"At {where} ({_point_text(c['point'])}): f = {c['f']:.4g}, ||grad f|| = {c['grad']:.3g}"
    if not eig:
        return head + "; the Hessian is not finite there."
    kind = _kind(eig, 0)
    values = ", ".join(f"{v:.4g}" for v in eig)
    if kind == "positive definite":
        t = _local_theory(optimizer, 1.0, 0.0, eig)
        beta = f", beta {t['beta_optimal']:.4g}" if t["beta_optimal"] is not None else ""
        return (
            head + f"; the autograd Hessian is positive definite (eigenvalues {values}): L = {t['L']:.4g}, "
            f"mu = {t['mu']:.4g}, kappa = {t['kappa']:.4g}; for this curvature {optimizer}'s optimal lr is "
            f"{t['lr_optimal']:.4g}{beta}, and gd is stable for lr < 2/L = {2 / t['L']:.4g}."
        )
    if kind == "indefinite":
        return (
            head + f"; the Hessian is indefinite (eigenvalues {values}): a saddle's curvature. Along the "
            f"negative eigenvalue's direction f falls without bound on the quadratic model: no (lr, beta) "
            f"converges there, and the quadratic theory gives no optimal step."
        )
    return (
        head + f"; the Hessian is {kind} (eigenvalues {values}): no minimum's curvature, so the quadratic "
        f"theory gives no optimal step."
    )


def _run_own(params: dict[str, Any], ctx: Any, batch_row: dict[str, Any] | None = None) -> Iterator[Any]:
    """Your own f: the same optimizers and plots, the theory from the autograd Hessian at the
    start and at the point reached."""
    import torch

    from lab4.maths.recording import StepRecorder

    steps, lr, tol, optimizer = params["steps"], params["lr"], params["tol"], params["optimizer"]
    beta = params["beta"]
    f = function_of(params, ctx)
    given = f.center is not None
    yield Observation(
        f"Your own function: {f.formula}, from {_point_text(params['start'])}; "
        + (
            f"its given minimum {_point_text(params['minimum'])} is f*."
            if given
            else "no minimum given: f* and the distance are to the best point the run finds."
        )
    )
    first = _curvature_at(f, f.start)
    yield Observation(_curvature_sentence("the start", first, optimizer))
    for name, value in (
        ("L_start", max(first["eig"], default=None)),
        ("mu_start", min(first["eig"], default=None)),
        ("grad_norm_start", first["grad"]),
    ):
        yield Metric(name, value)
    kind = _kind(first["eig"], 0)
    if not math.isfinite(first["f"]):
        hint = f"f is {first['f']} at the start: choose a start inside f's domain"
    elif kind == "indefinite":
        hint = "f has no minimum along the Hessian's negative direction (a saddle): it falls without bound"
    elif kind == "positive definite" and lr >= 2 / max(first["eig"]):
        hint = f"lr = {lr:g} >= 2/L = {2 / max(first['eig']):.3g} at the start: too large for this curvature"
    else:
        hint = f"lr = {lr:g} is too large where the run went (f is steeper there than at the start); take a smaller lr"
    names = ("loss", "distance") if given else ("f",)
    record = StepRecorder(names, steps, f.start.device, f.start.dtype, watch=names[0], growth=GROWTH, hint=hint)
    path = _path_buffer(f, steps, keep=True)
    last = None
    try:
        w = yield from _descend(f, params, ctx, record, path, observe_own(f), batch_row)
        last = _curvature_at(f, w)
    finally:
        if not ctx.cancelled:
            yield from _own_phase(f, params, ctx, first, last)

    n = len(record.host[names[0]])
    if given:
        loss, distance = record.host["loss"], record.host["distance"]
        best_point = f.center
    else:
        values = record.host["f"]
        best = min(range(n), key=lambda i: values[i])
        loss = [v - values[best] for v in values]
        best_point = path[best]
        distance = torch.linalg.vector_norm(path[:n] - best_point, dim=-1).tolist()
        yield Points("loss", list(range(n)), loss)
        yield Points("distance", list(range(n)), distance)
    reached = next((i for i, value in enumerate(loss) if value <= tol), None)
    still_falling = not given and loss[-1] == 0.0 and last["grad"] > STATIONARY * first["grad"]
    if still_falling:  # the best point is the last one, f still going down: no f* to count steps to
        reached = None
    measured = fit_rate(distance, _eps(ctx) * max(1.0, _max_abs(w)) * math.sqrt(f.dim))
    stationary = last["grad"] <= STATIONARY * first["grad"]
    end_kind = _kind(last["eig"], 0)
    local = _local_theory(optimizer, lr, beta, last["eig"]) if end_kind == "positive definite" else None
    for name in ("L", "mu", "kappa", "lr_optimal", "beta_optimal", "rate_theory", "stable"):
        yield Metric(name, local[name] if local else None)
    yield Metric("grad_norm_end", last["grad"])
    yield Metric("start_positive_definite", kind == "positive definite")
    yield Metric("end_positive_definite", end_kind == "positive definite")
    yield Metric("stationary", stationary)
    yield Metric("final_loss", loss[-1])
    yield Metric("final_distance", distance[-1])
    yield Metric("initial_loss", loss[0])
    yield Metric("steps_to_tol", reached)
    yield Metric("converged", loss[-1] <= tol)
    yield Metric("rate_measured", measured)
    yield Metric("final_point", last["point"])
    star = "f(minimum)" if given else "f(best found)"
    to = "minimum" if given else "best"
    yield Table(
        "summary",
        ["quantity", "value"],
        [
            [f"f(w_0) - {star}", loss[0]],
            [f"f(w_T) - {star}", loss[-1]],
            [f"||w_0 - {to}||", distance[0]],
            [f"||w_T - {to}||", distance[-1]],
            [f"steps to f - f* <= {tol:g}", reached],
            ["||grad f||: start, end", f"{first['grad']:.4g}, {last['grad']:.4g}"],
            ["Hessian at the start", _kind(first["eig"], 0) + " " + ", ".join(f"{v:.4g}" for v in first["eig"])],
            ["Hessian at the end", end_kind + " " + ", ".join(f"{v:.4g}" for v in last["eig"])],
            [
                "rate: theory at the end, measured",
                (f"{local['rate_theory']:.6g}" if local else "-") + ", " + (f"{measured:.6g}" if measured else "-"),
            ],
        ],
    )
    if reached is not None:
        yield Observation(
            f"{optimizer} reached f - f* <= {tol:g} at step {reached} (lr = {lr:g}"
            + (f", beta = {beta:g}" if optimizer != "gd" else "")
            + f"; f* = {star})."
        )
    elif still_falling:
        yield Observation(
            f"f was still falling at the last step (f = {record.host['f'][-1]:.4g}): the best point "
            f"found is the last one, so there is no f* to count steps to."
        )
    else:
        yield Observation(
            f"{optimizer} did not reach f - f* <= {tol:g} in {steps} steps: f - f* = {loss[-1]:.3g} "
            f"(f* = {star}), distance to the {to} point {distance[-1]:.3g}."
        )
    ratio = last["grad"] / first["grad"] if first["grad"] > 0 else math.inf
    if not stationary:
        yield Observation(
            f"The run did not reach a minimum: ||grad f|| = {last['grad']:.3g} at the end, "
            f"{ratio:.3g} x the start's (a stationary point needs < {STATIONARY:g} x)."
        )
    elif end_kind == "positive definite":
        beta_text = f", beta {local['beta_optimal']:.4g}" if local["beta_optimal"] is not None else ""
        yield Observation(
            f"The run reached a minimum's neighbourhood at {_point_text(last['point'])}: ||grad f|| = "
            f"{last['grad']:.3g} ({ratio:.2g} x the start's), the Hessian there is positive definite and the quadratic "
            f"model puts its minimum ||H^-1 grad f|| = {last['newton']:.3g} away. There L = {local['L']:.4g}, "
            f"mu = {local['mu']:.4g}, kappa = {local['kappa']:.4g}; for that curvature {optimizer}'s optimal lr "
            f"is {local['lr_optimal']:.4g}{beta_text}, and this run's (lr, beta) has rate {local['rate_theory']:.5g}"
            + (f" there (measured on the distance: {measured:.5g})." if measured else " there.")
        )
        if given and distance[-1] > max(10 * last["newton"], 1e-3 * (1 + _max_abs(f.center))):
            yield Observation(
                f"That minimum is not the given one ({distance[-1]:.3g} away, 10 x farther than the "
                f"Newton step): another minimiser, where f - f(minimum) = {loss[-1]:.3g}."
            )
    elif end_kind == "indefinite":
        yield Observation(
            f"The run stopped at a saddle point, not a minimum: ||grad f|| = {last['grad']:.3g} but the "
            f"Hessian there is indefinite (eigenvalues " + ", ".join(f"{v:.4g}" for v in last["eig"]) + ")."
        )
    else:
        yield Observation(
            f"The run stopped where ||grad f|| = {last['grad']:.3g}, and the Hessian there is {end_kind}: "
            f"not a strict minimum the quadratic theory describes."
        )
    if f.dim == 2:
        yield Artifact("landscape", _landscape_grid(f, path[:n], center=best_point))


def stopped_metrics(result: Any) -> dict[str, Any]:
    """A run stopped before its end: the metrics of its last recorded step, from its series."""
    loss, distance = (result.series.get(n) or {} for n in ("loss", "distance"))
    ys, ds = list(loss.get("y", ())), list(distance.get("y", ()))
    if not ys or not ds:
        return {}
    tol = result.params["tol"]
    reached = next((int(x) for x, v in zip(loss["x"], ys) if v <= tol), None)
    eps = 2.0**-52 if result.dtype == "float64" else 2.0**-23
    return {
        "stopped_at_step": int(loss["x"][len(ys) - 1]),
        "final_loss": ys[-1],
        "final_distance": ds[-1],
        "initial_loss": ys[0],
        "steps_to_tol": reached,
        "converged": reached is not None,
        "rate_measured": fit_rate(ds, eps * max(1.0, ds[0]) * math.sqrt(result.params["dim"])),
    }


def _gradient_norm(f: Any, w: Any) -> float:
    import torch

    p = w.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(p), p)
    return float(torch.linalg.vector_norm(grad))


def _observations(
    params: dict[str, Any],
    t: dict[str, Any],
    reached: int | None,
    loss: list[float],
    distance: list[float],
    measured: float | None,
    f: Any,
    grad_at_start: float,
    grad_at_end: float,
) -> Iterator[Any]:
    """Every sentence from this run's numbers."""
    optimizer, lr, tol, steps = params["optimizer"], params["lr"], params["tol"], params["steps"]
    rho = t["rate_theory"]
    lowest = min(range(len(loss)), key=loss.__getitem__)
    values = {
        "optimizer": optimizer,
        "tol": tol,
        "lr": lr,
        "beta": params["beta"],
        "reached": reached,
        "loss_reached": loss[reached] if reached is not None else None,
        "lowest": loss[lowest],
        "lowest_step": lowest,
        "loss": loss[-1],
        "distance": distance[-1],
        "steps": plural(steps, "step"),
    }
    with_beta = ", beta = {beta:g}" if optimizer != "gd" else ""
    yield finding(
        "tolerance",
        values,
        [("lowest", "<=", "tol")],
        "{optimizer} reached f - f* <= {tol:g} at step {reached} (lr = {lr:g}" + with_beta + ").",
        "{optimizer} did not reach f - f* <= {tol:g} in {steps}: f - f* = {loss:.3g}, distance to the "
        "optimum {distance:.3g}.",
    )
    if t["stable"] and measured is not None:
        yield Observation(
            f"Rate per step: theory {rho:.5g} on the quadratic model at c, measured {measured:.5g} on the "
            f"distance (fitted on its straight stretch in log scale)."
        )
    if t["stable"] and t["lr_optimal"] and abs(lr - t["lr_optimal"]) > 1e-12 * t["lr_optimal"]:
        best = _snap(
            rate(optimizer, t["lr_optimal"], t["beta_optimal"] or 0.0, spectrum(params["dim"], params["complexity"]))
        )
        at = (
            f"At its optimal parameters (lr = {t['lr_optimal']:.4g}"
            + (f", beta = {t['beta_optimal']:.4g}" if t["beta_optimal"] is not None else "")
            + f") {optimizer}"
        )
        if loss[0] <= tol:
            pass  # the start is within tol: no count to predict
        elif best == 0.0:  # kappa = 1: the optimal step lands on c (the model is the function at level 1)
            yield Observation(
                f"{at} would, on the quadratic model at c, land on the optimum in one step (rate 0: kappa = 1)."
            )
        elif best < 1:
            predicted = math.ceil(math.log(tol / loss[0]) / (2 * math.log(best)))
            yield Observation(
                f"{at} would converge at rate {best:.4g}: about {plural(predicted, 'step')} to tol by theory."
            )
    if reached is None and params["complexity"] >= RIPPLED_LEVEL - 1:  # the valleys, where a stop looks like one
        yield _local_minimum(params["complexity"], tol, loss[-1], distance[-1], grad_at_start, grad_at_end)


def _local_minimum(level: int, tol: float, loss: float, distance: float, grad_start: float, grad_end: float) -> Finding:
    """Whether a run that stopped short of tol settled in a local minimum.  The evidence: the
    level has local minima (the ripples: level RIPPLED_LEVEL), the gradient has fallen below
    SETTLED of the start's, and f - f* is still above FAR_ABOVE x tol.  Without all three the
    run says what it measured and no more."""
    values = {
        "level": level,
        "rippled_level": RIPPLED_LEVEL,
        "gradient": grad_end,
        "gradient_start": grad_start,
        "gradient_ratio": grad_end / grad_start if grad_start > 0 else math.inf,
        "settled": SETTLED,
        "loss": loss,
        "loss_far": FAR_ABOVE * tol,
        "far_above": FAR_ABOVE,
        "tol": tol,
        "distance": distance,
    }
    return finding(
        "local_minimum",
        values,
        [("level", ">=", "rippled_level"), ("gradient_ratio", "<=", "settled"), ("loss", ">=", "loss_far")],
        "The run settled where the gradient is {gradient:.2g} ({gradient_ratio:.2g} of the start's, below "
        "{settled:g}) but f - f* = {loss:.3g} (above {far_above:g} x tol), {distance:.3g} from c: a local minimum made "
        "by the ripples of level {level}.",
        "The run stopped with f - f* = {loss:.3g} and the gradient at {gradient:.2g}, {gradient_ratio:.2g} of the "
        "start's: no evidence of a local minimum (that needs a level with ripples, {rippled_level} only, a gradient "
        "below {settled:g} of the start's and f - f* above {far_above:g} x tol); more steps may reach tol.",
    )


def _theory_curves(host: dict[str, list[float]], rho: float) -> Iterator[Points]:
    """rho^t d_0 over the distance, rho^2t f_0 over the loss: the quadratic model's prediction."""
    loss, distance = host["loss"], host["distance"]
    if not loss or not distance or not (0 < rho < 10):
        return
    n = len(loss)
    stride = max(1, n // THEORY_POINTS)
    ts = list(range(0, n, stride))
    for name, measured, power in (("theory distance", distance, 1), ("theory loss", loss, 2)):
        first = measured[0]
        # drawn down to a tenth of the lowest measured value: below, only rounding is left to compare
        floor = min((v for v in measured if v > 0), default=1e-300) / 10
        values = [(s, first * math.exp(power * s * math.log(rho))) for s in ts if rho > 0]
        values = [(s, y) for s, y in values if floor < y < 1e300]
        if values:
            yield Points(name, [s for s, _ in values], [y for _, y in values])


def _phase(params: dict[str, Any], t: dict[str, Any]) -> dict[str, Any]:
    """The rate over (lr, beta) for this landscape's spectrum (heavy ball for gd and
    momentum runs: its beta = 0 row is gd), with the optimum and the run marked."""
    optimizer = "nesterov" if params["optimizer"] == "nesterov" else "momentum"
    eig = spectrum(params["dim"], params["complexity"], points=64)
    n_lr, n_beta = PHASE_GRID
    lrs = [PHASE_LR / t["L"] * (i + 1) / n_lr for i in range(n_lr)]
    betas = [PHASE_BETA * j / (n_beta - 1) for j in range(n_beta)]
    lr_opt, beta_opt = optimal(optimizer, t["L"], t["mu"])
    beta = params["beta"] if params["optimizer"] != "gd" else 0.0
    return {
        "optimizer": optimizer,
        "lr": lrs,
        "beta": betas,
        "rows": "beta",
        "rate": _drawn(phase(optimizer, eig, lrs, betas)),
        "optimal": {"lr": lr_opt, "beta": beta_opt, "rate": rate(optimizer, lr_opt, beta_opt, eig)},
        "run": {"lr": params["lr"], "beta": beta, "rate": t["rate_theory"]},
    }


def _own_phase(
    f: Any, params: dict[str, Any], ctx: Any, first: dict[str, Any], last: dict[str, Any] | None
) -> Iterator[Artifact]:
    """Your own f's phase view: the theory's rate over (lr, beta) for the autograd Hessian at the
    point reached (or at the start) when it is positive definite, and the measured map."""
    optimizer = "nesterov" if params["optimizer"] == "nesterov" else "momentum"
    beta = params["beta"] if params["optimizer"] != "gd" else 0.0
    ref, at = None, ""
    for c, where in ((last, "the point reached"), (first, "the start")):
        if c is not None and _kind(c["eig"], 0) == "positive definite":
            ref, at = c, where
            break
    if ref is not None:
        eig = ref["eig"]
        big, small = max(eig), min(eig)
        n_lr, n_beta = PHASE_GRID
        lrs = [PHASE_LR / big * (i + 1) / n_lr for i in range(n_lr)]
        betas = [PHASE_BETA * j / (n_beta - 1) for j in range(n_beta)]
        lr_opt, beta_opt = optimal(optimizer, big, small)
        data = {
            "optimizer": optimizer,
            "lr": lrs,
            "beta": betas,
            "rows": "beta",
            "rate": _drawn(phase(optimizer, eig, lrs, betas)),
            "optimal": {"lr": lr_opt, "beta": beta_opt, "rate": rate(optimizer, lr_opt, beta_opt, eig)},
            "run": {"lr": params["lr"], "beta": beta, "rate": rate(optimizer, params["lr"], beta, eig)},
            "theory_at": at,
        }
        big_scale = big
    else:
        big_scale = max((abs(v) for v in first["eig"]), default=0.0)
        data = {"optimizer": optimizer, "run": {"lr": params["lr"], "beta": beta, "rate": None}, "theory_at": None}
    if big_scale > 0 and math.isfinite(big_scale):
        yield from _with_measured(data, f, params, ctx, big_scale)


def _with_measured(data: dict[str, Any], f: Any, params: dict[str, Any], ctx: Any, big: float) -> Iterator[Any]:
    """The phase artifact again, with the measured map beside the theory's (and a sentence)."""
    measured = measured_phase(f, params, ctx, big)
    if measured is None:
        return
    yield Artifact("phase", {**data, "measured": measured})
    if "skipped" in measured:
        yield Observation(f"Phase map: not measured ({measured['skipped']}).")
        return
    best, theory_best = measured["optimal"], data.get("optimal")
    cells = len(measured["lr"]) * len(measured["beta"])
    diverged = sum(v is not None for row in measured["diverged"] for v in row)
    text = (
        f"Phase map measured: {cells} runs of {measured['steps']} steps of {data['optimizer']} over (lr, beta), "
        f"batched into one computation; {diverged} diverged."
    )
    if best is not None:
        text += f" Lowest measured rate {best['rate']:.4g} at lr = {best['lr']:.4g}, beta = {best['beta']:.4g}"
        if theory_best:
            text += (
                f"; the theory's optimum: rate {theory_best['rate']:.4g} at lr = {theory_best['lr']:.4g}, "
                f"beta = {theory_best['beta']:.4g}"
            )
        fastest = measured["fastest"]
        if fastest["steps_to_tol"] is not None:
            text += (
                f". Fewest steps to f - f* <= {measured['tol']:g}: {fastest['steps_to_tol']}, at lr = "
                f"{fastest['lr']:.4g}, beta = {fastest['beta']:.4g}"
            )
        text += "."
    yield Observation(text)


_MAP_CACHE: dict[Any, dict[str, Any]] = {}


def measured_phase(f: Any, params: dict[str, Any], ctx: Any, big: float) -> dict[str, Any] | None:
    """The rate, steps to tol and divergence MEASURED over a MAP_GRID x MAP_GRID grid of (lr, beta)
    (the theory's ranges: lr up to PHASE_LR / L) on the run's own function, all cells batched into
    one computation (:func:`lab4.maths.batched.descend`).  Per cell: the step where it diverged
    (as a run's recorder sees it), the first step with f - f* <= tol, and the rate per step fitted
    on sqrt(f - f*) as a run fits its distance (where the fit has no stretch: the average rate to
    where it stopped falling).  Its optimum: the lowest measured rate (as the theory's is the
    lowest rate); the fastest cell: the fewest steps to tol.
    Values in float32 precision (6 digits) to keep the artifact small; the runs sharing a
    function, optimizer and steps (a sweep over lr and beta) compute it once."""
    import time

    import numpy as np

    from lab4.maths.batched import descend, divergence_step, fit_rates

    if f.dim > MAP_MAX_DIM:
        return {"skipped": f"{f.dim} variables: the map is measured up to {MAP_MAX_DIM}"}
    optimizer = "nesterov" if params["optimizer"] == "nesterov" else "momentum"
    steps, tol = min(params["steps"], MAP_STEPS), params["tol"]
    key = (
        params.get("expr"),
        repr(params.get("start")),
        repr(params.get("minimum")),
        params["dim"],
        params["complexity"],
        ctx.seed,
        optimizer,
        steps,
        tol,
        str(ctx.torch_dtype),
        str(ctx.torch_device),
        big,
    )
    if key in _MAP_CACHE:
        return _MAP_CACHE[key]
    n = MAP_GRID
    lrs = [PHASE_LR / big * (i + 1) / n for i in range(n)]
    betas = [PHASE_BETA * j / (n - 1) for j in range(n)]
    t0 = time.perf_counter()
    seen = observe(f, params)
    out = descend(
        f,
        f.start,
        optimizer,
        [lr for _ in betas for lr in lrs],
        [b for b in betas for _ in lrs],
        steps,
        seen,
        cancelled=lambda: ctx.cancelled,
    )
    if ctx.cancelled:
        return None
    series = {name: values.detach().cpu().double().numpy() for name, values in out["series"].items()}
    watched = series["loss"] if "loss" in series else series["f"]
    stop = divergence_step(watched, GROWTH)
    valid = np.arange(steps + 1)[None, :] < stop[:, None]
    if "loss" in series:
        loss = series["loss"]
    else:  # f* is the lowest value any cell found
        loss = watched - np.where(valid, watched, np.inf).min()
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        reached = (loss <= tol) & valid
        first_reached = np.where(reached.any(1), reached.argmax(1), -1)
        r = np.sqrt(np.clip(loss, 0, None))
        floor = _eps(ctx) * max(1.0, _max_abs(f.start)) * math.sqrt(f.dim)
        fitted = fit_rates(r, stop, floor)
        low_enough = (r <= 100 * floor) & valid
        k = np.maximum(np.where(low_enough.any(1), low_enough.argmax(1), np.minimum(stop - 1, steps)), 1)
        average = np.clip(r[np.arange(len(k)), k] / r[:, 0], 0, None) ** (1.0 / k)
        rates = np.where(np.isfinite(fitted), fitted, average)
    rates = np.where(stop <= steps, np.nan, rates)
    seconds = time.perf_counter() - t0

    def grid(values: list[Any]) -> list[list[Any]]:
        return [values[j * n : (j + 1) * n] for j in range(n)]

    rate_list = [float(f"{v:.6g}") if math.isfinite(v) else None for v in rates.tolist()]
    steps_list = [v if v >= 0 else None for v in first_reached.tolist()]
    div_list = [v if v <= steps else None for v in stop.tolist()]
    candidates = [i for i in range(n * n) if div_list[i] is None and rate_list[i] is not None]
    best = fastest = None
    if candidates:  # the lowest rate (the theory's optimum is the lowest rate), and the fewest steps to tol

        def cell(i: int) -> dict[str, Any]:
            return {"lr": lrs[i % n], "beta": betas[i // n], "steps_to_tol": steps_list[i], "rate": rate_list[i]}

        never = math.inf
        best = cell(
            min(candidates, key=lambda i: (rate_list[i], steps_list[i] if steps_list[i] is not None else never))
        )
        fastest = cell(
            min(candidates, key=lambda i: (steps_list[i] if steps_list[i] is not None else never, rate_list[i]))
        )
    measured = {
        "lr": lrs,
        "beta": betas,
        "rows": "beta",
        "rate": grid(rate_list),
        "steps_to_tol": grid(steps_list),
        "diverged": grid(div_list),
        "steps": steps,
        "tol": tol,
        "optimal": best,
        "fastest": fastest,
        "seconds": seconds,
        "runs": n * n,
    }
    if len(_MAP_CACHE) >= 4:
        _MAP_CACHE.pop(next(iter(_MAP_CACHE)))
    _MAP_CACHE[key] = measured
    return measured


def _drawn(values: Any, digits: int = 6) -> Any:
    """A grid that is only drawn (level sets, a phase map's colours), its numbers cut to ``digits``
    significant digits as the measured map's are: a minimize run's stored artifacts went from
    31 KB to 14 KB (zlib), and no plot cell tells 7 digits from 17.  Optima and the run's own
    point keep every digit."""
    if isinstance(values, list):
        return [_drawn(v, digits) for v in values]
    if isinstance(values, float) and math.isfinite(values):
        return float(f"{values:.{digits}g}")
    return values


def _landscape_grid(f: Any, path: Any, size: int = 48, center: Any = None) -> dict[str, Any]:
    """f on a size x size grid around the trajectory and the optimum (for dim 2 plots)."""
    import numpy as np
    import torch

    center = f.center if center is None else center
    with torch.no_grad():
        # the finite points' bounds a piece at a time (numpy: torch's threaded reductions stall on
        # a busy machine): a copy of a 10,000,000-step path, its mask and its finite rows took
        # ~19 bytes a step at the end of the run, the run's memory peak
        lows, highs = [], []
        for i in range(0, max(path.shape[0], 1), 1 << 16):  # center and start in every piece
            piece = torch.cat([path[i : i + (1 << 16)], center[None], f.start[None]]).detach().cpu().numpy()
            piece = piece[np.isfinite(piece).all(1)]
            if len(piece):
                lows.append(piece.min(0))
                highs.append(piece.max(0))
        lo, hi = torch.from_numpy(np.min(lows, 0)), torch.from_numpy(np.max(highs, 0))
        pad = (hi - lo).clamp(min=1e-3) * 0.15
        lo, hi = lo - pad, hi + pad
        xs = torch.linspace(float(lo[0]), float(hi[0]), size, dtype=path.dtype, device=path.device)
        ys = torch.linspace(float(lo[1]), float(hi[1]), size, dtype=path.dtype, device=path.device)
        gx, gy = torch.meshgrid(xs, ys, indexing="xy")
        z = f(torch.stack([gx, gy], -1))
    return {
        "x": xs.tolist(),
        "y": ys.tolist(),
        "z": _drawn(z.tolist()),
        "center": center.tolist(),
        "start": f.start.tolist(),
    }


#: what the runs of one batched computation must share (their shapes, the update, the steps)
BATCH_SHARED = ("expr", "dim", "complexity", "optimizer", "steps")


def batch_problem(runs: list[tuple[dict[str, Any], Any]]) -> str | None:
    """Why these runs cannot be one computation: they must share the function's shape and the
    update (lr, beta, tol, the seed, start and minimum may differ)."""
    if not runs:
        return None
    first, ctx = runs[0]
    varied = [name for name in BATCH_SHARED if any(p.get(name) != first.get(name) for p, _ in runs)]
    if first.get("expr"):
        if any(list(p["start"]) != list(first["start"]) for p, _ in runs):
            varied.append("start (its variables)")
        if any(bool(p.get("minimum")) != bool(first.get("minimum")) for p, _ in runs):
            varied.append("minimum (given or not)")
    varied += [name for name in ("dtype", "device") if any(getattr(c, name) != getattr(ctx, name) for _, c in runs)]
    if not varied:
        return None
    return (
        f"--batched computes the runs as one, so they must share {', '.join(BATCH_SHARED)}, dtype and device "
        f"(lr, beta, tol, seed, start and minimum may vary); this sweep varies {', '.join(varied)}: "
        "drop --batched or sweep those apart"
    )


def batch_sources(runs: list[tuple[dict[str, Any], Any]]) -> list[Any]:
    """The runs computed as one (:func:`lab4.maths.batched.descend`), and per run the
    replacement for :func:`run` that hands over its row."""
    import torch

    from lab4.maths.batched import descend
    from lab4.maths.landscapes import Landscape, OwnFunction

    resolved = [resolve(p)[0] for p, _ in runs]
    first, ctx = resolved[0], runs[0][1]
    functions = [function_of(p, c) for p, (_, c) in zip(resolved, runs)]
    f = functions[0]
    stack = lambda ts: None if ts[0] is None else torch.stack(ts)  # noqa: E731
    if isinstance(f, OwnFunction):
        f = OwnFunction(
            f.text, f.names, torch.stack([g.start for g in functions]), stack([g.center for g in functions]), f.function
        )
        seen = observe_own(f)
    else:
        if len({g.seed for g in functions}) > 1:  # another seed: another c, start (and weights): per row
            f = Landscape(
                f.dim,
                f.complexity,
                f.seed,
                stack([g.center for g in functions]),
                stack([g.start for g in functions]),
                stack([g.weights for g in functions]),
            )
        seen = observe_generated(f)
    out = descend(
        f,
        f.start,
        first["optimizer"],
        [p["lr"] for p in resolved],
        [p["beta"] for p in resolved],
        first["steps"],
        seen,
        keep_path=bool(first.get("expr")) or first["dim"] == 2,
        cancelled=lambda: ctx.cancelled,
    )
    sources = []
    for b in range(len(runs)):
        row = {
            "series": {k: v[b] for k, v in out["series"].items()},
            "path": out["path"][b] if out["path"] is not None else None,
            "w": out["w"][b],
        }
        sources.append(lambda params, run_ctx, row=row: run(params, run_ctx, batch_row=row))
    return sources


def steps_alone(params: dict[str, Any], ctx: Any) -> None:
    """The step loop of one run alone, as :func:`run` computes it, without building the result
    (what the bench times against the batched computation)."""
    from lab4.core.events import Diverged
    from lab4.maths.recording import StepRecorder

    f = function_of(params, ctx)
    seen = observe(f, params)
    names = ("f",) if params.get("expr") and f.center is None else ("loss", "distance")
    record = StepRecorder(names, params["steps"], f.start.device, f.start.dtype, watch=names[0], growth=GROWTH)
    path = _path_buffer(f, params["steps"], keep=bool(params.get("expr")) or f.dim == 2)
    try:
        for _ in _descend(f, params, ctx, record, path, seen):
            pass
    except Diverged:
        pass


def _own_preset(name: str, lr: float, beta: float, steps: int = 1000) -> dict[str, list[Any]]:
    expr, start, minimum = FUNCTIONS[name]
    return {
        "expr": [expr],
        "start": [start],
        "minimum": [minimum],
        "optimizer": list(OPTIMIZERS),
        "lr": [lr],
        "beta": [beta],
        "steps": [steps],
    }


TASK = Task(
    id="minimize",
    number="3",
    title="Minimise a generated function",
    summary="generate_function(dim, complexity, seed) by gradient descent, momentum, Nesterov, with the theory",
    spec=SPEC,
    run=run,
    stopped_metrics=stopped_metrics,
    resolve=resolve,
    preflight=preflight,
    batched=Batched(batch_problem, batch_sources),
    headline="final_loss",
    comparison=Comparison(
        "steps_to_tol",
        lambda p: f"f - f* <= {p['tol']:g}",
        also=("kappa", "rate_theory", "rate_measured", "final_loss"),
    ),
    presets={
        "gd vs momentum vs nesterov": {"optimizer": list(OPTIMIZERS)},
        "each at its optimal (lr, beta)": {"optimizer": list(OPTIMIZERS), "lr": ["optimal"], "beta": ["optimal"]},
        "levels 1-5": {"complexity": [1, 2, 3, 4, 5]},
        "dimension 2-1000 (complexity 3)": {"dim": [2, 10, 100, 1000], "complexity": [3]},
        **{
            label: _own_preset(name, **settings)
            for label, name, settings in (
                ("Rosenbrock: gd vs momentum vs nesterov", "rosenbrock", {"lr": 0.0005, "beta": 0.9, "steps": 5000}),
                ("Himmelblau: gd vs momentum vs nesterov", "himmelblau", {"lr": 0.01, "beta": 0.5}),
                ("Beale: gd vs momentum vs nesterov", "beale", {"lr": 0.01, "beta": 0.9}),
                ("Booth (a quadratic): gd vs momentum vs nesterov", "booth", {"lr": 0.05, "beta": 0.5, "steps": 500}),
            )
        },
        "a saddle x**2 - y**2: from on and off its axis": {
            "expr": [FUNCTIONS["saddle"][0]],
            "start": [{"x": 1.0, "y": 0.0}, FUNCTIONS["saddle"][1]],
            "optimizer": ["gd"],
            "lr": [0.1],
            "steps": [200],
        },
    },
    views=(
        PlotView(
            "loss",
            "Loss",
            ("loss", "theory loss"),
            ylabel="f - f*",
            ylog=True,
            names=(("theory loss", "theory f0 rho^2t"),),
        ),
        PlotView(
            "distance",
            "Distance",
            ("distance", "theory distance"),
            ylabel="||w - c||",
            ylog=True,
            names=(("theory distance", "theory d0 rho^t"),),
        ),
        PlotView(
            "trajectory",
            "Trajectory",
            ("trajectory",),
            xlabel="x1",
            ylabel="x2",
            kind="trajectory",
            needs="drawn for dim = 2 only",
        ),
        PlotView("phase", "Phase", (), xlabel="lr", ylabel="beta", kind="phase"),
    ),
    help=(
        "f has its global minimum f* = 0 at a seeded point c; d = x - c.\n"
        + "".join(
            f"level {k}  {text}\n" + "".join(f"   {line}\n" for line in LEVEL_FORMULAS[k].splitlines())
            for k, text in LEVELS.items()
        )
        + "gd:       w = w - lr grad f(w)\n"
        "momentum: v = beta v - lr grad f(w);          w = w + v\n"
        "nesterov: v = beta v - lr grad f(w + beta v); w = w + v\n"
        "Optimal: gd lr = 2/(L+mu), rate (kappa-1)/(kappa+1); heavy ball\n"
        "lr = (2/(sqrt L + sqrt mu))^2, beta = ((sqrt k - 1)/(sqrt k + 1))^2,\n"
        "rate (sqrt k - 1)/(sqrt k + 1); Nesterov lr = 4/(3L+mu),\n"
        "beta = (sqrt(3k+1) - 2)/(sqrt(3k+1) + 2), rate 1 - 2/sqrt(3k+1).\n"
        "Stable: gd lr < 2/L; heavy ball lr < 2(1+beta)/L. lr = optimal and\n"
        "beta = optimal take the optimal values; loss > 1e6 x start: diverged.\n"
        "Your own f: --expr '(1-x)**2 + 100*(y-x**2)**2' --start 'x=-1.5, y=2',\n"
        "optionally --minimum 'x=1, y=1': the theory from the autograd Hessian at the\n"
        "start and at the point reached (indefinite: a saddle); presets:\n"
        "Rosenbrock, Himmelblau, Beale, Booth, a saddle."
    ),
)
