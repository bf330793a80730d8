"""How a problem's solution is made from the network: u(x) = lift(x) + distance(x) · Φ((x − center) / scale).

Two things a PDE solver does around its network, both optional:

- **Coordinates in the problem's own units.** The network sees x̂ = (x − center) / scale, one scale
  for every axis, so a box of any size and place becomes one inside [−1, 1]^d and ω0 means the
  same on every problem. Derivatives stay in the problem's units: ∇u gets 1/scale and Δu
  1/scale² (one scale for all axes keeps the Laplacian a Laplacian).
- **Hard constraints.** Conditions held exactly by the form of u instead of penalized: u = lift
  where distance = 0 (a Dirichlet boundary: distance vanishes on it and lift equals the boundary
  values; an initial value and velocity: distance = t², lift = u0 + t·v0). `distance` maps
  points (n, d) to (n, 1), `lift` to (n, c), both smooth (their derivatives come from autograd).

The jet of u follows from the network's by the product rule:
∇u = ∇lift + Φ ∇distance + distance ∇Φ and Δu = Δlift + Φ Δdistance + 2 ∇distance·∇Φ + distance ΔΦ
(and the same per axis for the unmixed second derivatives).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sirenkit.calculus import Compiler, Jet, autograd_jet, jet

PointFunction = Callable[[Tensor], Tensor]


@dataclass
class Ansatz:
    """u(x) = lift(x) + distance(x) · Φ((x − center) / scale); see the module docstring.

    `center` (d,) and `scale` (> 0) are in the problem's units; `distance` and `lift` may be None
    (1 and 0: no hard constraint).
    """

    center: Tensor | Sequence[float]
    scale: float = 1.0
    distance: PointFunction | None = None
    lift: PointFunction | None = None

    def __post_init__(self) -> None:
        self.center = torch.as_tensor(self.center, dtype=torch.float32).reshape(-1)
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"an ansatz's scale must be a positive number, got {self.scale}")

    @classmethod
    def for_box(
        cls, low: Sequence[float], high: Sequence[float], distance: PointFunction | None = None, lift=None
    ) -> Ansatz:
        """The ansatz that maps the box [low, high] into [−1, 1]^d: centered, scaled by its largest half-side."""
        low_t, high_t = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        return cls((low_t + high_t) / 2, float((high_t - low_t).max()) / 2, distance, lift)

    def inputs(self, x: Tensor) -> Tensor:
        """The network's coordinates x̂ = (x − center) / scale, (..., d)."""
        return (x - self.center.to(x.device)) / self.scale

    def jet(
        self,
        field_: nn.Module,
        x: Tensor,
        order: int,
        method: str = "auto",
        compiler: Compiler | None = None,
        second: bool = False,
    ) -> Jet:
        """u and its derivatives up to `order` at x (n, d), in the problem's units (`second`: also
        the unmixed second derivatives, as `calculus.jet`)."""
        inner = jet(field_, self.inputs(x), order=order, method=method, compiler=compiler, second=second)
        value = inner.value
        grad = inner.gradient / self.scale if order >= 1 else None
        lap = inner.laplacian / self.scale**2 if order == 2 else None
        sec = inner.second / self.scale**2 if second else None
        if self.distance is not None:
            d = autograd_jet(self.distance, x, order) if order else Jet(self.distance(x))
            if order == 2:
                cross = 2 * d.gradient * grad  # 2 ∂_i distance ∂_i Φ, (n, c, d)
                lap = value * d.laplacian + cross.sum(-1) + d.value * lap
                sec = value[..., None] * d.second + cross + d.value[..., None] * sec if second else None
            if order >= 1:
                grad = value[..., None] * d.gradient + d.value[..., None] * grad
            value = d.value * value
        if self.lift is not None:
            g = autograd_jet(self.lift, x, order) if order else Jet(self.lift(x))
            value = value + g.value
            grad = grad + g.gradient if order >= 1 else None
            lap = lap + g.laplacian if order == 2 else None
            sec = sec + g.second if second else None
        return Jet(value, grad, lap, sec)

    def value(self, field_: nn.Module, x: Tensor) -> Tensor:
        """u(x), (n, c)."""
        return self.jet(field_, x, 0).value


class Solution(nn.Module):
    """A field under an ansatz as one module: x (..., d) in the problem's units → u(x) (..., c), for
    rendering and measuring (training evaluates `Ansatz.jet`)."""

    def __init__(self, field_: nn.Module, ansatz: Ansatz) -> None:
        super().__init__()
        self.field, self.ansatz = field_, ansatz

    def forward(self, x: Tensor) -> Tensor:
        return self.ansatz.value(self.field, x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)
