"""Handout task 3: minimise ``generate_function(dim, complexity, seed)`` by gradient descent.

Each step takes the gradient with autograd (``torch.autograd.grad``) at w (or at the
Nesterov look-ahead w + beta v) and applies the handout's update from :mod:`lab4.optim`.
The loss f(w_t) - f* (f* = 0) and the distance ||w_t - c|| are recorded from t = 0, the
start point.  Values stay on the device and are copied to the host in blocks, so a step
costs no host-device synchronisation.
"""

from __future__ import annotations

from typing import Any, Iterator

from lab4.events import Artifact, Metric, Observation, Points, Table
from lab4.landscapes import LEVELS
from lab4.optim import OPTIMIZERS
from lab4.spec import ChoiceParam, FloatParam, IntParam, Spec
from lab4.tasks import Comparison, Task
from lab4.views import PlotView

FLUSH = 64  # steps between host copies of the recorded values

SPEC = Spec(
    (
        IntParam("dim", 2, help="number of variables", ge=1, le=10_000_000),
        IntParam("complexity", 1, help="1 quadratic, 2 ill-conditioned, 3 coupled, 4 rippled, 5 curved valley",
                 ge=min(LEVELS), le=max(LEVELS)),
        ChoiceParam("optimizer", "gd", help="gd, momentum or nesterov (handout formulas)", choices=OPTIMIZERS),
        FloatParam("lr", 0.01, help="learning rate", gt=0, le=1e3),
        FloatParam("beta", 0.9, help="momentum coefficient (ignored by gd)", ge=0, lt=1),
        IntParam("steps", 1000, help="number of updates", ge=1, le=10_000_000),
        FloatParam("tol", 1e-6, help="converged when f - f* <= tol", gt=0),
    )
)


def run(params: dict[str, Any], ctx: Any) -> Iterator[Any]:
    import torch

    from lab4.landscapes import generate_function
    from lab4.optim import apply_step, lookahead
    from lab4.recording import StepRecorder

    dim, steps, lr, beta, tol = params["dim"], params["steps"], params["lr"], params["beta"], params["tol"]
    optimizer = params["optimizer"]
    f = generate_function(dim, params["complexity"], ctx.seed).to(ctx.torch_device, ctx.torch_dtype)
    w = f.start.clone()
    v = torch.zeros_like(w)
    yield Observation(f"Level {params['complexity']}: {f.formula}; dim = {dim}, optimum f* = 0 at a seeded c.")

    record = StepRecorder(
        ("loss", "distance"), steps, w.device, w.dtype, watch="loss",
        hint=f"f(w) is no longer finite; lr = {lr:g} is too large for this landscape's curvature (try a smaller lr)",
    )
    track = dim == 2
    path = torch.empty((steps + 1, 2), dtype=w.dtype, device=w.device) if track else None

    def flush(upto: int) -> Iterator[Any]:
        start = record.done
        try:
            yield from record.flush(upto)
        finally:
            if track and record.done > start:
                pts = path[start : record.done].tolist()
                yield Points("trajectory", [p[0] for p in pts], [p[1] for p in pts])

    for t in range(steps + 1):
        if ctx.cancelled:
            yield from flush(t)  # a cancelled run keeps every step it computed
            ctx.check()
        point = lookahead(optimizer, [w], [v], beta)[0].detach().requires_grad_(True)
        value = f(point)
        with torch.no_grad():
            record.record(t, loss=f(w) if optimizer == "nesterov" else value.detach(),
                          distance=torch.linalg.vector_norm(w - f.center))
            if track:
                path[t] = w
        if (t + 1) % FLUSH == 0 or t == steps:
            yield from flush(t + 1)
        if t == steps:
            break
        (grad,) = torch.autograd.grad(value, point)
        with torch.no_grad():
            apply_step(optimizer, [w], [v], [grad], lr, beta)

    loss_host, dist_host = record.host["loss"], record.host["distance"]
    final_loss = loss_host[-1]
    reached = next((i for i, value in enumerate(loss_host) if value <= tol), None)
    yield Metric("final_loss", final_loss)
    yield Metric("final_distance", dist_host[-1])
    yield Metric("initial_loss", loss_host[0])
    yield Metric("steps_to_tol", reached)
    yield Metric("converged", final_loss <= tol)
    yield Table(
        "summary",
        ["quantity", "value"],
        [
            ["f(w_0) - f*", loss_host[0]],
            ["f(w_T) - f*", final_loss],
            ["||w_0 - c||", dist_host[0]],
            ["||w_T - c||", dist_host[-1]],
            [f"steps to f - f* <= {tol:g}", reached],
        ],
    )
    if reached is not None:
        yield Observation(f"{optimizer} reached f - f* <= {tol:g} at step {reached} (lr = {lr:g}).")
    else:
        yield Observation(
            f"{optimizer} did not reach f - f* <= {tol:g} in {steps} steps: f - f* = {final_loss:.3g}, "
            f"distance to the optimum {dist_host[-1]:.3g}."
        )
    if params["complexity"] >= 4 and dist_host[-1] > 1e-2 and final_loss > tol:
        yield Observation("The ripples create local minima: gradient descent can settle in one away from c.")

    if track:
        yield Artifact("landscape", _landscape_grid(f, path[: len(loss_host)]))


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
    summary="generate_function(dim, complexity, seed) by gradient descent, momentum, Nesterov",
    spec=SPEC,
    run=run,
    headline="final_loss",
    comparison=Comparison("steps_to_tol", lambda p: f"f - f* <= {p['tol']:g}", also=("final_distance",)),
    views=(
        PlotView("loss", "Loss", ("loss",), ylabel="f - f*", ylog=True),
        PlotView("distance", "Distance", ("distance",), ylabel="||w - c||", ylog=True),
        PlotView("trajectory", "Trajectory", ("trajectory",), xlabel="x1", ylabel="x2", kind="trajectory",
                 needs="drawn for dim = 2 only"),
    ),
    presets={"gd vs momentum vs nesterov": {"optimizer": list(OPTIMIZERS)}},
    help=(
        "f has its global minimum f* = 0 at a seeded point c; d = x - c.\n"
        + "".join(f"level {k}  {text}\n" for k, text in LEVELS.items())
        + "gd:       w = w - lr grad f(w)\n"
        "momentum: v = beta v - lr grad f(w);       w = w + v\n"
        "nesterov: v = beta v - lr grad f(w + beta v); w = w + v"
    ),
)
