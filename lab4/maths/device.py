"""Devices and dtypes as torch sees them: which devices this machine has, and the context a
task runs in, with its torch device and dtype.  Torch is imported only when a device other
than the CPU is resolved, or when a run asks for its torch dtype."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from lab4.core.context import DEVICE_SYNTAX, RunContext
from lab4.core.spec import ParamError

__all__ = ["parse_device", "device_label", "TorchContext", "on_torch"]


def parse_device(text: Any) -> str:
    """Check a device string and that the machine has it; return the resolved device.

    ``auto`` picks cuda, then mps, then cpu.  ``cuda`` means ``cuda:0``.
    """
    value = str(text).strip().lower()
    match = DEVICE_SYNTAX.match(value)
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
class TorchContext(RunContext):
    """A :class:`RunContext` that also says its device and dtype as torch objects (what a
    task's ``run`` receives)."""

    @property
    def torch_dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype)

    @property
    def torch_device(self) -> Any:
        import torch

        return torch.device(self.device)


def on_torch(ctx: RunContext) -> TorchContext:
    """``ctx`` as a :class:`TorchContext`, sharing its cancellation flag."""
    if isinstance(ctx, TorchContext):
        return ctx
    return TorchContext(**{f.name: getattr(ctx, f.name) for f in fields(ctx)})
