"""Domains Ω with samplers: a finite point set with data (an image, a mask, a border), a grid with
data sampled on or between its nodes, the uniform distribution in a box, on its boundary and in a
ball (a disk in 2-D)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from sirenkit.problems.base import Batch
from sirenkit.signals.grid import axis_extents, grid_coordinates, grid_spacing


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
        index = self.indices(n, generator)
        if index is None:
            return Batch(self.x, dict(self.data))
        return Batch(self.x[index], {k: v[index] for k, v in self.data.items()})

    def indices(self, n: int | None, generator: torch.Generator) -> Tensor | None:
        """The rows `sample` takes: n drawn with replacement, or None for every row in order.
        They depend on N, n and the generator only, so point sets of one size that draw from one
        generator state draw the same rows (`problems.batched` draws once for all of them)."""
        count = self.x.shape[0]
        if n is None or n >= count:
            return None
        return torch.randint(count, (n,), generator=generator).to(self.x.device)


@dataclass
class RefinedSet(PointSet):
    """A collocation set that grows where the residual is largest: residual-based adaptive
    refinement (RAR; Lu, Meng, Mao & Karniadakis 2021, "DeepXDE"). It samples as a `PointSet`;
    `Problem.refine` draws candidates from `source` and `add`s those with the largest residual.
    It carries no data (its points come from a domain without data)."""

    source: object = None
    """The domain candidates are drawn from (a `Box`, a `BoxBoundary`, ...)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source is None or self.data:
            raise ValueError("a refined set needs a source domain and no data")

    def add(self, x: Tensor) -> None:
        """Append points (m, d)."""
        self.x = torch.cat([self.x, x.to(self.x.device, self.x.dtype)])


def box_bounds(low: Tensor | Sequence[float], high: Tensor | Sequence[float]) -> tuple[Tensor, Tensor]:
    """`low` and `high` of a box as 1-D tensors: plain numbers become float32 (on `low`'s device
    when it is a tensor); ValueError unless they have one length and low < high on every axis."""
    try:
        low = low if isinstance(low, Tensor) else torch.as_tensor(low, dtype=torch.float32)
        high = high if isinstance(high, Tensor) else torch.as_tensor(high, dtype=low.dtype, device=low.device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"a box's bounds must be numbers, got low={low!r}, high={high!r} ({error})") from None
    if low.shape != high.shape or low.dim() != 1 or not bool((high > low).all()):
        raise ValueError(f"a box needs 1-D low < high of the same length, got low={low.tolist()}, high={high.tolist()}")
    return low, high


@dataclass
class Box:
    """The axis-aligned box [low, high] ⊂ R^d, sampled uniformly; it carries no data. The bounds
    are tensors or plain numbers (`Box([0, 0], [1, 2])`), in the problem's own units."""

    low: Tensor
    high: Tensor

    def __post_init__(self) -> None:
        self.low, self.high = box_bounds(self.low, self.high)

    @classmethod
    def cube(cls, dim: int, half: float = 1.0, device: torch.device | str | None = None) -> Box:
        """[-half, half]^dim."""
        return cls(torch.full((dim,), -half, device=device), torch.full((dim,), half, device=device))

    def sample(self, n: int | None, generator: torch.Generator) -> Batch:
        if n is None:
            raise ValueError("a box is infinite: give a number of points")
        u = torch.rand(n, self.low.shape[0], generator=generator).to(self.low.device)
        return Batch(self.low + u * (self.high - self.low))


