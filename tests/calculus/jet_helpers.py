"""Small fields, points and comparisons shared by the calculus tests."""

from __future__ import annotations

import torch

from sirenkit.calculus import jet
from sirenkit.fields import FIELD_BUILDERS, FieldConfig, build_field

MODELS = sorted(FIELD_BUILDERS)
CHANNELS = 3


def small_field(model: str, in_dim: int, out_dim: int = CHANNELS, dtype=torch.float64, **overrides):
    settings = {"width": 24, "depth": 2, "pe_octaves": 3, "ff_features": 16, "ff_scale": 2.0, **overrides}
    config = FieldConfig(model=model, in_dim=in_dim, out_dim=out_dim, **settings)
    return build_field(config, seed=1).to(dtype)


def points(n: int, d: int, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 1.6 - 0.8


def relative_error(a: torch.Tensor, reference: torch.Tensor) -> float:
    """max |a - ref| over max |ref| (so a Laplacian that is ~0 everywhere compares against the floor 1)."""
    return ((a - reference).abs().max() / reference.abs().max().clamp_min(1.0)).item()


def central_differences(field, x: torch.Tensor, lap_step: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient (N, c, d) and Laplacian (N, c) of a float64 field by central differences."""
    d = x.shape[-1]
    grad_step = 1e-6
    eye = torch.eye(d, dtype=x.dtype)
    with torch.no_grad():
        center = field(x)
        grad = torch.stack(
            [(field(x + grad_step * eye[i]) - field(x - grad_step * eye[i])) / (2 * grad_step) for i in range(d)], -1
        )
        lap = sum(
            (field(x + lap_step * eye[i]) - 2 * center + field(x - lap_step * eye[i])) / lap_step**2 for i in range(d)
        )
    return grad, lap


def smooth_rows(field, x: torch.Tensor) -> torch.Tensor:
    """Rows of x whose finite-difference stencils straddle no ReLU kink: two step sizes agree there."""
    _, coarse = central_differences(field, x, 1e-4)
    _, fine = central_differences(field, x, 5e-5)
    return ((coarse - fine).abs() <= 1e-3 * (1 + coarse.abs())).all(-1)


def training_path_results(field, x: torch.Tensor, order: int, compiler=None) -> list[torch.Tensor]:
    """The forward path's jet and the parameter gradients of a loss on its derivatives."""
    field.zero_grad(set_to_none=True)
    result = jet(field, x, order=order, method="forward", compiler=compiler)
    loss = result.gradient.square().mean() + (result.laplacian.square().mean() if order == 2 else 0)
    loss.backward()
    parts = [result.value, result.gradient] + ([result.laplacian] if order == 2 else [])
    return [part.detach() for part in parts] + [p.grad.flatten() for p in field.parameters() if p.grad is not None]
