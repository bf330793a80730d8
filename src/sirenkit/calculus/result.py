"""The result both derivative paths return."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class Jet:
    """A field's value and, up to the requested order, its gradient and Laplacian at some points."""

    value: Tensor
    gradient: Tensor | None = None
    laplacian: Tensor | None = None

    def required(self, name: str) -> Tensor:
        part = getattr(self, name)
        if part is None:
            raise ValueError(f"this jet was computed without the {name}")
        return part
