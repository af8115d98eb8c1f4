"""A figure of the bench: what was measured, against which baseline, and the target."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Row", "ratio_row"]


@dataclass
class Row:
    figure: str
    ours: float | None
    baseline: float | None
    ratio: float | None
    target: str
    met: bool | None
    unit: str = "s"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("ours", "baseline", "ratio"):
            if isinstance(data[key], float) and not math.isfinite(data[key]):
                data[key] = None
        return data


def ratio_row(figure: str, ours: float, base: float, limit: float, target: str) -> Row:
    ratio = ours / base if base > 0 else math.nan
    return Row(figure, ours, base, ratio, target, ratio <= limit)
