"""Handout task 2: f(x) = sin(x) e^x, its derivative seven ways, their errors, and why.

On a grid x_1..x_N the derivative is computed

* analytically, the typed f'(x), in float64 (the reference) - and checked against
  autograd in float64: a typed f' that disagrees is said to, with where and by how much;
* by reverse-mode autograd (``f(x).backward(ones)``) and forward-mode AD (``jvp``);
* by central, forward and backward differences, Richardson extrapolation of the central
  one, and the complex step, with step h (finite differences divide by the step actually
  represented, ``(x + h) - (x - h)``).

RMSE = sqrt(mean_i (estimate_i - f'(x_i))^2).  The h-sweep repeats the h-methods for h =
1e-1 ... 1e-12 (the complex step far below: 1e-300 in float64) in float32 and float64.  An
h is judged over all points: where the step vanishes (x + h == x) at some point, the h is
partial (its coverage is kept) and never chosen as the best.  Beside each measured curve,
the error model: truncation C h^p (C from f's own higher derivatives) plus round-off
k eps RMS|f| / h, whose minimum is the predicted best h.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from lab4.core.context import DTYPES
from lab4.core.events import Metric, Observation, Points, Progress, Table
from lab4.core.spec import ExprParam, FloatParam, IntParam, Spec
from lab4.core.task import Task
from lab4.core.views import PlotView

#: RMSEs within this factor of the smallest are one floor of rounding...
PLATEAU = 2.0
#: ...and a floor that spans this ratio of h has no single best h
PLATEAU_SPAN = 100.0
#: the methods that take a step h, in the order of the tables (the differences, then the complex step)
DIFFERENCES = ("central", "forward", "backward", "richardson")
SWEPT = (*DIFFERENCES, "complex_step")
METHODS = ("autograd", "forward_ad", *SWEPT)
H_SWEEP = tuple(10.0 ** (-k / 2) for k in range(2, 25))  # 1e-1 ... 1e-12, half decades
#: the complex step goes on far below: it has no subtraction (down to the dtype's tiny)
COMPLEX_BELOW = {
    "float32": (1e-15, 1e-20, 1e-25, 1e-30, 1e-35),
    "float64": (1e-15, 1e-20, 1e-30, 1e-50, 1e-100, 1e-200, 1e-300),
}
COST_SIZES = (10, 30, 100, 300, 1000, 3000)  # inputs n of the gradient-cost curve
SERIES_POINTS = 4000  # points of a long grid kept in the series (the metrics use every point)
#: a typed f' agrees with float64 autograd when |difference| <= AGREE * max(1, |f'|) everywhere
AGREE = 1e-6
#: the error model of each h-method: order p, the truncation constant C(x) from [f, f', f'', ...],
#: and the round-off factor k in k eps |f| / h (0: no subtraction, the floor is eps |f'|)
MODELS: dict[str, tuple[int, Any, float]] = {
    "central": (2, lambda d: d[3] / 6, 1.0),
    "forward": (1, lambda d: d[2] / 2, 1.0),
    "backward": (1, lambda d: d[2] / 2, 1.0),
    "richardson": (4, lambda d: d[5] / 480, 3.0),
    "complex_step": (2, lambda d: d[3] / 6, 0.0),
}


def _start_below_stop(values: dict[str, Any]) -> tuple[str, str] | None:
    if not values["start"] < values["stop"]:
        return "stop", f"stop must be > start ({values['start']:g}), got {values['stop']:g}"
    return None


SPEC = Spec(
    (
        ExprParam("expr", "sin(x)*exp(x)", help="f(x), elementwise", variables=("x",), label="f(x) ="),
        ExprParam(
            "derivative",
            "exp(x)*(cos(x)+sin(x))",
            help="the analytic f'(x) (the reference)",
            variables=("x",),
            label="f'(x) =",
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


def _autograd_derivative(fn: Any, x: Any) -> Any:
    """d fn / dx at every point by one backward pass (0 where fn does not depend on x)."""
    import torch

    xg = x.detach().clone().requires_grad_(True)
    y = _elementwise(fn, xg)
    return torch.autograd.grad(y, xg, torch.ones_like(y))[0] if y.requires_grad else torch.zeros_like(x)


def _rmse(estimate: Any, reference: Any, usable: Any) -> float:
    import torch

    if not bool(usable.any()):
        return math.nan
    diff = estimate.double()[usable] - reference[usable]
    return float(torch.sqrt(torch.mean(diff * diff)))


def _rms(values: Any) -> float:
    import torch

    v = values.double()
    v = v[torch.isfinite(v)]
    return float(torch.sqrt(torch.mean(v * v))) if v.numel() else math.nan


def _methods() -> dict[str, Any]:
    from lab4.maths.numdiff import backward_difference, central_difference, complex_step, forward_difference, richardson

    return {
        "central": central_difference,
        "forward": forward_difference,
        "backward": backward_difference,
        "richardson": richardson,
        "complex_step": complex_step,
    }


def _decimated(x: list[float], y: list[float], limit: int = SERIES_POINTS) -> tuple[list[float], list[float]]:
    """Keep at most ``limit`` points of a long grid for the series (the metrics use all)."""
    if len(x) <= limit:
        return x, y
    stride = math.ceil(len(x) / limit)
    return x[::stride], y[::stride]


def error_model(scheme: str, derivs: list[Any], eps: float) -> tuple[float, float, float | None, float]:
    """(C, round-off R, predicted best h, floor) of ``scheme``'s error E(h) = C h^p + R / h
    (+ floor), with C and R the RMS over the grid: h* = (R / (p C))^(1 / (p + 1)). The
    complex step has no round-off term, only a floor eps RMS|f'|: no best h (None)."""
    p, constant, k = MODELS[scheme]
    c = _rms(constant(derivs))
    r = k * eps * _rms(derivs[0])
    floor = eps * _rms(derivs[1]) if k == 0 else 0.0
    best = (r / (p * c)) ** (1 / (p + 1)) if r > 0 and c > 0 and math.isfinite(c) else None
    return c, r, best, floor


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    import torch

    from lab4.core.expr import parse_expression
    from lab4.maths.expr import compile_expression
    from lab4.maths.numdiff import derivatives_up_to, forward_ad_derivative

    expr = parse_expression(params["expr"])
    f = compile_expression(expr)
    df = compile_expression(parse_expression(params["derivative"]))
    device, dtype, h = ctx.torch_device, ctx.torch_dtype, params["h"]
    skipped: dict[str, str] = {}
    if expr.not_analytic():
        skipped["complex_step"] = expr.not_analytic()
    total = 2 + len(DTYPES) * len(H_SWEEP)
    yield Progress(0, total)

    x = torch.linspace(params["start"], params["stop"], params["points"], dtype=dtype, device=device)
    reference = _elementwise(df, x.double())
    ref_ok = torch.isfinite(reference)
    fx = _elementwise(f, x)
    f_of = lambda t: _elementwise(f, t)  # noqa: E731

    # the typed f' against autograd in float64: a wrong formula is said to be wrong
    auto64 = _autograd_derivative(f, x.double())
    gap = (auto64 - reference).abs()
    both = ref_ok & torch.isfinite(auto64)
    worst = int(torch.where(both, gap, torch.zeros_like(gap)).argmax())
    agrees = bool((gap[both] <= AGREE * reference[both].abs().clamp(min=1.0)).all())
    yield Metric("analytic_agrees", agrees)

    estimates = {"autograd": _autograd_derivative(f, x)}
    try:
        estimates["forward_ad"] = forward_ad_derivative(f_of, x)
    except (RuntimeError, NotImplementedError) as exc:
        skipped["forward_ad"] = f"forward mode failed: {str(exc).splitlines()[0][:80]}"
    usable = {"autograd": ref_ok, "forward_ad": ref_ok}
    vanished_at: dict[str, int] = {}
    for name, method in _methods().items():
        if name in skipped:
            continue
        estimate, vanished = method(f_of, x, h)
        estimates[name] = estimate
        usable[name] = ref_ok & ~vanished
        vanished_at[name] = int(vanished.sum())
    rmse = {name: (_rmse(estimates[name], reference, usable[name]) if name in estimates else None) for name in METHODS}
    yield Progress(1, total)

    xs = x.double().tolist()
    for name, values in (("f", fx), ("analytic", reference)):
        yield Points(name, *_decimated(xs, values.double().tolist()))
    for name, values in estimates.items():
        if name in ("autograd", "central", "forward", "backward"):
            yield Points(name, *_decimated(xs, values.double().tolist()))
        err = (values.double() - reference).abs()
        yield Points(f"error {name}", *_decimated(xs, err.tolist()))
    for name, value in rmse.items():
        yield Metric(f"rmse_{name}", value)
    yield Table(
        "rmse",
        ["method", "RMSE vs analytic", "points used", "note"],
        [
            [name, rmse[name], int(usable[name].sum()) if name in usable else 0, skipped.get(name, "")]
            for name in METHODS
        ],
    )

    # the h-sweep of every h-method in both dtypes, with its error model
    sweep: dict[str, dict[str, Any]] = {}
    done = 1
    for dt in DTYPES:
        ttype = getattr(torch, dt)
        xs_dt = torch.linspace(params["start"], params["stop"], params["points"], dtype=ttype, device=device)
        ref_dt = _elementwise(df, xs_dt.double())
        ok_dt = torch.isfinite(ref_dt)
        derivs = derivatives_up_to(f_of, xs_dt.double(), 5)
        eps = torch.finfo(ttype).eps
        for name, method in _methods().items():
            if name in skipped:
                continue
            steps = H_SWEEP + (COMPLEX_BELOW[dt] if name == "complex_step" else ())
            hs, errs, partial = [], [], []
            for step in steps:
                ctx.check()
                estimate, vanished = method(f_of, xs_dt, step)
                keep = ok_dt & ~vanished
                coverage = float(keep.sum()) / max(1, int(ok_dt.sum()))
                value = _rmse(estimate, ref_dt, keep)
                if coverage < 1.0 or not math.isfinite(value):
                    partial.append((step, coverage))
                    continue
                hs.append(step)
                errs.append(value)
            c, r, best_theory, floor = error_model(name, derivs, eps)
            p = MODELS[name][0]
            sweep[f"{name}_{dt}"] = {
                "h": hs,
                "rmse": errs,
                "partial": partial,
                "best_theory": best_theory,
                "floor": floor,
            }
            yield Points(f"h-sweep {name} {dt}", hs, errs)
            model = [(s, c * s**p + r / s + floor) for s in steps if name == "complex_step" or s >= min(H_SWEEP)]
            ceiling = 10 * max(errs) if errs else math.inf  # drawn where it can be compared
            model = [(s, e) for s, e in model if math.isfinite(e) and 0 < e <= ceiling]
            if model and math.isfinite(c):
                yield Points(f"model {name} {dt}", [s for s, _ in model], [e for _, e in model])
        done += len(H_SWEEP)
        yield Progress(done, total)
    best_h = {
        k: (v["h"][min(range(len(v["rmse"])), key=v["rmse"].__getitem__)] if v["rmse"] else None)
        for k, v in sweep.items()
    }
    best_rmse = {k: (min(v["rmse"]) if v["rmse"] else None) for k, v in sweep.items()}
    best_theory = {k: v["best_theory"] for k, v in sweep.items()}
    partial_below = {k: (max(s for s, _ in v["partial"]) if v["partial"] else None) for k, v in sweep.items()}
    yield Metric("best_h", best_h)
    yield Metric("best_rmse", best_rmse)
    yield Metric("best_h_theory", best_theory)
    # where the error is a floor of rounding over decades of h, no h is "the best": the range
    yield Metric(
        "best_h_range",
        {k: (list(flat[:2]) if (flat := plateau(v["h"], v["rmse"])) else None) for k, v in sweep.items()},
    )
    yield Metric("partial_from_h", partial_below)
    yield Table(
        "h-sweep",
        ["method", "dtype", "best h", "RMSE there", "best h (model)", "steps vanish from h"],
        [
            [k.rsplit("_", 1)[0], k.rsplit("_", 1)[1], best_h[k], best_rmse[k], best_theory[k], partial_below[k]]
            for k in sweep
        ],
    )
    yield Progress(total - 1, total)

    yield from _observations(
        params,
        ctx,
        rmse,
        skipped,
        agrees,
        gap,
        reference,
        auto64,
        x,
        worst,
        sweep,
        best_h,
        best_rmse,
        best_theory,
        vanished_at,
    )

    # the cost of a gradient of n inputs: one backward pass against 2n evaluations of f
    from lab4.maths.numdiff import gradient_cost

    ctx.check()
    costs = gradient_cost(COST_SIZES, ctx.device, dtype)
    yield Points("cost autograd", [n for n, _, _ in costs], [a for _, a, _ in costs])
    yield Points("cost central", [n for n, _, _ in costs], [c for _, _, c in costs])
    n, a, c = costs[-1]
    yield Observation(
        f"Cost of a gradient of n = {n} inputs: {a * 1e3:.3g} ms by autograd (one backward pass) against "
        f"{c * 1e3:.3g} ms by central differences (2n = {2 * n} evaluations of an O(n) function, O(n^2) in all)."
    )
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


