"""Derivatives of a field with respect to its input coordinates.

Two paths behind one interface, `jet(field, x, order)`:

- forward: pushes (value, gradient, Laplacian) through the encoding, each dense layer and
  each activation in a single pass (the "forward Laplacian", Li et al. 2023, arXiv 2307.08214).
  It is an ordinary differentiable computation, so losses on derivatives train through it.
- autograd: reverse mode, one backward pass per output channel for the gradient and one more
  per input dimension for the Laplacian (what the official SIREN code does). Works for any
  module mapping (..., d) to (..., c), and serves as the reference.

Shapes: x is (..., d) — (N, d) or (B, N, d); value (..., c); gradient (..., c, d), per unit
of coordinate; Laplacian (..., c), per unit of coordinate squared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from sirenkit.fields.mlp import MLPField

Method = Literal["auto", "forward", "autograd"]


@dataclass
class Jet:
    """A field's value and, up to the requested order, its gradient and Laplacian at some points."""

    value: Tensor
    gradient: Tensor | None = None
    laplacian: Tensor | None = None

    def required(self, name: str) -> Tensor:
        part = getattr(self, name)
        if part is None:
            raise ValueError(f"this jet was computed without the {name}")
        return part


def jet(field: nn.Module, x: Tensor, *, order: int = 2, method: Method = "auto") -> Jet:
    """Φ(x) and, for order ≥ 1, ∇Φ(x), and for order 2, ΔΦ(x). See the module docstring for shapes.

    `method="auto"` takes the forward path for an `MLPField` and autograd otherwise.
    """
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order}")
    if order == 0:
        return Jet(field(x))
    if method == "forward" or (method == "auto" and isinstance(field, MLPField)):
        if not isinstance(field, MLPField):
            raise TypeError(f"the forward path needs an MLPField, got {type(field).__name__}")
        return forward_jet(field, x, order)
    if method not in ("auto", "autograd"):
        raise ValueError(f"unknown method {method!r}")
    return autograd_jet(field, x, order)


def forward_jet(field: MLPField, x: Tensor, order: int) -> Jet:
    """Forward-mode (value, gradient[, Laplacian]) in one pass; differentiable in the parameters.

    Inside, tangents are kept as (..., d, n) so that every layer is one matrix product of the
    stacked [value; tangents; Laplacian] rows with Wᵀ.
    """
    h, jac, lap = field.encoding.jet(x)  # (..., e), (..., e, d), (..., e)
    tangents = jac.transpose(-1, -2)  # (..., d, e)
    lap = lap if order == 2 else None
    for layer in field.layers:
        z, tz, lz = _affine(layer.weight, layer.bias, h, tangents, lap)
        s, ds, dds = layer.activation.derivatives(z)
        h = s
        tangents = ds.unsqueeze(-2) * tz
        if lap is not None:
            lap = ds * lz + dds * tz.square().sum(-2)
    value, tangents, lap = _affine(field.head.weight, field.head.bias, h, tangents, lap)
    return Jet(value, tangents.transpose(-1, -2), lap)


def _affine(
    weight: Tensor, bias: Tensor, h: Tensor, tangents: Tensor, lap: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Apply z = h Wᵀ + b to a jet: tangents and Laplacian transform linearly, without the bias."""
    d = tangents.shape[-2]
    rows = [h.unsqueeze(-2), tangents] + ([lap.unsqueeze(-2)] if lap is not None else [])
    stacked = torch.cat(rows, dim=-2) @ weight.t()  # (..., 1 + d (+1), n_out)
    z = stacked[..., 0, :] + bias
    tz = stacked[..., 1 : 1 + d, :]
    lz = stacked[..., 1 + d, :] if lap is not None else None
    return z, tz, lz


def autograd_jet(field: nn.Module, x: Tensor, order: int) -> Jet:
    """Reverse-mode (value, gradient[, Laplacian]) by repeated autograd.grad with create_graph."""
    x = x.detach().requires_grad_(True) if not x.requires_grad else x
    value = field(x)
    channels = value.shape[-1]
    grads = [gradient_of(value[..., k], x) for k in range(channels)]
    gradient = torch.stack(grads, dim=-2)  # (..., c, d)
    lap = None
    if order == 2:
        lap = torch.stack([divergence_of(g, x) for g in grads], dim=-1)
    return Jet(value, gradient, lap)


def gradient_of(y: Tensor, x: Tensor) -> Tensor:
    """∇y for y of shape (...) computed from x of shape (..., d): returns (..., d), graph kept."""
    (g,) = torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def divergence_of(v: Tensor, x: Tensor) -> Tensor:
    """∇·v for a vector field v of shape (..., d) computed from x (..., d): returns (...)."""
    return sum(gradient_of(v[..., i], x)[..., i] for i in range(x.shape[-1]))


def gradient(field: nn.Module, x: Tensor, *, method: Method = "auto") -> Tensor:
    """∇Φ(x), shape (..., c, d)."""
    return jet(field, x, order=1, method=method).required("gradient")


def laplacian(field: nn.Module, x: Tensor, *, method: Method = "auto") -> Tensor:
    """ΔΦ(x), shape (..., c)."""
    return jet(field, x, order=2, method=method).required("laplacian")
