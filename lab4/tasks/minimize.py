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
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from lab4.core.events import Artifact, Finding, Metric, Observation, Points, Table, finding, plural
from lab4.core.spec import ChoiceParam, FloatParam, IntParam, Spec
from lab4.core.task import Comparison, Task
from lab4.core.views import PlotView
from lab4.maths.landscapes import LEVEL_FORMULAS, LEVELS, curvature, spectrum
from lab4.maths.optim import OPTIMIZERS
from lab4.maths.optim_theory import fit_rate, optimal, phase, rate, steps_to_grow

FLUSH = 64  # steps between host copies of the recorded values
GROWTH = 1e6  # a loss above GROWTH x its start has diverged
THEORY_POINTS = 400  # points of the drawn theory curves
#: the phase diagram's grid: lr from 0 to PHASE_LR / L, beta from 0 to PHASE_BETA
PHASE_GRID, PHASE_LR, PHASE_BETA = (48, 32), 4.0, 0.99
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
        IntParam("complexity", 1, help=", ".join(f"{k} {text.split(':')[0]}" for k, text in LEVELS.items()),
                 ge=min(LEVELS), le=max(LEVELS)),
        ChoiceParam("optimizer", "gd", help="gd, momentum or nesterov (handout formulas)", choices=OPTIMIZERS),
        FloatParam("lr", 0.25, help="learning rate, or optimal (from the landscape's L and mu)", gt=0, le=1e3,
                   symbols=("optimal",)),
        FloatParam("beta", 0.9, help="momentum coefficient (ignored by gd), or optimal", ge=0, lt=1,
                   symbols=("optimal",)),
        IntParam("steps", 1000, help="number of updates", ge=1, le=10_000_000),
        FloatParam("tol", 1e-6, help="converged when f - f* <= tol", gt=0),
    )
)


def resolve(params: dict[str, Any], ctx: Any = None) -> tuple[dict[str, Any], list[str]]:
    """``lr = optimal`` and ``beta = optimal`` as numbers for this landscape and optimizer."""
    params = dict(params)
    if "optimal" not in (params["lr"], params["beta"]):
        return params, []
    big, small, kappa = curvature(params["dim"], params["complexity"])
    lr, beta = optimal(params["optimizer"], big, small)
    notes = []
    rule = {"gd": "2/(L + mu)", "momentum": "(2/(sqrt L + sqrt mu))^2", "nesterov": "4/(3L + mu)"}
    beta_rule = {"gd": "unused by gd", "momentum": "((sqrt kappa - 1)/(sqrt kappa + 1))^2",
                 "nesterov": "(sqrt(3 kappa + 1) - 2)/(sqrt(3 kappa + 1) + 2)"}
    if params["lr"] == "optimal":
        params["lr"] = lr
        notes.append(f"lr = optimal: {lr:.6g} = {rule[params['optimizer']]} with L = {big:.4g}, mu = {small:.4g}.")
    if params["beta"] == "optimal":
        params["beta"] = beta
        notes.append(f"beta = optimal: {beta:.6g} ({beta_rule[params['optimizer']]}, kappa = {kappa:.4g}).")
    return params, notes


def theory(params: dict[str, Any]) -> dict[str, Any]:
    """L, mu, kappa, the optimal (lr, beta) and the run's rate on the quadratic model at c."""
    params, _ = resolve(params)
    big, small, kappa = curvature(params["dim"], params["complexity"])
    optimizer = params["optimizer"]
    lr_opt, beta_opt = optimal(optimizer, big, small)
    beta = params["beta"] if optimizer != "gd" else 0.0
    rho = _snap(rate(optimizer, params["lr"], beta, spectrum(params["dim"], params["complexity"])))
    return {"L": big, "mu": small, "kappa": kappa, "lr_optimal": lr_opt,
            "beta_optimal": beta_opt if optimizer != "gd" else None, "rate_theory": rho, "stable": rho < 1}


def _snap(rho: float) -> float:
    """A rate within RATE_ZERO of 0 is 0: the root formula's round-off in float64 (momentum
    at its optimum on kappa = 1 computes 2.2e-16 where gd computes 0)."""
    return 0.0 if abs(rho) <= RATE_ZERO else rho


