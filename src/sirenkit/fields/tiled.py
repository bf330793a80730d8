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
that tile's field alone. Evaluation finds the tiles covering each point from the grid (a search
per axis) and runs each tile on the points it covers only, so time and memory follow the points
asked for (render in chunks), not K × N.
"""

from __future__ import annotations

import bisect
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


def isotropic_extents(shape: tuple[int, ...]) -> tuple[float, ...]:
    """Half-extents of a grid whose longest axis spans [-1, 1] with one spacing on every axis:
    `signals.axis_extents`'s rule, restated here (fields import torch only, docs/ARCHITECTURE.md)."""
    longest = max(shape) - 1
    return tuple((n - 1) / longest if longest > 0 else 0.0 for n in shape)


def _spacings(shape: tuple[int, ...], extents: tuple[float, ...]) -> list[float]:
    """Coordinate units between neighbouring samples along each axis (1 on an axis of one sample)."""
    return [2 * extent / (n - 1) if n > 1 else 1.0 for n, extent in zip(shape, extents)]


def _most_covering(starts: list[int], size: int) -> int:
    """The most tiles of `size` samples starting at `starts` that share one sample: the most
    starts s with i - size < s <= i, over the starts i (the deepest overlap begins at a start),
    counted by bisection in the sorted starts."""
    ordered = sorted(starts)
    return max(bisect.bisect_right(ordered, i) - bisect.bisect_right(ordered, i - size) for i in ordered)


def _smootherstep(t: Tensor) -> Tensor:
    t = t.clamp(0, 1)
    return t * t * t * (t * (6 * t - 15) + 10)


class TiledField(nn.Module):
    """K tile fields (`tiles`, a `BatchedField`) blended over a grid of `shape` (see the module
    docstring). `starts` (K, d) are the tiles' first samples, `tile_shape` their shape.

    `extents` are the half-extents of the grid's axes in coordinates (axis a spans ±extents[a])
    and `tile_extents` those of a tile's own coordinates; both default to the isotropic rule
    (`isotropic_extents`). A video's time axis, which spans ±1 whatever its frame count, is
    the case that needs them.
    """

    def __init__(
        self,
        tiles: BatchedField,
        shape: tuple[int, ...],
        tile_shape: tuple[int, ...],
        starts: list[tuple[int, ...]],
        overlap: int,
        extents: tuple[float, ...] | None = None,
        tile_extents: tuple[float, ...] | None = None,
    ) -> None:
        super().__init__()
        if tiles.count != len(starts):
            raise ValueError(f"{tiles.count} tile fields for {len(starts)} tiles")
        self.tiles = tiles
        self.shape, self.tile_shape, self.overlap = tuple(shape), tuple(tile_shape), overlap
        self.register_buffer("starts", torch.tensor(starts, dtype=torch.float32), persistent=False)
        per_axis = [sorted({start[axis] for start in starts}) for axis in range(len(shape))]
        if list(itertools.product(*per_axis)) != [tuple(start) for start in starts]:
            raise ValueError("the tiles' starts must be a grid, row-major over the axes (fields.tiled.tile_grid)")
        self.axis_starts = [torch.tensor(axis, dtype=torch.float32) for axis in per_axis]
        self.axis_cover = [_most_covering(axis, size) for axis, size in zip(per_axis, tile_shape)]
        self.extents = tuple(extents) if extents is not None else isotropic_extents(self.shape)
        self.tile_extents = tuple(tile_extents) if tile_extents is not None else isotropic_extents(self.tile_shape)
        if len(self.extents) != len(shape) or len(self.tile_extents) != len(shape):
            raise ValueError(f"extents must give one half-extent per axis of the {len(shape)}-d grid")
        self.register_buffer("spacing", torch.tensor(_spacings(self.shape, self.extents)), persistent=False)
        self.register_buffer(
            "tile_spacing", torch.tensor(_spacings(self.tile_shape, self.tile_extents)), persistent=False
        )

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
            "extents": list(self.extents),
            "tile_extents": list(self.tile_extents),
        }

    def cover(self, p: Tensor) -> tuple[Tensor, Tensor]:
        """The tiles that cover each continuous sample index p (N, d), and their blend weights
        before normalization: (N, C) tile numbers and (N, C) weights, zero where a slot holds no
        tile. C is the most tiles one point can lie in (2^d when the overlap is under half a tile)."""
        tiles = torch.zeros(p.shape[0], 1, dtype=torch.long, device=p.device)
        weight = p.new_ones(p.shape[0], 1)
        ramp = float(self.overlap - 1)
        for axis, (starts, size, n) in enumerate(zip(self.axis_starts, self.tile_shape, self.shape)):
            starts = starts.to(p)
            first = torch.searchsorted(starts, (p[:, axis] - (size - 1)).contiguous())  # first start ≥ p − (t − 1)
            index = first[:, None] + torch.arange(self.axis_cover[axis], device=p.device)  # (N, c)
            valid = index < len(starts)
            index = index.clamp(max=len(starts) - 1)
            start = starts[index]
            a = p[:, axis, None] - start  # position inside the tile along this axis
            valid &= a >= 0
            rise = torch.where(start > 0, _smootherstep(a / ramp), torch.ones_like(a))  # not on the border
            fall = torch.where(start + size < n, _smootherstep((size - 1 - a) / ramp), torch.ones_like(a))
            tiles = (tiles[:, :, None] * len(starts) + index[:, None, :]).flatten(1)  # row-major tile numbers
            weight = (weight[:, :, None] * torch.where(valid, rise * fall, 0.0)[:, None, :]).flatten(1)
        return tiles, weight

    def forward(self, x: Tensor) -> Tensor:
        """Φ(x): (..., d) coordinates of the signal's grid → (..., out_dim).

        Each tile is evaluated on the points it covers only: the tiles a batch of points touches
        run as one batched product, their parameters gathered, so the cost follows the points."""
        points = x.reshape(-1, x.shape[-1])
        centre = (points.new_tensor(self.shape) - 1) / 2
        p = points / self.spacing.to(points) + centre  # continuous sample index
        p = p.clamp(min=torch.zeros_like(centre), max=2 * centre)
        tiles, weight = self.cover(p)
        point, slot = torch.nonzero(weight > 0, as_tuple=True)  # every (point, tile) pair that counts
        tile = tiles[point, slot]
        used, which, counts = torch.unique(tile, return_inverse=True, return_counts=True)
        order = torch.argsort(which, stable=True)
        point, slot, which = point[order], slot[order], which[order]
        rank = torch.arange(len(which), device=p.device) - (torch.cumsum(counts, 0) - counts)[which]
        tile_centre = (points.new_tensor(self.tile_shape) - 1) / 2
        local = points.new_zeros(len(used), int(counts.max()) if len(used) else 0, points.shape[-1])
        local[which, rank] = (p[point] - self.starts.to(p)[used[which]] - tile_centre) * self.tile_spacing.to(p)
        state = {
            name: tensor[used]
            for name, tensor in itertools.chain(self.tiles.named_parameters(), self.tiles.named_buffers())
        }
        values = torch.func.functional_call(self.tiles, state, (local,))[which, rank]  # (pairs, out)
        w = weight[point, slot]
        total = values.new_zeros(points.shape[0], self.out_dim).index_add(0, point, values * w[:, None].to(values))
        norm = w.new_zeros(points.shape[0]).index_add(0, point, w)
        return (total / norm[:, None]).reshape(*x.shape[:-1], self.out_dim)
