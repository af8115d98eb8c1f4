"""Numerical and device faults end in a clear status, never a traceback."""

import math

import pytest
import torch

from lab4.core.context import RunContext
from lab4.core.spec import ParamError
from lab4.engine.runner import execute
from lab4.maths.device import parse_device
from lab4.tasks import TASKS


def run(task, **params):
    return execute(task, TASKS[task].spec.parse(params), RunContext())


@pytest.mark.parametrize(
    "task, params",
    [
        ("minimize", {"lr": 100.0, "dim": 10}),
        ("minimize", {"lr": 50.0, "complexity": 5, "optimizer": "nesterov"}),
        ("mlp", {"lr": 5000.0, "hidden": "16", "steps": 300}),
        ("scaled-mse", {"lr": 1e4, "hidden": "16", "steps": 200, "scale": "1000", "output": "logits"}),
    ],
)
def test_divergence_stops_with_step_hint_and_finite_series(task, params):
    r = run(task, **params)
    assert r.status == "diverged", r.message
    assert r.step is not None and r.step >= 1
    assert "lr" in r.message and "diverged at step" in r.describe()
    for series in r.series.values():
        assert all(math.isfinite(v) for v in series["y"])


def test_an_exception_inside_a_run_becomes_an_error_result(monkeypatch):
    import lab4.maths.landscapes

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(lab4.maths.landscapes, "generate_function", broken)
    r = run("minimize")
    assert r.status == "error" and "simulated failure" in r.message
    monkeypatch.undo()
    assert run("minimize", steps=5).status == "ok"


def test_out_of_memory_is_a_clear_message(monkeypatch):
    import lab4.maths.training

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setattr(lab4.maths.training, "init_mlp", oom)
    r = run("mlp", steps=5)
    assert r.status == "error"
    assert r.message.startswith("out of memory on the device") and "smaller" in r.message


def test_the_cpu_allocators_failure_gets_the_hint_not_its_source_line(monkeypatch):
    """Torch's CPU allocator fails with a RuntimeError whose first words are a C++ source line;
    the run's message is the allocator's sentence and what to try instead."""
    import lab4.maths.training

    def allocate(*args, **kwargs):
        return torch.empty(2**60, dtype=torch.uint8)  # an exabyte: a real allocation failure

    monkeypatch.setattr(lab4.maths.training, "init_mlp", allocate)
    r = run("mlp", steps=5)
    assert r.status == "error"
    assert r.message.startswith("not enough memory: ") and "try a smaller size" in r.message, r.message
    assert "enforce fail" not in r.message and "alloc_cpu.cpp" not in r.message
    assert f"{2**60} bytes" in r.message  # the size that was asked for stays


def test_absurd_size_on_cpu_is_refused_before_allocating():
    with pytest.raises(ParamError, match="dim must be <= 10000000"):
        TASKS["minimize"].spec.parse({"dim": "1e12"})
    with pytest.raises(ParamError, match="hidden values must be <= 8192"):
        TASKS["mlp"].spec.parse({"hidden": "100000"})


@pytest.mark.parametrize(
    "text, words",
    [("tpu", "device must be"), ("cuda:x", "device must be"), ("cpu:1", "takes no index"), ("", "device must be")],
)
def test_device_strings(text, words):
    with pytest.raises(ParamError, match=words):
        parse_device(text)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda():
    with pytest.raises(ParamError, match="not available"):
        parse_device("cuda")
    assert parse_device("auto") in ("cpu", "mps")


def test_float32_underflow_and_overflow_are_reported():
    r = run("derivatives", expr="exp(x)", derivative="exp(x)", start=-120, stop=100, points=221)
    text = " ".join(r.observations)
    assert r.status == "ok" and "overflowed" in text
    assert r.metrics["overflow_points"] == sum(1 for x in range(-120, 101) if x > 88)  # e^88.7 > float32 max
    r = run("derivatives", expr="exp(-x*x)", derivative="-2*x*exp(-x*x)", start=-20, stop=20, points=401)
    assert r.status == "ok" and math.isfinite(r.metrics["rmse_autograd"])
    # float32 exp underflows to 0 below about e^-103.9 (subnormals included): |x| > 10.2 here
    expected = sum(1 for k in range(401) if abs(-20 + k * 0.1) > 10.2 and math.exp(-((-20 + k * 0.1) ** 2)) > 0)
    assert abs(r.metrics["underflow_points"] - expected) <= 2
    assert any("underflowed" in o for o in r.observations)


def test_cancel_stops_within_one_flush():
    """The cancel flag is checked every step: a run stops at most one block after it."""
    ctx = RunContext()
    seen = {"steps": 0}

    def on_event(event):
        from lab4.core.events import Progress

        if isinstance(event, Progress) and event.step > 0 and not ctx.cancelled:
            seen["steps"] = event.step
            ctx.cancel()

    r = execute("mlp", TASKS["mlp"].spec.parse({"steps": 100000, "hidden": "8"}), ctx, on_event)
    assert r.status == "cancelled"
    # it stopped at the next step, and kept every step it computed
    assert len(r.series["loss"]["y"]) == seen["steps"] + 1 == r.step + 1