def preflight(params: dict[str, Any]) -> list[str]:
    """Known before a step is taken: an (lr, beta) that theory says blows up."""
    t = theory(params)
    if t["stable"]:
        return []
    lr, _ = resolve(params)[0]["lr"], None
    edge = {"gd": "2/L", "momentum": "2(1 + beta)/L", "nesterov": "2(1 + beta)/((1 + 2 beta) L)"}[params["optimizer"]]
    grow = steps_to_grow(t["rate_theory"], GROWTH)
    return [f"lr = {lr:g} is unstable for {params['optimizer']} on this landscape (lr must be < {edge}; rate "
            f"{t['rate_theory']:.4g} > 1): theory says the distance grows x{t['rate_theory']:.3g} a step and the loss "
            f"passes {GROWTH:.0e} x its start by step ~{math.ceil(grow) if math.isfinite(grow) else '?'}."]


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    import torch

    from lab4.maths.landscapes import generate_function
    from lab4.maths.optim import apply_step, lookahead
    from lab4.maths.recording import StepRecorder

    dim, steps, lr, beta, tol = params["dim"], params["steps"], params["lr"], params["beta"], params["tol"]
    optimizer, level = params["optimizer"], params["complexity"]
    f = generate_function(dim, level, ctx.seed).to(ctx.torch_device, ctx.torch_dtype)
    t = theory(params)
    for name in ("L", "mu", "kappa", "lr_optimal", "beta_optimal", "rate_theory", "stable"):
        yield Metric(name, t[name])
    local = " (local values at c: f is not convex)" if level >= 4 else ""
    yield Observation(f"Level {level}: {f.formula}; dim = {dim}, optimum f* = 0 at a seeded c. At c: L = {t['L']:.4g}, "
                      f"mu = {t['mu']:.4g}, kappa = {t['kappa']:.4g}{local}.")
    for warning in preflight(params):
        yield Observation("Warning: " + warning)
    w = f.start.clone()
    v = torch.zeros_like(w)

    if t["stable"]:
        hint = (f"theory at c says rate {t['rate_theory']:.3g} < 1, but f is steeper away from c (the curved "
                f"valley): lr = {lr:g} is too large there; take a smaller lr")
    else:
        hint = f"lr = {lr:g} is too large for this landscape (theory: rate {t['rate_theory']:.3g} > 1; try lr = optimal)"
    record = StepRecorder(("loss", "distance"), steps, w.device, w.dtype, watch="loss", growth=GROWTH, hint=hint)
    track = dim == 2
    path = torch.empty((steps + 1, 2), dtype=w.dtype, device=w.device) if track else None

    def flush(upto: int) -> Iterator[Any]:
        start = record.done
        try:
            yield from record.flush(upto)
        finally:
            if track and record.done > start:
                pts = path[start: record.done].tolist()
                yield Points("trajectory", [p[0] for p in pts], [p[1] for p in pts])

    yield Artifact("phase", _phase(params, t))
    try:
        for step in range(steps + 1):
            if ctx.cancelled:
                yield from flush(step)  # a cancelled run keeps every step it computed
                ctx.check()
            point = lookahead(optimizer, [w], [v], beta)[0].detach().requires_grad_(True)
            value = f(point)
            with torch.no_grad():
                record.record(step, loss=f(w) if optimizer == "nesterov" else value.detach(),
                              distance=torch.linalg.vector_norm(w - f.center))
                if track:
                    path[step] = w
            if (step + 1) % FLUSH == 0 or step == steps:
                yield from flush(step + 1)
            if step == steps:
                break
            (grad,) = torch.autograd.grad(value, point)
            with torch.no_grad():
                apply_step(optimizer, [w], [v], [grad], lr, beta)
    finally:
        yield from _theory_curves(record.host, t["rate_theory"])

    loss_host, dist_host = record.host["loss"], record.host["distance"]
    final_loss = loss_host[-1]
    reached = next((i for i, value in enumerate(loss_host) if value <= tol), None)
    eps = torch.finfo(ctx.torch_dtype).eps
    measured = fit_rate(dist_host, eps * max(1.0, float(f.center.abs().max())) * math.sqrt(dim))
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
            [f"optimal lr, beta for {optimizer}", f"{t['lr_optimal']:.6g}, "
                                                  + (f"{t['beta_optimal']:.6g}" if t["beta_optimal"] is not None
                                                     else "-")],
        ],
    )
    yield from _observations(params, t, reached, loss_host, dist_host, measured, f, grad_at_start=_gradient_norm(f, f.start), grad_at_end=_gradient_norm(f, w))
    if track:
        yield Artifact("landscape", _landscape_grid(f, path[: len(loss_host)]))


