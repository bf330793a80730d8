"""Evaluating a field on a grid in bounded-memory chunks."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sirenkit.signals.grid import grid_coordinates

DEFAULT_CHUNK = 65536


def evaluate_grid(
    field: nn.Module,
    shape: tuple[int, ...],
    *,
    extents: tuple[float, ...] | None = None,
    chunk: int = DEFAULT_CHUNK,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Φ on the grid of `shape`, returned on the CPU as (*shape, c), float32.

    The grid is isotropic unless `extents` (half-width per axis) says otherwise.

    At most `chunk` points are evaluated at once and their coordinates are made on the fly,
    so working memory is bounded whatever the size; only the output is held whole.
    """
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    total = math.prod(shape)
    field = field.to(device)
    parts = []
    with torch.no_grad():
        for begin in range(0, total, chunk):
            x = grid_coordinates(shape, start=begin, stop=begin + chunk, extents=extents, device=device)
            parts.append(field(x).float().cpu())
    return torch.cat(parts).reshape(*shape, -1)
