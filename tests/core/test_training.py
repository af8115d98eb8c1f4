"""Training tasks: explicit updates vs torch.optim.SGD, equivalences, datasets, defaults."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lab4.core.context import RunContext
from lab4.engine.runner import execute, sweep
from lab4.maths.datasets import DatasetError, check_dataset, load, prepare
from lab4.maths.training import TrainConfig, forward, init_mlp, train
from lab4.tasks import TASKS


def run(task, dtype="float32", seed=0, **params):
    return execute(task, TASKS[task].spec.parse(params), RunContext(dtype=dtype, seed=seed))


def _drain(gen):
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def _split(name="moons", n=120, seed=0):
    return prepare(load(name, n, 0.1, seed), 0.25, seed, "cpu", torch.float64)


@pytest.mark.parametrize("optimizer, nesterov", [("momentum", False), ("nesterov", True), ("gd", False)])
def test_explicit_updates_follow_torch_sgd(optimizer, nesterov):
    split = _split()
    sizes = [2, 16, 16, 2]
    lr, beta, steps = 0.05, 0.9, 40
    ours = init_mlp(sizes, "tanh", 5, "cpu", torch.float64)
    ref = [w.clone().requires_grad_(True) for w in ours]
    config = TrainConfig(optimizer, lr, beta if optimizer != "gd" else 0.0, steps, 0, "tanh")
    summary = _drain(train(split, ours, F.cross_entropy, config, RunContext(dtype="float64")))
    opt = torch.optim.SGD(ref, lr=lr, momentum=beta if optimizer != "gd" else 0.0, nesterov=nesterov)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(forward(ref, split.x_train, "tanh"), split.y_train).backward()
        opt.step()
    if nesterov:
        # SGD(nesterov=True) keeps the look-ahead point w + beta v as its parameter; v = -lr * buffer
        ref = [p - beta * (-lr * opt.state[p]["momentum_buffer"]) for p in ref]
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b.detach(), rtol=1e-9, atol=1e-11)
    assert summary["losses"][0] == pytest.approx(
        F.cross_entropy(
            forward(init_mlp(sizes, "tanh", 5, "cpu", torch.float64), split.x_train, "tanh"), split.y_train
        ).item()
    )


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_beta_zero_is_gd_exactly(optimizer):
    a = run("mlp", optimizer="gd", steps=60, hidden="16", dataset="moons")
    b = run("mlp", optimizer=optimizer, beta=0.0, steps=60, hidden="16", dataset="moons")
    assert a.series["loss"] == b.series["loss"]
    assert a.metrics == b.metrics


def test_scale_s_equals_lr_times_s_for_plain_gd():
    split = _split()
    from lab4.maths.losses import scaled_mse

    sizes = [2, 8, 2]
    init = init_mlp(sizes, "relu", 1, "cpu", torch.float64)
    w_scaled = [w.clone() for w in init]
    w_lr = [w.clone() for w in init]
    ctx = RunContext(dtype="float64")
    _drain(train(split, w_scaled, lambda z, y: scaled_mse(z, y, 8.0), TrainConfig("gd", 0.05, 0.0, 50, 0, "relu"), ctx))
    _drain(train(split, w_lr, lambda z, y: scaled_mse(z, y, 1.0), TrainConfig("gd", 0.4, 0.0, 50, 0, "relu"), ctx))
    for a, b in zip(w_scaled, w_lr):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_spiral_defaults_teach_momentum_beats_gd():
    gd = run("mlp", optimizer="gd")
    mom = run("mlp", optimizer="momentum")
    assert mom.metrics["train_accuracy"] >= 0.95
    first = lambda r: next(i for i, a in enumerate(r.series["train_accuracy"]["y"]) if a >= 0.95)  # noqa: E731
    assert first(mom) * 2 < first(gd)  # "visibly faster" at the same lr


def test_sweep_over_optimizer_starts_from_the_same_weights():
    spec = TASKS["mlp"].spec
    results = list(sweep("mlp", spec.parse({"steps": 5, "hidden": "8"}), {"optimizer": ["gd", "momentum", "nesterov"]}))
    initial = {r.series["loss"]["y"][0] for _, r in results}
    assert len(initial) == 1


def test_clipped_ce_c1_clips_nothing_small_c_changes_trajectory():
    r1 = run("clipped-ce", steps=60, hidden="16")
    assert r1.metrics["clip_fraction"] == 0.0
    table = r1.tables["comparison"]["rows"]
    assert table[0][1] == table[1][1]  # clipped c=1 ends exactly where unclipped does
    assert any("so nothing was clipped" in o for o in r1.observations)
    small = run("clipped-ce", steps=60, hidden="16", clip=1e-4)
    assert small.metrics["clip_fraction"] > 0.1
    assert small.series["loss"]["y"] != small.series["loss [unclipped]"]["y"]
    assert len(small.series["clip_fraction"]["y"]) == 60


@pytest.mark.parametrize("site", ["logits", "params"])
def test_clipped_fraction_is_counted_where_the_site_says(site):
    """The first update's clipped fraction is the share of entries above c of the gradient at the
    site, computed here with F.cross_entropy and autograd at the initial weights (full batch)."""
    from lab4.tasks.mlp import setup

    c = 2e-3
    params = TASKS["clipped-ce"].spec.parse(
        {"steps": 1, "hidden": "16", "clip": c, "clip_site": site, "compare": False, "sharpness_every": 0}
    )
    ctx = RunContext(dtype="float64")
    r = execute("clipped-ce", params, ctx)
    split, weights, _ = setup(params, ctx)
    weights = [w.detach().requires_grad_(True) for w in weights]
    logits = forward(weights, split.x_train, "relu")
    wrt = [logits] if site == "logits" else weights
    grads = torch.autograd.grad(F.cross_entropy(logits, split.y_train), wrt)
    entries = torch.cat([g.flatten() for g in grads])
    expected = float((entries.abs() > c).double().mean())
    assert 0 < expected < 1  # c cuts the entries at this site in two
    assert r.series["clip_fraction"]["y"][0] == pytest.approx(expected, abs=0.5 / entries.numel())


def test_minibatches_sample_every_point_once_per_epoch():
    """With batch_size B, the loss of step t is the mean over batch t; B dividing the 450
    training points, one epoch's batch losses average to the full-batch loss (weights barely
    move at lr = 1e-9), while single batches differ from it."""
    from lab4.tasks.mlp import setup

    params = TASKS["mlp"].spec.parse(
        {"steps": 9, "batch_size": 50, "hidden": "16", "optimizer": "gd", "lr": 1e-9, "sharpness_every": 0}
    )
    ctx = RunContext(dtype="float64")
    r = execute("mlp", params, ctx)
    split, weights, _ = setup(params, ctx)
    assert split.x_train.shape[0] == 9 * 50
    full = F.cross_entropy(forward(weights, split.x_train, "relu"), split.y_train).item()
    batches = list(r.series["loss"]["y"])[:9]
    assert sum(batches) / 9 == pytest.approx(full, rel=1e-6)
    assert max(abs(b - full) for b in batches) > 1e-3 * full  # not the full batch each time
    assert list(r.series["loss"]["y"])[9] == pytest.approx(full, rel=1e-6)  # the end: the full train loss


def test_scaled_mse_compares_every_scale_and_cross_entropy():
    r = run("scaled-mse", steps=40, hidden="16", scale="1,10")
    assert set(r.metrics["variants"]) == {"S=1", "S=10", "cross-entropy"}
    assert "loss [S=10]" in r.series and "loss [cross-entropy]" in r.series
    starts = {r.series[name]["y"][0] / s for name, s in (("loss", 1), ("loss [S=10]", 10))}
    assert max(starts) == pytest.approx(min(starts), rel=1e-5)  # same initial weights, loss linear in S


def test_divergence_stops_with_status_and_step():
    r = run("mlp", lr=1e4, steps=200, optimizer="momentum", hidden="16")
    assert r.status == "diverged"
    assert r.step is not None and r.step >= 1
    assert all(math.isfinite(v) for v in r.series["loss"]["y"])


def test_seeds_reproduce():
    a = run("mlp", steps=30, seed=4, hidden="8")
    b = run("mlp", steps=30, seed=4, hidden="8")
    c = run("mlp", steps=30, seed=5, hidden="8")
    assert a.series == b.series and a.series != c.series


def test_minibatches_and_decision_boundary():
    r = run("mlp", steps=40, batch_size=32, hidden="16", dataset="circles")
    assert r.status == "ok"
    grid = r.artifacts["decision_boundary"]
    assert len(grid["classes"]) == len(grid["y"]) and set(np.unique(grid["classes"])) <= {0, 1}


def test_iris_shipped_and_standardised():
    data = load("iris")
    assert data.x.shape == (150, 4) and len(data.classes) == 3
    split = prepare(data, 0.25, 0, "cpu", torch.float64)
    assert torch.allclose(split.x_train.mean(0), torch.zeros(4, dtype=torch.float64), atol=1e-12)
    assert split.x_test.shape[0] == 38


@pytest.mark.parametrize(
    "content, words",
    [
        ("a,b,label\n1,2,x\n3,4,y\n5,6\n7,8,x\n9,1,y\n", "ragged"),
        ("1,2,x\n3,abc,y\n5,6,x\n7,8,y\n", "not a finite number"),
        ("1,2,x\n3,4,x\n5,6,x\n7,8,x\n", "single class"),
        ("", "empty"),
    ],
)
def test_bad_csv_messages(tmp_path, content, words):
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=words):
        check_dataset(str(path))


def test_user_csv_trains(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    y = np.where(x[:, 0] + x[:, 1] > 0, "pos", "neg")
    path = tmp_path / "mine.csv"
    path.write_text("a,b,c,label\n" + "\n".join(f"{a},{b},{c},{label}" for (a, b, c), label in zip(x, y)))
    r = run("mlp", dataset=str(path), steps=100, hidden="8")
    assert r.status == "ok" and r.metrics["train_accuracy"] > 0.9
