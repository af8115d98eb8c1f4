"""Wall-clock timing of torch work: a median of repeats after a warm-up, synchronised on CUDA.

Used by ``lab4 bench`` and by the ``derivatives`` task's gradient-cost curve.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

__all__ = ["sync", "median_time"]


def sync(device: str) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def median_time(fn: Callable[[], Any], repeats: int, device: str, warmup: int = 1) -> float:
    """Seconds per call of ``fn``: the median of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)
