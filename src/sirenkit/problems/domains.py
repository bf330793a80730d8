"""Domains Ω with samplers: a finite point set with data, and the uniform distribution in a box."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from sirenkit.problems.base import Batch


@dataclass
class PointSet:
    """A finite domain: points x of shape (N, d) with data a(x), each (N, ...).

    Sampling n points draws n indices uniformly with replacement, fresh each step; n=None
    (or n >= N) gives every point in order. Pixels of an image, the pixels under a mask,
    the border of an image and the points of a point cloud are all point sets.
    """

    x: Tensor
    data: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.x.dim() != 2 or self.x.shape[0] == 0:
            raise ValueError(f"a point set needs points of shape (N, d) with N > 0, got {tuple(self.x.shape)}")
        for name, value in self.data.items():
            if value.shape[0] != self.x.shape[0]:
                raise ValueError(f"data {name!r} has {value.shape[0]} rows for {self.x.shape[0]} points")

    def sample(self, n: int | None, generator: torch.Generator) -> Batch:
        count = self.x.shape[0]
        if n is None or n >= count:
            return Batch(self.x, dict(self.data))
        index = torch.randint(count, (n,), generator=generator).to(self.x.device)
        return Batch(self.x[index], {k: v[index] for k, v in self.data.items()})


@dataclass
class Box:
    """The axis-aligned box [low, high] ⊂ R^d, sampled uniformly; it carries no data."""

    low: Tensor
    high: Tensor

    def __post_init__(self) -> None:
        if self.low.shape != self.high.shape or self.low.dim() != 1 or not bool((self.high > self.low).all()):
            raise ValueError("a box needs 1-D low < high of the same length")

    @classmethod
    def cube(cls, dim: int, half: float = 1.0, device: torch.device | str | None = None) -> Box:
        """[-half, half]^dim."""
        return cls(torch.full((dim,), -half, device=device), torch.full((dim,), half, device=device))

    def sample(self, n: int | None, generator: torch.Generator) -> Batch:
        if n is None:
            raise ValueError("a box is infinite: give a number of points")
        u = torch.rand(n, self.low.shape[0], generator=generator).to(self.low.device)
        return Batch(self.low + u * (self.high - self.low))
