"""The autograd (reference) path: reverse mode, one backward pass per output channel for the
gradient and one more per input dimension for the Laplacian, as the official SIREN code does.

Works for any module mapping (..., d) to (..., c). Shapes as in `sirenkit.calculus`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sirenkit.calculus.result import Jet


def autograd_jet(field: nn.Module, x: Tensor, order: int) -> Jet:
    """Reverse-mode (value, gradient[, Laplacian and the unmixed second derivatives]) by repeated
    autograd.grad with create_graph.

    It builds the graph it needs also where the caller disabled gradients (torch.no_grad), as the
    forward path needs none: a caller evaluating without a graph can take either path."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True) if not x.requires_grad else x
        value = field(x)
        channels = value.shape[-1]
        grads = [gradient_of(value[..., k], x) for k in range(channels)]
        gradient = torch.stack(grads, dim=-2)  # (..., c, d)
        lap = second = None
        if order == 2:
            second = torch.stack([second_derivatives(g, x) for g in grads], dim=-2)  # (..., c, d)
            lap = second.sum(-1)
    return Jet(value, gradient, lap, second)


def gradient_of(y: Tensor, x: Tensor) -> Tensor:
    """∇y for y of shape (...) computed from x of shape (..., d): returns (..., d), graph kept."""
    (g,) = torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def second_derivatives(g: Tensor, x: Tensor) -> Tensor:
    """∂g_i/∂x_i for each axis i, for g = ∇y of shape (..., d) computed from x: (..., d), graph kept
    (the unmixed second derivatives of y; their sum is its Laplacian)."""
    return torch.stack([gradient_of(g[..., i], x)[..., i] for i in range(x.shape[-1])], dim=-1)


def divergence_of(v: Tensor, x: Tensor) -> Tensor:
    """∇·v for a vector field v of shape (..., d) computed from x (..., d): returns (...)."""
    return sum(gradient_of(v[..., i], x)[..., i] for i in range(x.shape[-1]))


def hessian(field: nn.Module, x: Tensor) -> Tensor:
    """∂²Φ_k/∂x_i∂x_j by autograd, shape (..., c, d, d), graph kept (any field)."""
    x = x.detach().requires_grad_(True) if not x.requires_grad else x
    grad = autograd_jet(field, x, 1).required("gradient")  # (..., c, d)
    rows = [gradient_of(grad[..., k, i], x) for k in range(grad.shape[-2]) for i in range(grad.shape[-1])]
    return torch.stack(rows, -2).unflatten(-2, grad.shape[-2:])
