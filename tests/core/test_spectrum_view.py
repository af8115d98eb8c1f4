"""The spectrum the training tasks measure (issue 22: ``spectrum_at``, the metrics
``spectrum_top``/``spectrum_trace``, the artifact, its finding, the Spectrum view), each
against an independent reference: eigvalsh of torch.func.hessian over the flattened
parameters (float64), with the loss written here apart from the task's code."""

import math

import pytest
import torch
import torch.nn.functional as F

from lab4.core.context import RunContext
from lab4.core.spec import ParamError
from lab4.engine.runner import execute
from lab4.maths.curvature import NEGATIVE_SHARE, SPECTRUM_BINS, SPECTRUM_TOP_K, loss_spectrum
from lab4.maths.training import forward, init_mlp
from lab4.present.plotting import render_text, short_number
from lab4.tasks import TASKS
from lab4.tasks._training import EDGE_NEAR, setup

F64 = torch.float64
#: the density's histogram against the exact eigenvalues' on the same bins: the largest gap
#: between their cumulative shares (Kolmogorov) and the 1-Wasserstein distance over the
#: spectrum's width (measured: <= 0.072 and <= 0.02 at 39 parameters, <= 0.044 and <= 0.008 at 231)
KS_MAX = 0.1
W1_MAX = 0.03


def exact_eigenvalues(loss, weights):
    """Ascending eigenvalues of the Hessian of ``loss`` over the flat parameters (float64)."""
    shapes = [w.shape for w in weights]

    def of_theta(theta):
        parts, at = [], 0
        for shape in shapes:
            n = math.prod(shape)
            parts.append(theta[at : at + n].reshape(shape))
            at += n
        return loss(parts)

    theta = torch.cat([w.detach().reshape(-1) for w in weights]).to(F64)
    return torch.linalg.eigvalsh(torch.func.hessian(of_theta)(theta))


def exact_histogram(eigenvalues, edges):
    """The share of the exact eigenvalues in each bin (the last closed; a value a rounding
    outside the range falls in the end bin)."""
    lo, hi = float(edges[0]), float(edges[-1])
    index = ((eigenvalues - lo) / (hi - lo) * (len(edges) - 1)).floor().long().clamp(0, len(edges) - 2)
    return torch.zeros(len(edges) - 1, dtype=F64).index_add_(0, index, torch.ones_like(eigenvalues) / len(eigenvalues))


def assert_matches(found, eigenvalues):
    top = eigenvalues.flip(0)[: len(found["top"])]
    for got, want in zip(found["top"], top.tolist()):
        assert abs(got - want) <= 0.01 * abs(want), (found["top"], top)
    exact_trace = float(eigenvalues.sum())
    assert abs(found["trace"] - exact_trace) <= 3 * found["trace_se"], (found["trace"], found["trace_se"], exact_trace)
    mass = torch.tensor(found["mass"], dtype=F64)
    assert abs(float(mass.sum()) - 1) < 1e-9 and bool((mass >= 0).all())
    edges = torch.tensor(found["edges"], dtype=F64)
    exact = exact_histogram(eigenvalues, edges)
    gap = (torch.cumsum(mass, 0) - torch.cumsum(exact, 0)).abs()
    width = float(eigenvalues[-1] - eigenvalues[0])
    assert float(gap.max()) <= KS_MAX, float(gap.max())
    assert float((gap * (edges[1] - edges[0])).sum()) / width <= W1_MAX
    below = eigenvalues < -NEGATIVE_SHARE * abs(float(eigenvalues[-1]))
    assert found["negative_mass"] == pytest.approx(float(below.sum()) / len(eigenvalues), abs=KS_MAX)


@pytest.mark.parametrize(
    "sizes, activation, seed",
    [([2, 6, 3], "tanh", 0), ([2, 6, 3], "tanh", 1), ([2, 12, 12, 3], "tanh", 2), ([3, 10, 4], "sigmoid", 3)],
)
def test_loss_spectrum_against_eigvalsh_of_the_hessian(sizes, activation, seed):
    """Top-3 within 1 %, the trace within 3 of its own standard errors, the histogram's mass 1
    and its distance to the exact eigenvalues' within KS_MAX / W1_MAX (with 80 Lanczos steps
    below n = 231 for the 2-12-12-3 net: the quadrature, not an exact decomposition)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(50, sizes[0], generator=g, dtype=F64)
    y = torch.randint(0, sizes[-1], (50,), generator=g)
    weights = init_mlp(sizes, activation, seed, "cpu", F64)

    def loss(p):
        logits = x
        for i in range(0, len(p), 2):  # written apart from lab4.maths.training.forward
            logits = logits @ p[i] + p[i + 1]
            if i + 2 < len(p):
                logits = getattr(torch, activation)(logits)
        return -torch.log_softmax(logits, 1)[torch.arange(len(y)), y].mean()

    found = loss_spectrum(loss, weights, seed=seed).as_dict()
    assert len(found["top"]) == SPECTRUM_TOP_K and found["top_converged"]
    assert len(found["mass"]) == SPECTRUM_BINS and found["n"] == sum(w.numel() for w in weights)
    assert_matches(found, exact_eigenvalues(loss, weights))


SMALL = {"samples": "48", "hidden": "6", "steps": "4", "test_fraction": "0", "sharpness_every": "0", "spectrum_at": "0"}


def run_task(task, dtype="float64", **values):
    params = TASKS[task].spec.parse({**SMALL, **values})
    ctx = RunContext(dtype=dtype)
    return params, ctx, execute(task, params, ctx)


def initial_loss(task, params, ctx, kind):
    """The full-batch training loss at the run's initial weights, written here."""
    split, weights, config = setup(params, ctx)
    x, y = split.x_train, split.y_train

    def loss(p):
        logits = forward(p, x, config.activation)
        if kind == "ce":
            return -torch.log_softmax(logits, 1).gather(1, y[:, None]).mean()
        scale = params["scale"][0]
        return scale * ((torch.softmax(logits, 1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)) ** 2).mean()

    return loss, weights


