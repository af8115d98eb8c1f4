"""The run context: device, dtype, seed, and a cancellation flag, as plain values.

``parse_dtype`` and ``parse_seed`` validate what users type at the boundary, with the same
:class:`~lab4.core.spec.ParamError` as task parameters.  The torch side (resolving a device,
the torch dtype) is :mod:`lab4.maths.device`.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from lab4.core.events import Cancelled
from lab4.core.spec import ParamError

__all__ = [
    "RunContext",
    "parse_dtype",
    "parse_seed",
    "parse_jobs",
    "jobs_count",
    "device_syntax",
    "DTYPES",
    "DEVICE_SYNTAX",
]

DTYPES = ("float32", "float64")
#: what a device may be written as (``lab4.maths.device.parse_device`` checks the machine has it)
DEVICE_SYNTAX = re.compile(r"(cpu|cuda|mps|auto)(:\d{1,3})?\Z")


def parse_dtype(text: Any) -> str:
    value = str(text).strip().lower()
    aliases = {"float": "float32", "f32": "float32", "double": "float64", "f64": "float64"}
    value = aliases.get(value, value)
    if value not in DTYPES:
        raise ParamError("dtype", f"dtype must be float32 or float64, got {str(text)[:30]!r}")
    return value


def parse_seed(text: Any) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ParamError("seed", f"seed must be a whole number, got {str(text)[:30]!r}") from None
    if not 0 <= value < 2**63:
        raise ParamError("seed", f"seed must be >= 0 and < 2**63, got {value}")
    return value


def parse_jobs(text: Any) -> int | str:
    """How many runs compute at once: a whole number from 1 to 1024, or ``"auto"`` (one per
    core, resolved where the runs start: :func:`jobs_count`)."""
    if isinstance(text, int) and not isinstance(text, bool) and 1 <= text <= 1024:
        return text
    value = str(text).strip().lower()
    if value == "auto":
        return "auto"
    if re.fullmatch(r"[0-9]{1,5}", value) and 1 <= int(value) <= 1024:  # not isdigit(): "²" is one
        return int(value)
    raise ParamError("jobs", f"jobs must be a whole number from 1 to 1024, or auto; got {str(text)[:30]!r}")


def jobs_count(jobs: int | str) -> int:
    """A :func:`parse_jobs` value as a number (``auto``: the cores)."""
    return (os.cpu_count() or 1) if jobs == "auto" else int(jobs)


def device_syntax(text: Any) -> str:
    """A device string checked for its form only (no torch): ``cuda`` -> ``cuda``; the
    machine is asked later (:func:`parse_device`), by whoever has torch."""
    value = str(text).strip().lower()
    match = DEVICE_SYNTAX.match(value)
    if not match:
        raise ParamError("device", f"device must be cpu, cuda, cuda:N, mps or auto; got {str(text)[:30]!r}")
    if match.group(1) == "cpu" and match.group(2):
        raise ParamError("device", "device cpu takes no index")
    return value


@dataclass
class RunContext:
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    cancel_event: threading.Event = field(default_factory=threading.Event)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        self.cancel_event.set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop; loops call this often."""
        if self.cancel_event.is_set():
            raise Cancelled()
