"""Is a custom ``autograd.Function``'s backward the derivative of its forward?

:func:`check_loss` runs ``torch.autograd.gradcheck`` in float64 on a scalar loss of the
logits (and ``gradgradcheck`` where double backward is asked for), and measures the
largest error itself: the Function's backward against central differences of its own
forward, entry by entry.  The training tasks run it on their own initial logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["LossCheck", "check_loss", "confident_wrong_logits"]


@dataclass(frozen=True)
class LossCheck:
    what: str
    passed: bool
    largest_error: float
    where: tuple[int, int] | None
    second_order: bool | None  # gradgradcheck's verdict, None when not asked

    @property
    def verdict(self) -> str:
        if self.passed:
            return "passed"
        row, col = self.where or (0, 0)
        return f"failed: largest error {self.largest_error:.3g} at logit [{row}, {col}]"


def _numerical_gradient(loss: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """Central differences of a scalar function of a matrix, entry by entry (float64)."""
    grad = torch.empty_like(z)
    flat = z.detach().clone()
    with torch.no_grad():
        for i in range(flat.numel()):
            old = flat.view(-1)[i].item()
            flat.view(-1)[i] = old + h
            up = loss(flat).item()
            flat.view(-1)[i] = old - h
            down = loss(flat).item()
            flat.view(-1)[i] = old
            grad.view(-1)[i] = (up - down) / (2 * h)
    return grad


def check_loss(
    what: str, loss: Callable[[torch.Tensor], torch.Tensor], logits: torch.Tensor, second_order: bool = False
) -> LossCheck:
    """gradcheck of ``loss`` at ``logits`` (float64), with the largest measured error."""
    z = logits.detach().to(torch.float64).clone().requires_grad_(True)
    (analytic,) = torch.autograd.grad(loss(z), z)
    numeric = _numerical_gradient(loss, z)
    error = (analytic - numeric).abs()
    worst = int(error.argmax())
    passed = bool(torch.autograd.gradcheck(loss, (z,), raise_exception=False))
    twice = bool(torch.autograd.gradgradcheck(loss, (z,), raise_exception=False)) if second_order else None
    return LossCheck(what, passed, float(error.max()), divmod(worst, z.shape[1]) if z.dim() == 2 else (worst, 0), twice)


def confident_wrong_logits(classes: int, rows: int = 4, gap: float = 30.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits that put p ~ e^-gap on the true class: where log(p + 1e-9) is capped."""
    logits = torch.zeros(rows, classes, dtype=torch.float64)
    logits[:, 0] = gap
    target = torch.full((rows,), classes - 1, dtype=torch.long)
    return logits, target
