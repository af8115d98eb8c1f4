"""Handout task 2: f(x) = sin(x) e^x, its derivative four ways, and their errors.

On a grid x_1..x_N the derivative is computed

* analytically, f'(x) = e^x (cos x + sin x), in float64 (the reference);
* by autograd: ``f(x).backward(ones)`` gives df/dx_i at every point at once, since f acts
  elementwise;
* by central, forward and backward differences with step h, dividing by the step that is
  actually represented, ``(x + h) - (x - h)``.

RMSE = sqrt(mean_i (estimate_i - f'(x_i))^2) over the points whose step did not vanish.
The h-sweep repeats the finite differences for h = 1e-1 ... 1e-12 in float32 and float64:
the error falls as h^2 (central) or h (one-sided) until round-off, ~eps |f| / h, takes over
— the "V" on log-log axes, with its bottom near h = cbrt(eps) (central) or sqrt(eps).
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from lab4.context import DTYPES
from lab4.events import Metric, Observation, Points, Progress, Table
from lab4.spec import ExprParam, FloatParam, IntParam, Spec
from lab4.tasks import Task
from lab4.views import PlotView

SCHEMES = ("central", "forward", "backward")
H_SWEEP = tuple(10.0 ** (-k / 2) for k in range(2, 25))  # 1e-1 ... 1e-12, half decades
COST_SIZES = (10, 30, 100, 300, 1000, 3000)  # inputs n of the gradient-cost curve
SERIES_POINTS = 4000  # points of a long grid kept in the series (the metrics use every point)


def _start_below_stop(values: dict[str, Any]) -> tuple[str, str] | None:
    if not values["start"] < values["stop"]:
        return "stop", f"stop must be > start ({values['start']:g}), got {values['stop']:g}"
    return None


SPEC = Spec(
    (
        ExprParam("expr", "sin(x)*exp(x)", help="f(x), elementwise", variables=("x",), label="f(x) ="),
        ExprParam(
            "derivative", "exp(x)*(cos(x)+sin(x))", help="the analytic f'(x) (the reference)",
            variables=("x",), label="f'(x) =",
        ),
        FloatParam("start", -5.0, help="left end of the grid", ge=-1e6, le=1e6),
        FloatParam("stop", 5.0, help="right end of the grid", ge=-1e6, le=1e6),
        IntParam("points", 1000, help="number of grid points", ge=2, le=2_000_000),
        FloatParam("h", 1e-3, help="finite-difference step", gt=0, le=1.0),
    ),
    checks=(_start_below_stop,),
)


def _elementwise(fn: Any, x: Any) -> Any:
    import torch

    value = fn(x=x)
    return torch.as_tensor(value, dtype=x.dtype, device=x.device).expand_as(x)


def _rmse(estimate: Any, reference: Any, usable: Any) -> float:
    import torch

    if not bool(usable.any()):
        return math.nan
    diff = estimate.double()[usable] - reference[usable]
    return float(torch.sqrt(torch.mean(diff * diff)))


def _schemes() -> dict[str, Any]:
    from lab4.numdiff import backward_difference, central_difference, forward_difference

    return {"central": central_difference, "forward": forward_difference, "backward": backward_difference}


def _decimated(x: list[float], y: list[float], limit: int = SERIES_POINTS) -> tuple[list[float], list[float]]:
    """Keep at most ``limit`` points of a long grid for the series (the metrics use all)."""
    if len(x) <= limit:
        return x, y
    stride = math.ceil(len(x) / limit)
    return x[::stride], y[::stride]


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    import torch

    from lab4.expr import parse_expression

    f = parse_expression(params["expr"]).compile()
    df = parse_expression(params["derivative"]).compile()
    device, dtype, h = ctx.torch_device, ctx.torch_dtype, params["h"]
    total = 1 + len(DTYPES) * len(H_SWEEP)
    yield Progress(0, total)

    x = torch.linspace(params["start"], params["stop"], params["points"], dtype=dtype, device=device)
    reference = _elementwise(df, x.double())
    ref_ok = torch.isfinite(reference)
    fx = _elementwise(f, x)

    xg = x.clone().requires_grad_(True)
    y = _elementwise(f, xg)
    if y.requires_grad:
        (grad,) = torch.autograd.grad(y, xg, torch.ones_like(y))
    else:
        grad = torch.zeros_like(x)
    estimates = {"autograd": grad.detach()}
    usable = {"autograd": ref_ok}
    vanished_at = {}
    for name, scheme in _schemes().items():
        estimate, vanished = scheme(lambda t: _elementwise(f, t), x, h)
        estimates[name] = estimate
        usable[name] = ref_ok & ~vanished
        vanished_at[name] = int(vanished.sum())
    rmse = {name: _rmse(estimates[name], reference, usable[name]) for name in estimates}

    xs = x.double().tolist()
    for name, values in (("f", fx), ("analytic", reference)):
        yield Points(name, *_decimated(xs, values.double().tolist()))
    for name, values in estimates.items():
        yield Points(name, *_decimated(xs, values.double().tolist()))
        err = (values.double() - reference).abs()
        yield Points(f"error {name}", *_decimated(xs, err.tolist()))
    for name, value in rmse.items():
        yield Metric(f"rmse_{name}", value)
    yield Table(
        "rmse",
        ["method", "RMSE vs analytic", "points used"],
        [[name, rmse[name], int(usable[name].sum())] for name in estimates],
    )
    yield Progress(1, total)

    # The h-sweep: the truncation / round-off "V" of each scheme in both dtypes.
    best_h: dict[str, float | None] = {}
    best_rmse: dict[str, float | None] = {}
    first_vanished: dict[str, float | None] = {}
    done = 1
    for dt in DTYPES:
        xs_dt = torch.linspace(params["start"], params["stop"], params["points"], dtype=getattr(torch, dt), device=device)
        ref_dt = _elementwise(df, xs_dt.double())
        ok_dt = torch.isfinite(ref_dt)
        curves: dict[str, tuple[list[float], list[float]]] = {s: ([], []) for s in SCHEMES}
        for step in H_SWEEP:
            ctx.check()
            for name, scheme in _schemes().items():
                estimate, vanished = scheme(lambda t: _elementwise(f, t), xs_dt, step)
                value = _rmse(estimate, ref_dt, ok_dt & ~vanished)
                if math.isfinite(value):
                    curves[name][0].append(step)
                    curves[name][1].append(value)
                if bool(vanished.any()) and first_vanished.get(dt) is None:
                    first_vanished[dt] = step
            done += 1
            yield Progress(done, total)
        for name, (hs, errs) in curves.items():
            yield Points(f"h-sweep {name} {dt}", hs, errs)
            key = f"{name}_{dt}"
            if errs:
                i = min(range(len(errs)), key=errs.__getitem__)
                best_h[key], best_rmse[key] = hs[i], errs[i]
            else:
                best_h[key] = best_rmse[key] = None
    yield Metric("best_h", best_h)
    yield Metric("best_rmse", best_rmse)
    yield Table(
        "h-sweep",
        ["scheme", "dtype", "best h", "RMSE at best h"],
        [[s, dt, best_h[f"{s}_{dt}"], best_rmse[f"{s}_{dt}"]] for dt in DTYPES for s in SCHEMES],
    )

    # Observations, with the numbers.
    yield Observation(
        f"At h = {h:g} in {ctx.dtype}: RMSE autograd {rmse['autograd']:.2g}, central {rmse['central']:.2g}, "
        f"forward {rmse['forward']:.2g}, backward {rmse['backward']:.2g} (against the analytic f' in float64)."
    )
    yield Observation(
        f"Autograd applies the exact derivative rules, so its error is only rounding of {ctx.dtype} "
        f"(eps = {torch.finfo(dtype).eps:.1e}); finite differences add truncation error "
        f"(O(h^2) central, O(h) forward/backward) and round-off ~eps*|f|/h."
    )
    for dt in DTYPES:
        c = f"central_{dt}"
        fw = f"forward_{dt}"
        if best_h.get(c) is not None and best_h.get(fw) is not None:
            yield Observation(
                f"Central differences in {dt} are most accurate near h = {best_h[c]:.0e} "
                f"(RMSE {best_rmse[c]:.2g}); forward differences near h = {best_h[fw]:.0e} "
                f"(RMSE {best_rmse[fw]:.2g}). Below that, round-off grows as h shrinks."
            )
    for dt in DTYPES:
        if first_vanished.get(dt) is not None:
            yield Observation(
                f"In {dt} the step vanished (x + h == x) at some grid points from h = {first_vanished[dt]:.0e} "
                f"down; those points are left out of the RMSE."
            )
    # The cost of a gradient of n inputs: one backward pass against 2n evaluations of f.
    from lab4.numdiff import gradient_cost

    ctx.check()
    costs = gradient_cost(COST_SIZES, ctx.device, dtype)
    yield Points("cost autograd", [n for n, _, _ in costs], [a for _, a, _ in costs])
    yield Points("cost central", [n for n, _, _ in costs], [c for _, _, c in costs])
    n, a, c = costs[-1]
    yield Observation(
        f"Cost of a gradient of n = {n} inputs: {a * 1e3:.3g} ms by autograd (one backward pass) against "
        f"{c * 1e3:.3g} ms by central differences (2n = {2 * n} evaluations of an O(n) function, O(n^2) in all)."
    )
    for name, count in vanished_at.items():
        if count:
            yield Observation(f"At h = {h:g} the {name} step vanished at {count} of {params['points']} points.")
    bad_f = int((~torch.isfinite(fx)).sum())
    if bad_f:
        yield Observation(
            f"f overflowed or is undefined at {bad_f} of {params['points']} points in {ctx.dtype} "
            f"(largest finite {ctx.dtype} is {torch.finfo(dtype).max:.2g}); those points are not finite."
        )
    f64 = _elementwise(f, x.double())
    underflow = int(((fx == 0) & (f64 != 0) & torch.isfinite(f64)).sum())
    if underflow:
        yield Observation(
            f"f underflowed to 0 at {underflow} of {params['points']} points in {ctx.dtype} where float64 is not 0 "
            f"(smallest normal {ctx.dtype} is {torch.finfo(dtype).tiny:.2g}); derivatives there are 0 or noise."
        )
    yield Metric("overflow_points", bad_f)
    yield Metric("underflow_points", underflow)
    bad_ref = int((~ref_ok).sum())
    if bad_ref:
        yield Observation(f"The analytic derivative is not finite at {bad_ref} points; they are left out.")


TASK = Task(
    id="derivatives",
    number="2",
    title="Derivatives four ways",
    summary="f(x) = sin(x)e^x: analytic, autograd, central/forward/backward differences; RMSE; error vs h",
    spec=SPEC,
    run=run,
    headline="rmse_central",
    views=(
        PlotView("functions", "f and f'", ("f", "analytic", "autograd", "central", "forward", "backward"), xlabel="x"),
        PlotView(
            "errors", "Errors",
            ("error autograd", "error central", "error forward", "error backward"),
            xlabel="x", ylabel="|estimate - f'|", ylog=True,
            names=tuple((f"error {m}", m) for m in ("autograd", "central", "forward", "backward")),
        ),
        PlotView(
            "hsweep", "Error vs h",
            tuple(f"h-sweep {s} {d}" for d in ("float32", "float64") for s in ("central", "forward", "backward")),
            xlabel="h", ylabel="RMSE", xlog=True, ylog=True,
            names=tuple((f"h-sweep {s} {d}", f"{s} {d.replace('float', 'f')}") for d in ("float32", "float64")
                        for s in ("central", "forward", "backward")),
        ),
        PlotView(
            "cost", "Cost vs n", ("cost autograd", "cost central"),
            xlabel="inputs n", ylabel="seconds per gradient", xlog=True, ylog=True,
            names=(("cost autograd", "autograd"), ("cost central", "central")),
        ),
    ),
    help=(
        "f'(x) = e^x (cos x + sin x) is the reference (float64).\n"
        "forward  (f(x+h) - f(x)) / h           error O(h)\n"
        "backward (f(x) - f(x-h)) / h           error O(h)\n"
        "central  (f(x+h) - f(x-h)) / 2h        error O(h^2)\n"
        "We divide by the step actually represented, (x+h) - (x-h).\n"
        "RMSE = sqrt(mean (estimate - f')^2). Best central h ~ cbrt(eps): ~5e-3 in\n"
        "float32, ~6e-6 in float64; below it round-off (~eps|f|/h) dominates."
    ),
)
