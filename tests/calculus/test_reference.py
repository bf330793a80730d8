"""The autograd (reference) path on any module, and the Hessian it gives."""

from __future__ import annotations

import torch

from sirenkit.calculus import autograd_jet, hessian, laplacian

from .jet_helpers import CHANNELS, points, small_field


class Quadratic(torch.nn.Module):
    """Φ(x) = (|x|², x₁·x₂) in two dimensions: ∇Φ = (2x, (x₂, x₁)), ΔΦ = (4, 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x.square().sum(-1), x[..., 0] * x[..., 1]], -1)


def test_the_reference_takes_any_module_and_differentiates_a_quadratic_exactly():
    x = points(8, 2)
    result = autograd_jet(Quadratic(), x, 2)
    torch.testing.assert_close(result.gradient[:, 0], 2 * x)
    torch.testing.assert_close(result.gradient[:, 1], x.flip(-1))
    torch.testing.assert_close(result.laplacian, torch.tensor([4.0, 0.0], dtype=x.dtype).expand(8, 2))


def test_hessian_is_symmetric_and_its_trace_is_the_laplacian():
    field = small_field("siren", 3)
    x = points(16, 3)
    h = hessian(field, x)
    assert h.shape == (16, CHANNELS, 3, 3)
    torch.testing.assert_close(h.diagonal(dim1=-2, dim2=-1).sum(-1), laplacian(field, x))
    torch.testing.assert_close(h, h.transpose(-1, -2))