def stopped_metrics(result: Any) -> dict[str, Any]:
    """A run stopped before its end: the metrics of its last recorded step, from its series."""
    loss, distance = (result.series.get(n) or {} for n in ("loss", "distance"))
    ys, ds = list(loss.get("y", ())), list(distance.get("y", ()))
    if not ys or not ds:
        return {}
    tol = result.params["tol"]
    reached = next((int(x) for x, v in zip(loss["x"], ys) if v <= tol), None)
    eps = 2.0**-52 if result.dtype == "float64" else 2.0**-23
    return {"stopped_at_step": int(loss["x"][len(ys) - 1]), "final_loss": ys[-1], "final_distance": ds[-1],
            "initial_loss": ys[0], "steps_to_tol": reached, "converged": reached is not None,
            "rate_measured": fit_rate(ds, eps * max(1.0, ds[0]) * math.sqrt(result.params["dim"]))}


def _gradient_norm(f: Any, w: Any) -> float:
    import torch

    p = w.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(p), p)
    return float(torch.linalg.vector_norm(grad))


def _observations(params: dict[str, Any], t: dict[str, Any], reached: int | None, loss: list[float],
                  distance: list[float], measured: float | None, f: Any, grad_at_start: float,
                  grad_at_end: float) -> Iterator[Any]:
    """Every sentence from this run's numbers."""
    optimizer, lr, tol, steps = params["optimizer"], params["lr"], params["tol"], params["steps"]
    rho = t["rate_theory"]
    lowest = min(range(len(loss)), key=loss.__getitem__)
    values = {"optimizer": optimizer, "tol": tol, "lr": lr, "beta": params["beta"], "reached": reached,
              "loss_reached": loss[reached] if reached is not None else None, "lowest": loss[lowest],
              "lowest_step": lowest, "loss": loss[-1], "distance": distance[-1], "steps": plural(steps, "step")}
    with_beta = ", beta = {beta:g}" if optimizer != "gd" else ""
    yield finding("tolerance", values, [("lowest", "<=", "tol")],
                  "{optimizer} reached f - f* <= {tol:g} at step {reached} (lr = {lr:g}" + with_beta + ").",
                  "{optimizer} did not reach f - f* <= {tol:g} in {steps}: f - f* = {loss:.3g}, distance to the "
                  "optimum {distance:.3g}.")
    if t["stable"] and measured is not None:
        yield Observation(
            f"Rate per step: theory {rho:.5g} on the quadratic model at c, measured {measured:.5g} on the "
            f"distance (fitted on its straight stretch in log scale)."
        )
    if t["stable"] and t["lr_optimal"] and abs(lr - t["lr_optimal"]) > 1e-12 * t["lr_optimal"]:
        best = _snap(rate(optimizer, t["lr_optimal"], t["beta_optimal"] or 0.0,
                          spectrum(params["dim"], params["complexity"])))
        at = (f"At its optimal parameters (lr = {t['lr_optimal']:.4g}"
              + (f", beta = {t['beta_optimal']:.4g}" if t["beta_optimal"] is not None else "") + f") {optimizer}")
        if loss[0] <= tol:
            pass  # the start is within tol: no count to predict
        elif best == 0.0:  # kappa = 1: the optimal step lands on c (the model is the function at level 1)
            yield Observation(f"{at} would, on the quadratic model at c, land on the optimum in one step "
                              "(rate 0: kappa = 1).")
        elif best < 1:
            predicted = math.ceil(math.log(tol / loss[0]) / (2 * math.log(best)))
            yield Observation(f"{at} would converge at rate {best:.4g}: about {plural(predicted, 'step')} to tol by "
                              "theory.")
    if reached is None and params["complexity"] >= RIPPLED_LEVEL - 1:  # the valleys, where a stop looks like one
        yield _local_minimum(params["complexity"], tol, loss[-1], distance[-1], grad_at_start, grad_at_end)


