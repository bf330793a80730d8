"""Coordinate grids (`signals/grid.py`): isotropic on non-square shapes, chunks that make the whole grid."""

from __future__ import annotations

import pytest
import torch

from sirenkit.signals import (
    axis_extents,
    grid_coordinates,
    grid_spacing,
)


def test_grid_is_isotropic_on_non_square_shapes():
    coords = grid_coordinates((3, 5)).reshape(3, 5, 2)
    assert coords[0, 0].tolist() == [-0.5, -1.0]
    assert coords[-1, -1].tolist() == [0.5, 1.0]
    row_step = (coords[1, 0, 0] - coords[0, 0, 0]).item()
    col_step = (coords[0, 1, 1] - coords[0, 0, 1]).item()
    assert row_step == pytest.approx(col_step) == pytest.approx(grid_spacing((3, 5)))
    assert axis_extents((512, 768)) == pytest.approx((511 / 767, 1.0))


def test_grid_chunks_concatenate_to_the_whole_grid():
    whole = grid_coordinates((7, 4, 3))
    parts = torch.cat([grid_coordinates((7, 4, 3), start=s, stop=s + 10) for s in range(0, 84, 10)])
    assert torch.equal(whole, parts)
