"""The run context: torch device, dtype, seed, and a cancellation flag.

``parse_device`` and ``parse_dtype`` validate what users type at the boundary, with the
same :class:`~lab4.core.spec.ParamError` as task parameters.  Torch is imported only when a
device is actually resolved.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from lab4.core.events import Cancelled
from lab4.core.spec import ParamError

__all__ = ["RunContext", "parse_device", "parse_dtype", "parse_seed", "device_label", "DTYPES"]

DTYPES = ("float32", "float64")
_DEVICE = re.compile(r"(cpu|cuda|mps|auto)(:\d{1,3})?\Z")


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


def parse_device(text: Any) -> str:
    """Check a device string and that the machine has it; return the resolved device.

    ``auto`` picks cuda, then mps, then cpu.  ``cuda`` means ``cuda:0``.
    """
    value = str(text).strip().lower()
    match = _DEVICE.match(value)
    if not match:
        raise ParamError("device", f"device must be cpu, cuda, cuda:N, mps or auto; got {str(text)[:30]!r}")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu":
        if index:
            raise ParamError("device", "device cpu takes no index")
        return "cpu"
    import torch

    if kind == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if kind == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ParamError("device", "device mps is not available on this machine (no Apple GPU)")
        return "mps"
    if not torch.cuda.is_available():
        why = "this torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ParamError("device", f"device {value} is not available: {why}; choose cpu")
    n = torch.cuda.device_count()
    i = int(index[1:]) if index else 0
    if i >= n:
        raise ParamError("device", f"device {value} does not exist: this machine has {n} CUDA device(s)")
    return f"cuda:{i}"


def device_label(device: str) -> str:
    """``cpu`` or ``cuda:0 (NVIDIA H100)`` for headers and reports."""
    if device.startswith("cuda"):
        try:
            import torch

            return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
        except Exception:  # noqa: BLE001 - a label never fails
            return device
    return device


@dataclass
class RunContext:
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    cancel_event: threading.Event = field(default_factory=threading.Event)

    @property
    def torch_dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype)

    @property
    def torch_device(self) -> Any:
        import torch

        return torch.device(self.device)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        self.cancel_event.set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop; loops call this often."""
        if self.cancel_event.is_set():
            raise Cancelled()
