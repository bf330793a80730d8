"""The result both derivative paths return."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class Jet:
    """A field's value and, up to the requested order, its gradient and Laplacian at some points;
    `second`, the unmixed second derivatives ∂²Φ/∂x_i² (..., c, d), where the path gives them
    (autograd: `jet(..., second=True)`)."""

    value: Tensor
    gradient: Tensor | None = None
    laplacian: Tensor | None = None
    second: Tensor | None = None

    def required(self, name: str) -> Tensor:
        part = getattr(self, name)
        if part is None:
            raise ValueError(f"this jet was computed without the {name}")
        return part
