"""Coordinate grids on [-1, 1] with square cells (isotropic)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def axis_extents(shape: tuple[int, ...]) -> tuple[float, ...]:
    """Half-extent of each axis: the longest spans [-1, 1], the others keep the same spacing.

    Example: shape (512, 768) gives (511/767, 1.0), so rows span [-0.666, 0.666].
    """
    if not shape or min(shape) < 1:
        raise ValueError(f"a grid needs at least one sample per axis, got shape {shape}")
    longest = max(shape)
    if longest == 1:
        return tuple(0.0 for _ in shape)
    return tuple((n - 1) / (longest - 1) for n in shape)


def grid_spacing(shape: tuple[int, ...]) -> float:
    """Distance between neighbouring samples, in coordinate units (the same along every axis)."""
    longest = max(shape)
    return 2.0 / (longest - 1) if longest > 1 else 1.0


def grid_coordinates(
    shape: tuple[int, ...],
    *,
    start: int = 0,
    stop: int | None = None,
    extents: tuple[float, ...] | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Sample coordinates of a grid, shape (stop - start, len(shape)), float32, row-major.

    Rows start..stop of the flattened grid (all of it by default), so a large grid can be
    produced chunk by chunk. Axis i spans [-extents[i], extents[i]]; by default the isotropic
    `axis_extents(shape)`; pass a source's extents to resample its domain at another size.
    Axis order follows array indexing: column 0 is the row (y downwards for images), column 1
    the column (x), column 2 the depth or time.
    """
    total = math.prod(shape)
    stop = total if stop is None else min(stop, total)
    sizes = torch.tensor(shape, dtype=torch.int64)
    strides = torch.tensor([math.prod(shape[i + 1 :]) for i in range(len(shape))], dtype=torch.int64)
    index = torch.arange(start, stop, dtype=torch.int64)
    ijk = (index[:, None] // strides) % sizes
    half = torch.tensor(extents if extents is not None else axis_extents(shape), dtype=torch.float64)
    unit = torch.where(sizes > 1, 2 * ijk / (sizes - 1).clamp(min=1) - 1, torch.zeros((), dtype=torch.float64))
    return (unit * half).to(device=device, dtype=torch.float32)
