"""The signed distance problem (`problems/sdf.py`): an exact SDF has no loss, the weights are the official ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sirenkit.problems import PointSet
from sirenkit.problems.sdf import SDFConfig, sdf_problem


class BallSDF(nn.Module):
    """The exact signed distance (n, 1) of the sphere of radius 0.5 about the origin at x (n, 3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.norm(dim=-1) - 0.5)[:, None]


def test_exact_sdf_has_no_surface_normal_or_eikonal_loss():
    points = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    normals = points / points.norm(dim=-1, keepdim=True)
    problem = sdf_problem(PointSet(0.5 * normals, {"normal": normals}), SDFConfig(surface_points=200))
    losses = problem.losses(BallSDF(), torch.Generator().manual_seed(1))
    for name in ("surface", "normal", "eikonal_surface", "eikonal_off"):
        assert losses[name].item() < 1e-5, (name, losses[name].item())
    assert losses["off_surface"].item() > 0


def test_sdf_problem_weights_are_the_official_loss():
    surface = PointSet(torch.zeros(10, 3), {"normal": torch.ones(10, 3)})
    weights = {
        c.name: c.weight
        for c in sdf_problem(surface, SDFConfig(surface_points=300, off_surface_points=100)).constraints
    }
    # one mean over all 400 points of the step, as the official loss takes it
    assert weights == pytest.approx(
        {
            "surface": 3e3 * 0.75,
            "normal": 1e2 * 0.75,
            "eikonal_surface": 5e1 * 0.75,
            "eikonal_off": 5e1 * 0.25,
            "off_surface": 1e2 * 0.25,
        }
    )
