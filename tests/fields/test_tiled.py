"""TiledField: tiles on a grid, blended so every point has weight and a tile's interior is its field alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sirenkit.calculus import jet
from sirenkit.fields import FieldConfig
from sirenkit.fields.batched import build_batched_field
from sirenkit.fields.tiled import TiledField, tile_grid, tile_starts
from sirenkit.signals import grid_coordinates
from sirenkit.store import Representation, load_representation, save_representation


def test_tiles_cover_the_grid_in_one_shape_and_overlap_by_at_least_the_overlap():
    assert tile_starts(64, 32, 8) == [0, 24, 32]
    assert tile_starts(100, 32, 8) == [0, 24, 48, 68]
    assert tile_starts(20, 32, 8) == [0]
    for length, tile, overlap in ((64, 32, 8), (100, 32, 8), (77, 16, 2)):
        starts = tile_starts(length, tile, overlap)
        covered = np.zeros(length, int)
        for start in starts:
            covered[start : start + tile] += 1
        assert covered.min() >= 1 and starts[-1] + tile == length
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    shape, starts = tile_grid((40, 100), 32, 8)
    assert shape == (32, 32) and len(starts) == 2 * 4
    with pytest.raises(ValueError, match="overlap"):
        tile_starts(64, 32, 1)
    with pytest.raises(ValueError, match="overlap"):
        tile_starts(64, 32, 32)


def _tiled(shape=(40, 50), tile=16, overlap=4, in_dim=2) -> TiledField:
    tile_shape, starts = tile_grid(shape, tile, overlap)
    config = FieldConfig(width=16, depth=1, in_dim=in_dim, out_dim=2)
    return TiledField(build_batched_field(config, list(range(len(starts)))), shape, tile_shape, starts, overlap)


def test_every_point_has_weight_and_an_interior_point_is_its_tile_alone():
    field = _tiled()
    fine = grid_coordinates((157, 197), extents=(39 / 49, 1.0))  # between the samples too
    centre = (torch.tensor(field.shape, dtype=torch.float32) - 1) / 2
    _, weight = field.cover(fine / field.spacing + centre)
    assert (weight.sum(1) > 0).all()
    samples = grid_coordinates(field.shape)
    p = samples / field.spacing + centre
    tiles, weight = field.cover(p)
    k = 0
    inside = ((weight > 0).sum(1) == 1) & ((tiles == k) & (weight > 0)).any(1)
    assert inside.sum() > 20
    tile_centre = (torch.tensor(field.tile_shape, dtype=torch.float32) - 1) / 2
    local = (p[inside] - field.starts[k] - tile_centre) * field.tile_spacing
    with torch.no_grad():
        torch.testing.assert_close(field(samples[inside]), field.tiles.field(k)(local), rtol=1e-5, atol=1e-6)


def _blend_of_every_tile(field: TiledField, x: torch.Tensor) -> torch.Tensor:
    """The module docstring's sum, term by term over all K tiles: each tile's field alone."""
    centre = (torch.tensor(field.shape, dtype=torch.float32) - 1) / 2
    p = (x / field.spacing + centre).clamp(torch.zeros_like(centre), 2 * centre)
    size = torch.tensor(field.tile_shape, dtype=torch.float32)
    total, norm = torch.zeros(len(x), field.out_dim), torch.zeros(len(x))
    for k, start in enumerate(field.starts):
        a = p - start
        ramp = field.overlap - 1
        rise = torch.where(start > 0, (a / ramp).clamp(0, 1), torch.ones_like(a))
        fall = torch.where(start + size < torch.tensor(field.shape), ((size - 1 - a) / ramp).clamp(0, 1), 1.0)
        rise, fall = (t * t * t * (t * (6 * t - 15) + 10) for t in (rise, fall))
        w = torch.where(((a >= 0) & (a <= size - 1)).all(1), (rise * fall).prod(1), 0.0)
        total += w[:, None] * field.tiles.field(k)((a - (size - 1) / 2) * field.tile_spacing)
        norm += w
    return total / norm[:, None]


@pytest.mark.parametrize(
    ("shape", "tile", "overlap"), [((40, 50), 16, 4), ((30, 31), 12, 8), ((9, 20, 14), 8, 3)], ids=["2d", "wide", "3d"]
)
def test_the_blend_runs_each_tile_on_its_points_only_and_equals_the_sum_over_every_tile(shape, tile, overlap):
    field = _tiled(shape, tile, overlap, in_dim=len(shape))
    if shape == (30, 31):
        assert max(field.axis_cover) >= 3  # an overlap over half a tile: three or more tiles share samples
    extents = tuple((n - 1) / (max(shape) - 1) for n in shape)
    x = (torch.rand(500, len(shape), generator=torch.Generator().manual_seed(0)) * 2.2 - 1.1) * torch.tensor(extents)
    with torch.no_grad():
        torch.testing.assert_close(field(x), _blend_of_every_tile(field, x), rtol=1e-5, atol=1e-6)


def test_a_tiled_field_saves_loads_and_has_derivatives(tmp_path):
    field = _tiled()
    config = FieldConfig(width=16, depth=1, in_dim=2, out_dim=2)
    save_representation(tmp_path / "m.safetensors", Representation(field, config, {"kind": "image"}))
    loaded = load_representation(tmp_path / "m.safetensors").field
    assert isinstance(loaded, TiledField) and loaded.layout() == field.layout()
    x = grid_coordinates((23, 31), extents=(39 / 49, 1.0))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), field(x))
    result = jet(loaded, x, order=2)
    assert torch.isfinite(result.required("gradient")).all() and torch.isfinite(result.required("laplacian")).all()
    assert result.required("gradient").shape == (x.shape[0], 2, 2)


def test_a_video_blends_in_its_own_time_units():
    from signal_helpers import FPS, moving_bars
    from sirenkit.signals.video import Video, voxel_coordinates

    video = Video(moving_bars(10, 24, 40), FPS)  # time spans ±1 for any frame count: not isotropic
    tile_shape, starts = tile_grid(video.shape, 8, 4)
    tile_extents = video.crop(starts[0], tile_shape).extents()
    config = FieldConfig(width=16, depth=1, in_dim=3, out_dim=3)
    field = TiledField(
        build_batched_field(config, list(range(len(starts)))),
        video.shape,
        tile_shape,
        starts,
        4,
        video.extents(),
        tile_extents,
    )
    assert field.layout()["extents"] == [1.0, *list(video.extents())[1:]]
    shape = torch.tensor(video.shape)
    index = torch.arange(int(shape.prod()))
    ijk = torch.stack([index // (shape[1] * shape[2]), index // shape[2] % shape[1], index % shape[2]], dim=1)
    tiles, weight = field.cover(ijk.float())
    alone = (weight > 0).sum(1) == 1
    tile = tiles.gather(1, (weight > 0).long().argmax(1, keepdim=True))[:, 0]
    checked = 0
    for k in range(len(starts)):
        mine = alone & (tile == k)
        if not mine.any():
            continue
        inside = ijk[mine] - torch.tensor(starts[k])
        flat = (inside[:, 0] * tile_shape[1] + inside[:, 1]) * tile_shape[2] + inside[:, 2]
        local = voxel_coordinates(flat, tile_shape, tile_extents)
        x = voxel_coordinates(index[mine], video.shape, video.extents())
        with torch.no_grad():
            torch.testing.assert_close(field(x), field.tiles.field(k)(local), rtol=1e-5, atol=1e-6)
        checked += int(mine.sum())
    assert checked > 500
