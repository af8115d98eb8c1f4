"""The run context: torch device, dtype, seed, and a cancellation flag.

``parse_device`` and ``parse_dtype`` validate what users type at the boundary, with the
same :class:`~lab4.spec.ParamError` as task parameters.  Torch is imported only when a
device is actually resolved.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from lab4.events import Cancelled
from lab4.spec import ParamError

__all__ = ["RunContext", "machine_info", "device_syntax", "parse_device", "parse_dtype", "parse_seed", "device_label", "DTYPES"]

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


def device_syntax(text: Any) -> str:
    """A device string checked for its form only (no torch): ``cuda`` -> ``cuda``; the
    machine is asked later (:func:`parse_device`), by whoever has torch."""
    value = str(text).strip().lower()
    match = _DEVICE.match(value)
    if not match:
        raise ParamError("device", f"device must be cpu, cuda, cuda:N, mps or auto; got {str(text)[:30]!r}")
    if match.group(1) == "cpu" and match.group(2):
        raise ParamError("device", "device cpu takes no index")
    return value


def machine_info() -> dict[str, Any]:
    """What :func:`parse_device` and :func:`device_label` need to know about the machine
    (imports torch): a compute worker sends it, so the app checks devices without torch."""
    import torch

    cuda = torch.cuda.is_available()
    names = []
    if cuda:
        for i in range(torch.cuda.device_count()):
            try:
                names.append(torch.cuda.get_device_name(i))
            except Exception:  # noqa: BLE001 - a name is a nicety
                names.append("")
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return {"cuda_built": torch.version.cuda is not None, "cuda_names": names, "mps": mps}


def parse_device(text: Any, machine: dict[str, Any] | None = None) -> str:
    """Check a device string and that the machine has it; return the resolved device.

    ``auto`` picks cuda, then mps, then cpu.  ``cuda`` means ``cuda:0``.  ``machine`` is
    :func:`machine_info` (computed here, importing torch, when not given).
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
    if machine is None:
        machine = machine_info()
    n = len(machine["cuda_names"])
    if kind == "auto":
        if n:
            return "cuda:0"
        if machine["mps"]:
            return "mps"
        return "cpu"
    if kind == "mps":
        if not machine["mps"]:
            raise ParamError("device", "device mps is not available on this machine (no Apple GPU)")
        return "mps"
    if not n:
        why = "this torch was built without CUDA" if not machine["cuda_built"] else "no CUDA GPU is visible"
        raise ParamError("device", f"device {value} is not available: {why}; choose cpu")
    i = int(index[1:]) if index else 0
    if i >= n:
        raise ParamError("device", f"device {value} does not exist: this machine has {n} CUDA device(s)")
    return f"cuda:{i}"


def device_label(device: str, machine: dict[str, Any] | None = None) -> str:
    """``cpu`` or ``cuda:0 (NVIDIA H100)`` for headers and reports; with ``machine``
    (:func:`machine_info`) without importing torch, else only when torch is already loaded."""
    if device.startswith("cuda"):
        try:
            i = int(device.partition(":")[2] or 0)
            if machine is None:
                import sys

                if "torch" not in sys.modules:
                    return device
                machine = machine_info()
            return f"{device} ({machine['cuda_names'][i]})"
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
