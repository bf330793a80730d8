"""Evaluating a field on a grid in bounded-memory chunks."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from sirenkit.signals.grid import grid_coordinates

DEFAULT_CHUNK = 65536


def map_grid(
    fn: Callable[[Tensor], Tensor],
    shape: tuple[int, ...],
    *,
    extents: tuple[float, ...] | None = None,
    chunk: int = DEFAULT_CHUNK,
    device: torch.device | str = "cpu",
) -> Tensor:
    """`fn` over the grid of `shape`, returned on the CPU as (*shape, k), float32.

    `fn` maps coordinates (n, d) on `device` to (n, k). The grid is isotropic unless `extents`
    (half-width per axis) says otherwise. At most `chunk` points are evaluated at once and their
    coordinates are made on the fly, so working memory is bounded whatever the size; only the
    output is held whole, written in place chunk by chunk (never a second copy).
    """
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    total = math.prod(shape)
    out: Tensor | None = None
    for begin in range(0, total, chunk):
        x = grid_coordinates(shape, start=begin, stop=begin + chunk, extents=extents, device=device)
        values = fn(x).float().cpu()
        if out is None:
            out = torch.empty(total, values.shape[1])
        out[begin : begin + len(values)] = values
    return out.reshape(*shape, -1)


def evaluate_grid(
    field: nn.Module,
    shape: tuple[int, ...],
    *,
    extents: tuple[float, ...] | None = None,
    chunk: int = DEFAULT_CHUNK,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Φ on the grid of `shape`, (*shape, c) float32 on the CPU, in bounded memory (see `map_grid`)."""
    field = field.to(device)
    with torch.no_grad():
        return map_grid(field, shape, extents=extents, chunk=chunk, device=device)
