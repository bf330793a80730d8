"""Shaded previews of a signed distance field by sphere tracing (`outputs/sphere_trace.py`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from signal_helpers import TorusSDF
from sirenkit.outputs.sphere_trace import render_preview


def test_preview_shows_a_lit_surface_on_a_plain_background():
    image = render_preview(TorusSDF(), size=24, azimuths=(0.0, 90.0))
    assert image.shape == (24, 48, 3)
    assert (image[0, 0] == 1).all(), "a corner ray misses: background"
    hit = (image != 1).any(-1)
    assert 0.1 < hit.mean() < 0.9
    assert image[hit].std() > 0.02, "shading varies with the normal"


class RodSDF(nn.Module):
    """A bound (n, 1) on the signed distance of a rod along y (a capsule of radius 0.15, half length 0.6)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        along = x[:, 1].clamp(-0.6, 0.6)
        return (torch.stack([x[:, 0], x[:, 1] - along, x[:, 2]], -1).norm(dim=-1) - 0.15)[:, None]


def extent(view: np.ndarray) -> tuple[int, int]:
    """Rows and columns (height, width) covered by the surface in one view (size, size, 3)."""
    rows, cols = np.nonzero((view != 1).any(-1))
    return np.ptp(rows) + 1, np.ptp(cols) + 1


def test_preview_up_axis_holds_the_shape_upright_and_lit_from_above():
    size = 32
    upright = render_preview(RodSDF(), size=size, azimuths=(0.0,), up="y")
    height, width = extent(upright)
    assert height > 2.5 * width, "with up = y the rod stands"
    lying = render_preview(RodSDF(), size=size, azimuths=(0.0,), up="z")
    height, width = extent(lying)
    assert width > 2.5 * height, "with up = z (seen from +x) the rod lies across the view"
    hit = (upright != 1).any(-1)
    rows = np.nonzero(hit.any(1))[0]
    top, bottom = (upright[r][hit[r]].mean() for r in (rows.min() + 2, rows.max() - 2))
    assert top > bottom, "the key light is above"
    with pytest.raises(ValueError, match="up must be"):
        render_preview(RodSDF(), size=8, up="w")
