"""A large grid signal as overlapping tiles, each a small field, blended into one field: `TiledField`.

The signal's grid of shape (n₁, …, n_d) is cut into K tiles of one shape (t₁, …, t_d) that overlap
by at least `overlap` samples along each axis (`tile_starts`). Tile k is a field of its own crop,
in the crop's own coordinates (`signals.grid_coordinates` of shape t: isotropic, longest side on
[-1, 1]); all K are one `BatchedField`. At a point x of the signal's coordinates, with p its
continuous sample index,

    Φ(x) = Σₖ wₖ(p) Φₖ(uₖ(x)) / Σₖ wₖ(p),   uₖ(x) = (p − startₖ − (t − 1)/2) · h_t,

where wₖ is a product over axes of ramps that rise from 0 to 1 over the first `overlap` samples of
the tile and fall over its last ones (smootherstep, so Φ has continuous first and second
derivatives), except on a side that lies on the signal's border, where the weight stays 1. Every
point of the grid has positive total weight, and a point inside one tile only (its interior) is
that tile's field alone. Evaluation gathers, per tile, only the points it covers, so memory
follows the points asked for (render in chunks), not K × N.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from sirenkit.fields.batched import BatchedField


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """First sample of each tile along one axis of `length` samples: tiles of `tile` samples
    stepping by tile − overlap, the last one flush with the end (it may overlap more)."""
    if tile >= length:
        return [0]
    if not 2 <= overlap < tile:
        raise ValueError(f"the overlap must be at least 2 samples and less than the tile ({tile}), got {overlap}")
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]


def tile_grid(shape: tuple[int, ...], tile: int, overlap: int) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """The tile shape (`tile` samples per axis, or the whole axis when shorter) and every tile's
    start (row-major over the axes) for a grid of `shape`."""
    tile_shape = tuple(min(tile, n) for n in shape)
    per_axis = [tile_starts(n, t, overlap) for n, t in zip(shape, tile_shape)]
    return tile_shape, list(itertools.product(*per_axis))


def _spacing(shape: tuple[int, ...]) -> float:
    """`signals.grid_spacing`'s rule, restated here: fields import torch only (docs/ARCHITECTURE.md)."""
    return 2.0 / (max(shape) - 1) if max(shape) > 1 else 1.0


def _smootherstep(t: Tensor) -> Tensor:
    t = t.clamp(0, 1)
    return t * t * t * (t * (6 * t - 15) + 10)


class TiledField(nn.Module):
    """K tile fields (`tiles`, a `BatchedField`) blended over a grid of `shape` (see the module
    docstring). `starts` (K, d) are the tiles' first samples, `tile_shape` their shape."""

    def __init__(
        self,
        tiles: BatchedField,
        shape: tuple[int, ...],
        tile_shape: tuple[int, ...],
        starts: list[tuple[int, ...]],
        overlap: int,
    ) -> None:
        super().__init__()
        if tiles.count != len(starts):
            raise ValueError(f"{tiles.count} tile fields for {len(starts)} tiles")
        self.tiles = tiles
        self.shape, self.tile_shape, self.overlap = tuple(shape), tuple(tile_shape), overlap
        self.register_buffer("starts", torch.tensor(starts, dtype=torch.float32), persistent=False)
        self.spacing, self.tile_spacing = _spacing(self.shape), _spacing(self.tile_shape)

    @property
    def in_dim(self) -> int:
        return self.tiles.in_dim

    @property
    def out_dim(self) -> int:
        return self.tiles.out_dim

    def layout(self) -> dict:
        """What rebuilds the blend (stored beside the tiles' weights)."""
        return {
            "shape": list(self.shape),
            "tile_shape": list(self.tile_shape),
            "starts": self.starts.to(torch.int64).tolist(),
            "overlap": self.overlap,
        }

    def weights(self, p: Tensor) -> Tensor:
        """(K, N) blend weights at continuous sample indices p (N, d), before normalization."""
        starts = self.starts.to(p)[:, None]  # (K, 1, d)
        size = p.new_tensor(self.tile_shape)
        a = p[None] - starts  # (K, N, d): position inside each tile
        inside = ((a >= 0) & (a <= size - 1)).all(dim=-1)
        ramp = float(self.overlap - 1)
        rise = torch.where(starts > 0, _smootherstep(a / ramp), torch.ones_like(a))  # not on the border
        fall = torch.where(
            starts + size < p.new_tensor(self.shape), _smootherstep((size - 1 - a) / ramp), torch.ones_like(a)
        )
        return torch.where(inside, (rise * fall).prod(dim=-1), p.new_zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        """Φ(x): (..., d) coordinates of the signal's grid → (..., out_dim)."""
        points = x.reshape(-1, x.shape[-1])
        centre = (points.new_tensor(self.shape) - 1) / 2
        p = (points / self.spacing + centre).clamp(min=torch.zeros_like(centre), max=2 * centre)  # sample index
        w = self.weights(p)  # (K, N)
        covered = w > 0
        counts = covered.sum(dim=1)
        width = max(int(counts.max()), 1)
        order = torch.argsort((~covered).to(torch.int8), dim=1, stable=True)[:, :width]  # covered first
        valid = torch.arange(width, device=points.device)[None] < counts[:, None]  # (K, M)
        tile_centre = (points.new_tensor(self.tile_shape) - 1) / 2
        local = (p[order] - self.starts.to(p)[:, None] - tile_centre) * self.tile_spacing  # (K, M, d)
        values = self.tiles(local)  # (K, M, out)
        weight = torch.gather(w, 1, order) * valid  # (K, M)
        index = order.reshape(-1)
        total = values.new_zeros(points.shape[0], self.out_dim).index_add(
            0, index, (values * weight[..., None]).flatten(0, 1)
        )
        norm = w.new_zeros(points.shape[0]).index_add(0, index, weight.reshape(-1))
        return (total / norm[:, None]).reshape(*x.shape[:-1], self.out_dim)
