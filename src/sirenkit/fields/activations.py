"""Activation components, each owning its forward-mode rule.

An activation acts on the pre-activation z = W h + b of a dense layer as σ(z) = f(scale·z):
`scale` is a fixed factor (ω0 for the sine, 1 otherwise) that a layer folds into its weights and
bias, and `derivatives(u)` gives f and its first three derivatives at u = scale·z, so that the
forward-mode derivative path (`sirenkit.calculus`) pushes gradients and Laplacians through the
activation without autograd. A new activation needs only `forward`: its derivatives then come
from autograd of it; a closed form in `derivatives` is faster.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


class Derivatives(NamedTuple):
    """f, f', f'', f''' at u, elementwise, each shaped like u; None stands for zero everywhere.

    `second` and `third` are stored divided by `sign` (±1), which the kernels apply as the scalar
    of their fused multiply-adds: the sine gives sin, cos, sin, cos with sign −1 and makes no
    negated copies."""

    value: Tensor
    first: Tensor
    second: Tensor | None
    third: Tensor | None
    sign: float = 1.0


class Activation(nn.Module):
    """σ(z) = f(scale·z), elementwise; `scale` is 1 unless a subclass says otherwise."""

    scale: float = 1.0

    def derivatives(self, u: Tensor) -> Derivatives:
        """f, f', f'', f''' at u = scale·z, by autograd of f(u) = σ(u / scale); detached."""
        with torch.enable_grad():
            v = u.detach().requires_grad_(True)
            terms = [self(v / self.scale)]
            for _ in range(3):
                terms.append(_elementwise_derivative(terms[-1], v))
        return Derivatives(*(t.detach() for t in terms))

    def of_affine(self, h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """σ(h Wᵀ + b) for h of shape (..., n_in); weight (n_out, n_in); bias (n_out,)."""
        return self(torch.nn.functional.linear(h, weight, bias))

    def of_batched_affine(self, h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """σ(h Wₖᵀ + bₖ) for K independent layers at once: h (K, N, n_in), weight (K, n_out, n_in),
        bias (K, n_out) → (K, N, n_out); field k's rows see only Wₖ and bₖ (one batched product)."""
        return self(torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2)))


def _elementwise_derivative(y: Tensor, u: Tensor) -> Tensor:
    """dy/du of an elementwise y(u), graph kept; zero where y does not depend on u."""
    if not y.requires_grad:
        return torch.zeros_like(u)
    (d,) = torch.autograd.grad(y.sum(), u, create_graph=True, allow_unused=True, materialize_grads=True)
    return d


class Sine(Activation):
    """σ(z) = sin(ω0·z), the SIREN activation (Sitzmann et al. 2020, eq. 1 and sec. 3.2).

    ω0 is a fixed frequency, not a trained parameter; it is the activation's `scale`.
    """

    def __init__(self, omega0: float) -> None:
        super().__init__()
        if not omega0 > 0:
            raise ValueError(f"omega0 must be positive, got {omega0}")
        self.omega0 = float(omega0)

    @property
    def scale(self) -> float:
        return self.omega0

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

    def of_batched_affine(self, h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        # The same folding of ω0 into the weights as `of_affine`, per field.
        w = self.omega0 * weight
        b = self.omega0 * bias
        return torch.sin(torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2)))

    def derivatives(self, u: Tensor) -> Derivatives:
        """sin, cos, −sin, −cos, stored as sin, cos, sin, cos with sign −1."""
        s, c = torch.sin(u), torch.cos(u)
        return Derivatives(s, c, s, c, sign=-1.0)

    def extra_repr(self) -> str:
        return f"omega0={self.omega0:g}"


class ReLU(Activation):
    """max(z, 0); its second and third derivatives are zero away from the kink at z = 0."""

    def forward(self, z: Tensor) -> Tensor:
        return torch.relu(z)

    def derivatives(self, u: Tensor) -> Derivatives:
        step = (u > 0).to(u.dtype)
        return Derivatives(u * step, step, None, None)


class Tanh(Activation):
    """tanh(z)."""

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(z)

    def derivatives(self, u: Tensor) -> Derivatives:
        """t, 1 − t², −2t(1 − t²), (1 − t²)(6t² − 2) with t = tanh(u)."""
        t = torch.tanh(u)
        d1 = 1 - t * t
        return Derivatives(t, d1, -2 * t * d1, d1 * (6 * t * t - 2))