@pytest.mark.parametrize(
    "task, values, kind",
    [
        ("mlp", {}, "ce"),
        # the clipped backward is not the loss's derivative: the spectrum is the plain cross-entropy's
        ("clipped-ce", {"clip": "0.0001", "compare": "false"}, "ce"),
        ("scaled-mse", {"scale": "10", "compare": "false"}, "mse"),
    ],
)
def test_each_training_task_measures_the_spectrum_of_its_loss(task, values, kind):
    params, ctx, result = run_task(task, **values)
    assert result.status == "ok", result.message
    spectrum = result.artifacts["spectrum"]
    assert [s["step"] for s in spectrum["steps"]] == [0]
    found = spectrum["steps"][0]
    loss, weights = initial_loss(task, params, ctx, kind)
    eigenvalues = exact_eigenvalues(loss, weights)
    assert_matches(found, eigenvalues)
    assert result.metrics["spectrum_top"] == found["top"][0]
    assert result.metrics["spectrum_trace"] == found["trace"]
    assert result.metrics["spectrum_trace_se"] == found["trace_se"]


def test_the_metrics_are_those_of_the_last_spectrum_and_end_is_after_the_last_update():
    _, _, result = run_task("mlp", spectrum_at="end,0,2", dtype="float32")
    steps = result.artifacts["spectrum"]["steps"]
    assert [s["step"] for s in steps] == [0, 2, 4]
    assert result.metrics["spectrum_top"] == steps[-1]["top"][0]
    assert all(abs(sum(s["mass"]) - 1) < 1e-6 for s in steps)
    # the weights moved between the measurements: the spectra differ
    assert steps[0]["top"][0] != steps[-1]["top"][0]


def test_off_measures_nothing():
    _, _, result = run_task("mlp", spectrum_at="off")
    assert "spectrum" not in result.artifacts
    assert result.metrics["spectrum_top"] is None and result.metrics["spectrum_trace"] is None
    assert render_text(view("mlp"), [("", result.series, result.artifacts)]) is None


@pytest.mark.parametrize(
    "optimizer, lr, beta, edge",
    [
        ("gd", 20.0, 0.0, 2 / 20.0),  # far above the edge
        ("gd", 1e-3, 0.0, 2 / 1e-3),  # far below
        ("momentum", 0.5, 0.5, 2 * (1 + 0.5) / 0.5),  # 2 (1 + beta) / lr
    ],
)
def test_the_finding_states_the_top_against_the_edge_of_the_run(optimizer, lr, beta, edge):
    params, ctx, result = run_task("mlp", optimizer=optimizer, lr=str(lr), beta=str(beta), steps="1")
    finding = result.artifacts["spectrum"]["finding"]
    loss, weights = initial_loss("mlp", params, ctx, "ce")
    top = float(exact_eigenvalues(loss, weights)[-1])
    assert finding["edge"] == pytest.approx(edge, rel=1e-12)
    assert finding["ratio"] == pytest.approx(top / edge, rel=0.01)
    expected = "beyond" if top > edge else "near" if top >= EDGE_NEAR * edge else "below"
    assert finding["verdict"] == expected
    assert any(o.startswith("Hessian spectrum at step 0") and f"{edge:.3g}" in o for o in result.observations)


@pytest.mark.parametrize(
    "text, message",
    [
        ("x", "whole steps or 'end'"),
        ("0,0", "lists step 0 twice"),
        ("end,end", "lists 'end' twice"),
        ("-1", ">= 0"),
        ("1.5", "whole steps or 'end'"),
        ("5", "past the run's end (steps = 4)"),
        (",".join(map(str, range(17))), "at most 16"),
    ],
)
@pytest.mark.parametrize("task", ["mlp", "clipped-ce", "scaled-mse"])
def test_the_spec_refuses_bad_steps(task, text, message):
    spec = TASKS[task].spec
    with pytest.raises(ParamError) as caught:
        spec.parse({"steps": "4", "spectrum_at": text})
    assert caught.value.param == "spectrum_at" and message in caught.value.message
    assert message in spec.errors({"steps": "4", "spectrum_at": text})["spectrum_at"]


