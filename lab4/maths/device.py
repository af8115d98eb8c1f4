"""Devices and dtypes as torch sees them: which devices this machine has, and the context a
task runs in, with its torch device and dtype.  Torch is imported only to ask the machine
(:func:`machine_info`, which a compute worker sends so that the app never imports it), or
when a run asks for its torch device or dtype."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from lab4.core.context import DEVICE_SYNTAX, RunContext
from lab4.core.spec import ParamError

__all__ = ["machine_info", "parse_device", "device_label", "TorchContext", "on_torch"]


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
    match = DEVICE_SYNTAX.match(value)
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