def plateau(hs: list[float], rmse: list[float]) -> tuple[float, float, float] | None:
    """(smallest h, largest h, largest RMSE) of the steps whose RMSE is within PLATEAU x the
    smallest, when they span PLATEAU_SPAN or more (the complex step's floor of rounding, where
    the argmin is an accident of the reference's own rounding); None for a sharp minimum."""
    if not rmse:
        return None
    best = min(rmse)
    flat = [(h, e) for h, e in zip(hs, rmse) if e <= PLATEAU * best]
    lo, hi = min(h for h, _ in flat), max(h for h, _ in flat)
    return (lo, hi, max(e for _, e in flat)) if hi >= PLATEAU_SPAN * lo else None


def _observations(
    params: dict[str, Any],
    ctx: Any,
    rmse: dict[str, Any],
    skipped: dict[str, str],
    agrees: bool,
    gap: Any,
    reference: Any,
    auto64: Any,
    x: Any,
    worst: int,
    sweep: dict[str, Any],
    best_h: dict[str, Any],
    best_rmse: dict[str, Any],
    best_theory: dict[str, Any],
    vanished_at: dict[str, int],
) -> Iterator[Observation]:
    """Every sentence from this run's numbers."""
    import torch

    h = params["h"]
    shown = ", ".join(f"{name} {rmse[name]:.2g}" for name in METHODS if rmse[name] is not None)
    yield Observation(f"At h = {h:g} in {ctx.dtype}, RMSE against the typed f' (float64): {shown}.")
    for name, why in skipped.items():
        yield Observation(f"{name} skipped: {why}; the other methods ran.")
    if not agrees:
        at = float(x.double()[worst])
        yield Observation(
            f"The typed f' disagrees with autograd (float64): the largest difference is {float(gap[worst]):.3g} "
            f"at x = {at:.4g} (autograd {float(auto64[worst]):.6g}, typed f' {float(reference[worst]):.6g}). "
            f"The RMSEs above measure that formula, not the methods: check the typed f'."
        )
        return
    eps = torch.finfo(ctx.torch_dtype).eps
    scale = _rms(reference)
    auto = rmse["autograd"]
    yield Observation(
        f"Autograd's RMSE {auto:.2g} is {auto / (eps * scale):.2g} x eps RMS|f'| ({ctx.dtype}, eps = {eps:.1e}): "
        + (
            "rounding of the derivative rules, no truncation."
            if auto <= 100 * eps * scale
            else "more than rounding: f is evaluated where it loses precision."
        )
    )
    for dt in DTYPES:
        parts = []
        for name in SWEPT:
            key = f"{name}_{dt}"
            if best_h.get(key) is None:
                continue
            theory = best_theory.get(key)
            flat = plateau(sweep[key]["h"], sweep[key]["rmse"])
            if flat is not None:  # a floor of rounding: the argmin would be noise
                lo, hi, worst_there = flat
                parts.append(
                    f"{name} at any h from {hi:.0e} down to {lo:.0e} (RMSE {best_rmse[key]:.2g} to "
                    f"{worst_there:.2g}, within {PLATEAU:g} x the smallest: rounding, no single best h)"
                )
                continue
            parts.append(
                f"{name} at h = {best_h[key]:.1e} (RMSE {best_rmse[key]:.2g}"
                + (f"; the model predicts {theory:.1e})" if theory else ")")
            )
        if parts:
            yield Observation(f"Best h in {dt} (every point covered): " + "; ".join(parts) + ".")
    for dt in DTYPES:
        partial = sweep.get(f"central_{dt}", {}).get("partial", [])
        if partial:
            step, coverage = max(partial)
            yield Observation(
                f"In {dt} the step vanishes (x + h == x) at some points from h = {step:.1e} down (at that h "
                f"{coverage:.1%} of the points keep a step): those h are partial, never chosen as the best."
            )
    cs = [(dt, sweep[f"complex_step_{dt}"]) for dt in DTYPES if f"complex_step_{dt}" in sweep]
    for dt, data in cs:
        if data["rmse"]:
            small = [(s, e) for s, e in zip(data["h"], data["rmse"]) if s <= 1e-8]
            if small:
                lo, hi = min(e for _, e in small), max(e for _, e in small)
                yield Observation(
                    f"The complex step in {dt} has no subtraction: from h = 1e-8 down to {min(s for s, _ in small):.0e} "
                    f"its RMSE stays between {lo:.2g} and {hi:.2g} (rounding), where differences lose everything."
                )
    for name, count in vanished_at.items():
        if count:
            yield Observation(f"At h = {h:g} the {name} step vanished at {count} of {params['points']} points.")