def test_the_spec_reads_steps_end_and_off():
    spec = TASKS["mlp"].spec
    assert spec.parse({})["spectrum_at"] == ()  # off by default: each spectrum costs ~750 steps
    assert spec.parse({"spectrum_at": "end, 500 0"})["spectrum_at"] == (0, 500, "end")
    assert spec.parse({"spectrum_at": "off"})["spectrum_at"] == spec.parse({"spectrum_at": ""})["spectrum_at"] == ()
    param = spec["spectrum_at"]
    for value in [(0, "end"), (), (3, 7)]:
        assert param.parse(param.format(value)) == value
        assert param.parse(param.to_json(value)) == value  # JSON round trip
    assert param.sweep_values("0,end;off") == [(0, "end"), ()]


def view(task):
    return next(v for v in TASKS[task].views if v.kind == "spectrum")


def plot_area(text):
    """The lines inside the frame, without the frame and the tick labels."""
    lines = text.splitlines()
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    left = lines[top].index("┌")
    return [line[left + 1 :].rstrip().removesuffix("│") for line in lines[top + 1 : bottom]]


@pytest.mark.parametrize("task", ["mlp", "clipped-ce", "scaled-mse"])
def test_the_view_marks_the_edge_and_the_top_and_names_every_mark_at_80x24(task):
    extra = {} if task == "mlp" else {"compare": "false"}
    params, ctx, _ = run_task(task, spectrum_at="off", **extra)
    top = float(exact_eigenvalues(*initial_loss(task, params, ctx, "ce" if task != "scaled-mse" else "mse"))[-1])
    lr = float(f"{0.7 / top:.2g}")  # the edge 2/lr ~ 2.9 x the top: on the plot, right of the spectrum
    _, _, result = run_task(task, dtype="float32", spectrum_at="0,end", optimizer="gd", lr=str(lr), **extra)
    spectrum = result.artifacts["spectrum"]
    text = render_text(view(task), [("", result.series, result.artifacts)], 80, 24)
    legend = [line.strip() for line in text.splitlines() if line.startswith("  ") and not line.strip()[:1].isdigit()]
    legend = legend[-4:]
    last = spectrum["steps"][-1]
    assert legend[0].endswith("step 0") and legend[1].endswith("step 4")
    assert legend[2].startswith("v top-3 (step 4): ")
    assert legend[3] == f"| stability edge 2/lr = {short_number(2 / lr)}"
    # the marks are drawn: the top eigenvalues along the top row, the edge as a column
    area = plot_area(text)
    assert "v" in area[0]
    assert sum("|" in line for line in area) >= len(area) - 1
    edge_column = {line.index("|") for line in area if "|" in line}
    assert len(edge_column) == 1
    mark_column = area[0].index("v")
    assert last["top"][0] < spectrum["edge"] and mark_column < next(iter(edge_column))
    assert len(text.splitlines()) == 24 + 4  # the picture, then one line per legend entry


def test_an_edge_far_off_is_named_not_drawn():
    _, _, result = run_task("mlp", dtype="float32", optimizer="gd", lr="1e-4")
    text = render_text(view("mlp"), [("", result.series, result.artifacts)], 80, 24)
    assert "> stability edge 2/lr = 20k, off the plot to the right" in text
    assert not any("|" in line for line in plot_area(text))


def test_several_runs_each_show_their_last_spectrum_and_edge():
    runs = []
    for lr in ("0.5", "1"):
        _, _, result = run_task("mlp", dtype="float32", optimizer="gd", lr=lr, spectrum_at="0,end")
        runs.append((f"lr={lr}", result.series, result.artifacts))
    text = render_text(view("mlp"), runs, 80, 24)
    for label, edge in (("lr=0.5", "4"), ("lr=1", "2")):
        assert f"{label}: step 4" in text and f"top-3 (step 4, {label})" in text
        assert f"stability edge 2/lr = {edge} ({label})" in text


def test_the_report_draws_the_spectrum_as_text(tmp_path):
    from lab4.present.report import _plots

    _, _, result = run_task("mlp", dtype="float32", spectrum_at="end")
    text = "\n".join(_plots(TASKS["mlp"], [("", result)]))
    assert "*Spectrum*" in text and "Loss Hessian spectrum" in text and "top-3 (step 4)" in text


@pytest.mark.parametrize("spectrum_at", ["off", "5", "end"])
def test_weights_that_overflow_are_a_divergence_not_an_error(spectrum_at):
    """lr = 100 with momentum overflows the weights between two flushes of the loss: the
    curvature measured there (the sharpness at the end, a spectrum) must leave the verdict to
    the loss check (diverged), not end the run in a FloatingPointError."""
    _, _, result = run_task(
        "mlp",
        dtype="float32",
        optimizer="momentum",
        lr="100",
        steps="30",
        samples="40",
        hidden="8",
        sharpness_every="100",
        spectrum_at=spectrum_at,
    )
    assert result.status == "diverged", result.message
    assert "loss is no longer finite" in result.message
