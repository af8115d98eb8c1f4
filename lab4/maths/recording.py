"""Per-step values kept on the device and copied to the host in blocks.

A step loop writes ``recorder.record(t, loss=..., ...)`` (tensor writes, no host sync) and
calls ``recorder.flush(t + 1)`` every few steps; ``flush`` yields
:class:`~lab4.core.events.Points` for each series and a :class:`~lab4.core.events.Progress`, and
raises :class:`~lab4.core.events.Diverged` at the first non-finite value of the watched series,
after emitting the finite part.  One ``tolist()`` per block replaces one ``.item()`` per
step, which matters on CUDA.
"""

from __future__ import annotations

import math
from array import array
from typing import Any, Iterator

import torch

from lab4.core.events import Diverged, Points, Progress

__all__ = ["StepRecorder"]


class StepRecorder:
    def __init__(
        self,
        names: tuple[str, ...],
        steps: int,
        device: Any,
        dtype: Any,
        watch: str,
        hint: str = "",
        prefix: str = "",
        suffix: str = "",
        total: int | None = None,
        offset: int = 0,
        growth: float | None = None,
    ):
        self.names = names
        self.buffers = {n: torch.full((steps + 1,), math.nan, dtype=dtype, device=device) for n in names}
        self.watch = watch
        self.hint = hint
        self.prefix = prefix
        self.suffix = suffix
        self.steps = steps
        self.total = total if total is not None else steps
        self.offset = offset
        self.done = 0
        #: every recorded value on the host in a typed array: 4 bytes a value for float32 (exact
        #: there), 8 for float64; a list of floats takes 32 (a 10,000,000-step run keeps two or
        #: three of these)
        self.host: dict[str, array[float]] = {n: array("f" if dtype == torch.float32 else "d") for n in names}
        #: the watched value above ``growth`` times its first value also diverged
        self.growth = growth

    def record(self, t: int, **values: Any) -> None:
        for name, value in values.items():
            self.buffers[name][t] = value

    def series_name(self, name: str) -> str:
        return f"{self.prefix}{name}{self.suffix}"

    def flush(self, upto: int) -> Iterator[Any]:
        start = self.done
        if upto <= start:
            return
        blocks = {n: b[start:upto].tolist() for n, b in self.buffers.items()}
        watched = blocks[self.watch]
        bad = next((i for i, v in enumerate(watched) if not math.isfinite(v)), None)
        grew = None
        if self.growth is not None and watched:
            first = self.host[self.watch][0] if self.host[self.watch] else watched[0]
            limit = self.growth * abs(first)
            grew = next((i for i, v in enumerate(watched[:bad]) if abs(v) > limit), None) if limit > 0 else None
            bad = grew if grew is not None else bad
        keep = len(watched) if bad is None else bad
        self.done = start + keep
        if keep:
            xs = list(range(start, start + keep))
            for name, values in blocks.items():
                values = values[:keep]
                self.host[name].extend(values)
                finite = [(x, v) for x, v in zip(xs, values) if math.isfinite(v)]
                if finite:
                    yield Points(self.series_name(name), [x for x, _ in finite], [v for _, v in finite])
        yield Progress(self.offset + max(0, self.done - 1), self.total)
        if grew is not None:
            raise Diverged(start + bad, f"{self.watch} grew more than {self.growth:.0e} x its start; {self.hint}")
        if bad is not None:
            raise Diverged(start + bad, self.hint)

    def check(self, ctx: Any, upto: int) -> Iterator[Any]:
        """``ctx.check()``, after handing over what was recorded: a cancelled run keeps it all."""
        if ctx.cancelled:
            yield from self.flush(upto)
            ctx.check()
