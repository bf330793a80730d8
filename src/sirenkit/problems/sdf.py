"""Signed distance from oriented points: the eikonal problem of SIREN (Sitzmann et al. 2020, sec. 4.2).

Φ is fitted so that its zero level set is the surface and it is a distance elsewhere:

- surface      |Φ(x)| = 0 on the surface points,
- normal       1 − cos(∇Φ(x), n(x)) = 0 on the surface points,
- eikonal      |‖∇Φ(x)‖ − 1| = 0 on the surface and off-surface points,
- off_surface  exp(−α|Φ(x)|) → 0 on points drawn uniformly in [-1, 1]³ (keeps Φ away from zero there).

The on-surface terms share one sample and one forward-mode jet per step. Φ is negative inside
(the gradient points along the outward normal).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sirenkit.errors import InputError
from sirenkit.problems.base import Constraint, Evaluation, Problem
from sirenkit.problems.domains import Box, PointSet

VALUE = frozenset({"value"})
GRADIENT = frozenset({"value", "gradient"})


@dataclass(frozen=True)
class SDFConfig:
    """Weights and sample counts of the SDF problem."""

    surface_weight: float = 3e3
    """Weight of the on-surface |Φ| term (3e3 in the official `loss_functions.sdf`)."""
    normal_weight: float = 1e2
    """Weight of the normal term 1 − cos(∇Φ, n) (1e2 in the official code)."""
    eikonal_weight: float = 5e1
    """Weight of |‖∇Φ‖ − 1| over on- and off-surface samples together (5e1 in the official code)."""
    off_surface_weight: float = 1e2
    """Weight of the off-surface exp(−α|Φ|) term (1e2 in the official code)."""
    alpha: float = 100.0
    """α of the off-surface term exp(−α|Φ|) (100 in the official code and the paper)."""
    surface_points: int = 2000
    """Surface points drawn per step (the official script's default batch is 1,400)."""
    off_surface_points: int = 2000
    """Uniform points in [-1, 1]³ drawn per step (the official code draws as many as on the surface)."""

    def __post_init__(self) -> None:
        for name in ("surface_weight", "normal_weight", "eikonal_weight", "off_surface_weight"):
            if not getattr(self, name) >= 0:
                raise InputError(f"{name.replace('_', '-')} must be at least 0, got {getattr(self, name)}")
        if not self.alpha > 0:
            raise InputError(f"alpha must be positive, got {self.alpha}")
        for name in ("surface_points", "off_surface_points"):
            if getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")


def _gradient(ev: Evaluation) -> Tensor:
    """∇Φ of the single output channel: (n, 3)."""
    return ev.gradient[..., 0, :]


def surface_residual(ev: Evaluation) -> Tensor:
    """Φ(x), (n,): zero on the surface."""
    return ev.value[..., 0]


def normal_residual(ev: Evaluation) -> Tensor:
    """1 − cos(∇Φ, n), (n,): zero where the gradient points along the given normal."""
    return 1 - torch.nn.functional.cosine_similarity(_gradient(ev), ev.data["normal"], dim=-1)


def eikonal_residual(ev: Evaluation) -> Tensor:
    """‖∇Φ‖ − 1, (n,): zero for a distance function."""
    return _gradient(ev).norm(dim=-1) - 1


def off_surface_residual(alpha: float):
    """exp(−α|Φ|), (n,): small wherever Φ is away from zero."""

    def residual(ev: Evaluation) -> Tensor:
        return torch.exp(-alpha * ev.value[..., 0].abs())

    return residual


def sdf_problem(surface: PointSet, config: SDFConfig, *, derivative_method: str = "auto") -> Problem:
    """The SDF problem on surface points (x (N, 3), data["normal"] (N, 3) unit) in [-1, 1]³.

    Every term is an L1 mean taken, as in the official `loss_functions.sdf`, over the whole
    step's batch (on- and off-surface points together, the terms that do not apply counting as
    zero): a term on the surface is weighted by its weight times the surface share of the batch,
    an off-surface term by the off-surface share. The eikonal term is split in two constraints
    the same way, so that with the official weights the loss is the official loss.
    """
    if "normal" not in surface.data:
        raise InputError("the SDF problem needs surface normals (data['normal'])")
    off = Box.cube(3, device=surface.x.device)
    on_n, off_n = config.surface_points, config.off_surface_points
    on_share, off_share = on_n / (on_n + off_n), off_n / (on_n + off_n)
    constraints = [
        Constraint("surface", surface, surface_residual, VALUE, config.surface_weight * on_share, "l1", on_n),
        Constraint("normal", surface, normal_residual, GRADIENT, config.normal_weight * on_share, "l1", on_n),
        Constraint(
            "eikonal_surface", surface, eikonal_residual, GRADIENT, config.eikonal_weight * on_share, "l1", on_n
        ),
        Constraint("eikonal_off", off, eikonal_residual, GRADIENT, config.eikonal_weight * off_share, "l1", off_n),
        Constraint(
            "off_surface",
            off,
            off_surface_residual(config.alpha),
            VALUE,
            config.off_surface_weight * off_share,
            "l1",
            off_n,
        ),
    ]
    return Problem(constraints, derivative_method)