def _local_minimum(level: int, tol: float, loss: float, distance: float, grad_start: float,
                   grad_end: float) -> Finding:
    """Whether a run that stopped short of tol settled in a local minimum.  The evidence: the
    level has local minima (the ripples: level RIPPLED_LEVEL), the gradient has fallen below
    SETTLED of the start's, and f - f* is still above FAR_ABOVE x tol.  Without all three the
    run says what it measured and no more."""
    values = {"level": level, "rippled_level": RIPPLED_LEVEL, "gradient": grad_end, "gradient_start": grad_start,
              "gradient_ratio": grad_end / grad_start if grad_start > 0 else math.inf, "settled": SETTLED,
              "loss": loss, "loss_far": FAR_ABOVE * tol, "far_above": FAR_ABOVE, "tol": tol, "distance": distance}
    return finding(
        "local_minimum", values,
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
    return {"optimizer": optimizer, "lr": lrs, "beta": betas, "rows": "beta", "rate": phase(optimizer, eig, lrs, betas),
            "optimal": {"lr": lr_opt, "beta": beta_opt, "rate": rate(optimizer, lr_opt, beta_opt, eig)},
            "run": {"lr": params["lr"], "beta": beta, "rate": t["rate_theory"]}}


def _landscape_grid(f: Any, path: Any, size: int = 48) -> dict[str, Any]:
    """f on a size x size grid around the trajectory and the optimum (for dim 2 plots)."""
    import torch

    with torch.no_grad():
        pts = torch.cat([path, f.center[None], f.start[None]])
        pts = pts[torch.isfinite(pts).all(1)]
        lo, hi = pts.min(0).values, pts.max(0).values
        pad = (hi - lo).clamp(min=1e-3) * 0.15
        lo, hi = lo - pad, hi + pad
        xs = torch.linspace(float(lo[0]), float(hi[0]), size, dtype=path.dtype, device=path.device)
        ys = torch.linspace(float(lo[1]), float(hi[1]), size, dtype=path.dtype, device=path.device)
        gx, gy = torch.meshgrid(xs, ys, indexing="xy")
        z = f(torch.stack([gx, gy], -1))
    return {
        "x": xs.tolist(),
        "y": ys.tolist(),
        "z": z.tolist(),
        "center": f.center.tolist(),
        "start": f.start.tolist(),
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
    headline="final_loss",
    comparison=Comparison("steps_to_tol", lambda p: f"f - f* <= {p['tol']:g}",
                          also=("kappa", "rate_theory", "rate_measured", "final_loss")),
    presets={
        "gd vs momentum vs nesterov": {"optimizer": list(OPTIMIZERS)},
        "each at its optimal (lr, beta)": {"optimizer": list(OPTIMIZERS), "lr": ["optimal"], "beta": ["optimal"]},
        "levels 1-5": {"complexity": [1, 2, 3, 4, 5]},
    },
    views=(
        PlotView("loss", "Loss", ("loss", "theory loss"), ylabel="f - f*", ylog=True,
                 names=(("theory loss", "theory f0 rho^2t"),)),
        PlotView("distance", "Distance", ("distance", "theory distance"), ylabel="||w - c||", ylog=True,
                 names=(("theory distance", "theory d0 rho^t"),)),
        PlotView("trajectory", "Trajectory", ("trajectory",), xlabel="x1", ylabel="x2", kind="trajectory",
                 needs="drawn for dim = 2 only"),
        PlotView("phase", "Phase", (), xlabel="lr", ylabel="beta", kind="phase"),
    ),
    help=(
        "f has its global minimum f* = 0 at a seeded point c; d = x - c.\n"
        + "".join(f"level {k}  {text}\n" + "".join(f"   {line}\n" for line in LEVEL_FORMULAS[k].splitlines())
                  for k, text in LEVELS.items())
        + "gd:       w = w - lr grad f(w)\n"
        "momentum: v = beta v - lr grad f(w);          w = w + v\n"
        "nesterov: v = beta v - lr grad f(w + beta v); w = w + v\n"
        "Optimal: gd lr = 2/(L+mu), rate (kappa-1)/(kappa+1); heavy ball\n"
        "lr = (2/(sqrt L + sqrt mu))^2, beta = ((sqrt k - 1)/(sqrt k + 1))^2,\n"
        "rate (sqrt k - 1)/(sqrt k + 1); Nesterov lr = 4/(3L+mu),\n"
        "beta = (sqrt(3k+1) - 2)/(sqrt(3k+1) + 2), rate 1 - 2/sqrt(3k+1).\n"
        "Stable: gd lr < 2/L; heavy ball lr < 2(1+beta)/L. lr = optimal and\n"
        "beta = optimal take the optimal values; loss > 1e6 x start: diverged."
    ),
)