@dataclass
class BoxBoundary:
    """The boundary ∂[low, high] of an axis-aligned box in R^d, sampled uniformly by area.

    A point is drawn on a face chosen with probability proportional to the face's (d−1)-volume,
    then uniformly on that face. It carries no data. `axes` keeps only the faces across those
    axes and `sides` only their low or high faces: in a space-time box (x, t), axes=(0,) is the
    spatial boundary over all times and axes=(1,), sides="low" the initial slice t = low.
    """

    low: Tensor
    high: Tensor
    axes: tuple[int, ...] | None = None
    """The axes whose faces belong (None: all)."""
    sides: Literal["both", "low", "high"] = "both"

    def __post_init__(self) -> None:
        self.low, self.high = box_bounds(self.low, self.high)
        dim = self.low.shape[0]
        if self.axes is not None and (not self.axes or any(not 0 <= a < dim for a in self.axes)):
            raise ValueError(f"a box boundary's axes must be among 0..{dim - 1}, got {self.axes}")
        if self.sides not in ("both", "low", "high"):
            raise ValueError(f"a box boundary's sides are both, low or high, got {self.sides!r}")

    @classmethod
    def cube(cls, dim: int, half: float = 1.0, device: torch.device | str | None = None) -> BoxBoundary:
        """∂[-half, half]^dim."""
        box = Box.cube(dim, half, device)
        return cls(box.low, box.high)

    def sample(self, n: int | None, generator: torch.Generator) -> Batch:
        if n is None:
            raise ValueError("a box boundary is infinite: give a number of points")
        size = self.high - self.low  # (d,)
        dim = size.shape[0]
        face_area = torch.stack([torch.cat([size[:i], size[i + 1 :]]).prod() for i in range(dim)]).cpu()
        if self.axes is not None:
            face_area = face_area * torch.isin(torch.arange(dim), torch.tensor(self.axes))
        weights = torch.cat([face_area * (self.sides != "high"), face_area * (self.sides != "low")])
        axis = torch.multinomial(weights, n, replacement=True, generator=generator)  # (n,) in [0, 2d)
        u = torch.rand(n, dim, generator=generator).to(self.low.device)
        x = self.low + u * size
        side, axis = (axis // dim).to(self.low.device), (axis % dim).to(self.low.device)
        pinned = torch.where(side == 1, self.high[axis], self.low[axis])
        return Batch(x.scatter(1, axis[:, None], pinned[:, None]))


@dataclass
class Ball:
    """The ball |x − center| ≤ radius ⊂ R^d (a disk in 2-D, an interval in 1-D), sampled uniformly
    by volume; it carries no data. In the problem's own units, like `Box`."""

    center: Tensor
    radius: float

    def __post_init__(self) -> None:
        self.center = torch.as_tensor(self.center, dtype=torch.float32).reshape(-1)
        if not (self.radius > 0 and math.isfinite(self.radius)) or not bool(torch.isfinite(self.center).all()):
            raise ValueError(
                f"a ball needs a finite center and a positive radius, got {self.center.tolist()}, {self.radius}"
            )

    def sample(self, n: int | None, generator: torch.Generator) -> Batch:
        if n is None:
            raise ValueError("a ball is infinite: give a number of points")
        dim = self.center.shape[0]
        direction = torch.randn(n, dim, generator=generator)
        direction = direction / direction.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        length = self.radius * torch.rand(n, 1, generator=generator) ** (1 / dim)
        return Batch(self.center + (length * direction).to(self.center.device))


@dataclass
class Grid:
    """A 2-D or 3-D grid of samples with data, e.g. an image's pixels and their derivative targets.

    The nodes are those of `signals.grid_coordinates(shape)` (isotropic, row-major, spacing h);
    `data` maps a name to values at the nodes, each (N, ...) with N = prod(shape).

    - `jitter=False`: the nodes themselves: all of them in order for n=None, else n drawn with
      replacement (as a `PointSet`).
    - `jitter=True`: points off the nodes, fresh each step, with data interpolated (bi- or
      trilinearly) from the nodes, so that a constraint holds between the nodes too: for n=None
      one point uniformly in each node's cell [node − h/2, node + h/2] (clipped to the nodes'
      box; stratified, in node order), else n points uniformly in the nodes' box.
    """

    shape: tuple[int, ...]
    data: dict[str, Tensor] = field(default_factory=dict)
    jitter: bool = False
    nodes: PointSet = field(init=False)
    """The nodes with their data."""
    extents: Tensor = field(init=False)
    """(d,) half-extent of each axis (`signals.axis_extents`)."""

    def __post_init__(self) -> None:
        if len(self.shape) not in (2, 3) or min(self.shape) < 1:
            raise ValueError(f"a grid needs a 2-D or 3-D shape of positive sizes, got {self.shape}")
        self.nodes = PointSet(grid_coordinates(self.shape), dict(self.data))
        self.extents = torch.tensor(axis_extents(self.shape), dtype=torch.float32)

    def sample(self, n: int | None, generator: torch.Generator) -> Batch:
        if not self.jitter:
            return self.nodes.sample(n, generator)
        if n is None:
            offset = (torch.rand(self.nodes.x.shape, generator=generator) - 0.5) * grid_spacing(self.shape)
            x = torch.clamp(self.nodes.x + offset, -self.extents, self.extents)
        else:
            x = (2 * torch.rand(n, len(self.shape), generator=generator) - 1) * self.extents
        unit = torch.where(self.extents > 0, x / self.extents.clamp(min=1e-30), torch.zeros(()))  # [-1, 1] per axis
        return Batch(x, {name: _interpolate(value, self.shape, unit) for name, value in self.data.items()})


def _interpolate(values: Tensor, shape: tuple[int, ...], unit: Tensor) -> Tensor:
    """Multilinear interpolation of node values (N, ...) at points (n, d) in [-1, 1]^d (axis order as `shape`)."""
    channels = values.reshape(values.shape[0], -1).T.reshape(1, -1, *shape)  # (1, k, *shape)
    where = unit.flip(-1).reshape(1, -1, *([1] * (len(shape) - 1)), len(shape))  # grid_sample wants (x, y[, z])
    out = torch.nn.functional.grid_sample(channels.float(), where, mode="bilinear", align_corners=True)
    return out.reshape(channels.shape[1], -1).T.reshape(-1, *values.shape[1:]).to(values.dtype)


def collocation(domain, n: int, seed: int = 0) -> PointSet:
    """A fixed collocation set: n points drawn once from `domain` (with their data), as a point set.

    A constraint on it with `points=None` sees the same n points every step, as most PINN codes
    train; with `points=m` it draws m of them each step. The draw is its own seeded generator's,
    so it does not depend on the fit's sampler."""
    if n < 1:
        raise ValueError(f"a collocation set needs at least one point, got {n}")
    batch = domain.sample(n, torch.Generator().manual_seed(seed))
    return PointSet(batch.x, dict(batch.data))


def restrict(points: PointSet, keep: Tensor) -> PointSet:
    """The points of a point set (and their data) where the boolean `keep` of shape (N,) is true."""
    if keep.shape != points.x.shape[:1] or keep.dtype != torch.bool:
        raise ValueError(f"keep must be a boolean tensor of shape ({points.x.shape[0]},), got {tuple(keep.shape)}")
    if not bool(keep.any()):
        raise ValueError("restricting a point set to no points")
    return PointSet(points.x[keep], {k: v[keep] for k, v in points.data.items()})


def border_mask(shape: tuple[int, int], width: int = 1) -> Tensor:
    """(H·W,) booleans, row-major: true on the pixels within `width` of the image's edge."""
    height, cols = shape
    rows, columns = torch.meshgrid(torch.arange(height), torch.arange(cols), indexing="ij")
    inside = (rows >= width) & (rows < height - width) & (columns >= width) & (columns < cols - width)
    return (~inside).reshape(-1)