TASK = Task(
    id="derivatives",
    number="2",
    title="Derivatives seven ways",
    summary="f(x) = sin(x)e^x: analytic, autograd, forward AD, central/forward/backward, Richardson, "
    "complex step; RMSE; error vs h with its model",
    spec=SPEC,
    run=run,
    headline="rmse_central",
    views=(
        PlotView("functions", "f and f'", ("f", "analytic", "autograd", "central", "forward", "backward"), xlabel="x"),
        PlotView(
            "errors",
            "Errors",
            tuple(f"error {m}" for m in METHODS),
            xlabel="x",
            ylabel="|estimate - f'|",
            ylog=True,
            names=tuple((f"error {m}", m) for m in METHODS),
        ),
        *[
            PlotView(
                f"hsweep{d[-2:]}",
                f"h {d}",
                tuple(f"h-sweep {s} {d}" for s in DIFFERENCES)
                + tuple(f"model {s} {d}" for s in ("central", "forward", "richardson")),
                xlabel="h",
                ylabel="RMSE",
                xlog=True,
                ylog=True,
                names=tuple((f"h-sweep {s} {d}", s) for s in DIFFERENCES)
                + tuple((f"model {s} {d}", f"model {s}") for s in DIFFERENCES),
            )
            for d in DTYPES
        ],
        PlotView(
            "complex",
            "Complex step",
            tuple(f"h-sweep complex_step {d}" for d in DTYPES) + tuple(f"model complex_step {d}" for d in DTYPES),
            xlabel="h",
            ylabel="RMSE",
            xlog=True,
            ylog=True,
            names=tuple((f"h-sweep complex_step {d}", d) for d in DTYPES)
            + tuple((f"model complex_step {d}", f"model {d}") for d in DTYPES),
            needs="for analytic f only (no abs, relu, max...)",
        ),
        PlotView(
            "cost",
            "Cost vs n",
            ("cost autograd", "cost central"),
            xlabel="inputs n",
            ylabel="seconds per gradient",
            xlog=True,
            ylog=True,
            names=(("cost autograd", "autograd"), ("cost central", "central")),
        ),
    ),
    help=(
        "f'(x) typed is the reference (float64), checked against autograd.\n"
        "autograd    f(x).backward(ones): reverse mode, exact rules\n"
        "forward AD  jvp(f, x, ones): forward mode, exact rules\n"
        "forward     (f(x+h) - f(x)) / h                error O(h)\n"
        "backward    (f(x) - f(x-h)) / h                error O(h)\n"
        "central     (f(x+h) - f(x-h)) / 2h             error O(h^2)\n"
        "Richardson  (4 D(h/2) - D(h)) / 3, D central   error O(h^4)\n"
        "complex     Im f(x + ih) / h                   error O(h^2), no\n"
        "            subtraction: rounding-level down to h = 1e-300 (analytic f)\n"
        "Steps are divided as represented: (x+h) - (x-h).\n"
        "Model: E(h) = C h^p + k eps RMS|f| / h, C from f's higher derivatives\n"
        "(central f'''/6, forward f''/2, Richardson f^(5)/480); best h where\n"
        "the two meet: ~cbrt(eps) for central (5e-3 in float32, 6e-6 in float64)."
    ),
)
