"""Activation components, each able to give its first and second derivative.

An activation acts on the pre-activation z = W h + b of a dense layer. Besides its value it
returns σ'(z) and σ''(z) so that the forward-mode derivative path can push gradients and
Laplacians through it without autograd.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Activation(nn.Module):
    """σ(z), elementwise. Subclasses give `derivatives` for the forward-mode path."""

    def derivatives(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(σ(z), σ'(z), σ''(z)), each shaped like z."""
        raise NotImplementedError

    def of_affine(self, h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """σ(h Wᵀ + b) for h of shape (..., n_in); weight (n_out, n_in); bias (n_out,)."""
        return self(torch.nn.functional.linear(h, weight, bias))


class Sine(Activation):
    """σ(z) = sin(ω0·z), the SIREN activation (Sitzmann et al. 2020, eq. 1 and sec. 3.2).

    ω0 is a fixed frequency, not a trained parameter.
    """

    def __init__(self, omega0: float) -> None:
        super().__init__()
        if not omega0 > 0:
            raise ValueError(f"omega0 must be positive, got {omega0}")
        self.omega0 = float(omega0)

    def forward(self, z: Tensor) -> Tensor:
        return torch.sin(self.omega0 * z)

    def of_affine(self, h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        # sin(ω0 (W h + b)) computed as sin((ω0 W) h + ω0 b): the factor goes on the small
        # weight matrix instead of on the (N, n_out) activation, saving one pass and one buffer.
        w = self.omega0 * weight
        b = self.omega0 * bias
        if h.dim() == 2:
            return torch.sin(torch.addmm(b, h, w.t()))
        return torch.sin(torch.nn.functional.linear(h, w, b))

    def derivatives(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        wz = self.omega0 * z
        s = torch.sin(wz)
        return s, self.omega0 * torch.cos(wz), -(self.omega0**2) * s

    def extra_repr(self) -> str:
        return f"omega0={self.omega0:g}"


class ReLU(Activation):
    """max(z, 0); its second derivative is zero away from the kink at z = 0."""

    def forward(self, z: Tensor) -> Tensor:
        return torch.relu(z)

    def derivatives(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        step = (z > 0).to(z.dtype)
        return torch.relu(z), step, torch.zeros_like(z)


class Tanh(Activation):
    """tanh(z)."""

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(z)

    def derivatives(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        t = torch.tanh(z)
        d1 = 1 - t * t
        return t, d1, -2 * t * d1
