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


def _tiled(shape=(40, 50), tile=16, overlap=4) -> TiledField:
    tile_shape, starts = tile_grid(shape, tile, overlap)
    config = FieldConfig(width=16, depth=1, in_dim=2, out_dim=2)
    return TiledField(build_batched_field(config, list(range(len(starts)))), shape, tile_shape, starts, overlap)


def test_every_point_has_weight_and_an_interior_point_is_its_tile_alone():
    field = _tiled()
    fine = grid_coordinates((157, 197), extents=(39 / 49, 1.0))  # between the samples too
    centre = (torch.tensor(field.shape, dtype=torch.float32) - 1) / 2
    weights = field.weights(fine / field.spacing + centre)
    assert (weights.sum(0) > 0).all()
    samples = grid_coordinates(field.shape)
    p = samples / field.spacing + centre
    alone = (field.weights(p) > 0).sum(0) == 1
    k = 0
    inside = alone & (field.weights(p)[k] > 0)
    assert inside.sum() > 20
    tile_centre = (torch.tensor(field.tile_shape, dtype=torch.float32) - 1) / 2
    local = (p[inside] - field.starts[k] - tile_centre) * field.tile_spacing
    with torch.no_grad():
        torch.testing.assert_close(field(samples[inside]), field.tiles.field(k)(local), rtol=1e-5, atol=1e-6)


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
