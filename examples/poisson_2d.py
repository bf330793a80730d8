"""A new problem in about 20 lines: the Poisson equation ΔΦ = f on the square Ω = [-1, 1]² with
Φ = g on its boundary, solved by a SIREN and checked against the exact solution

    u(x, y) = x² − y² + sin(πx)·sin(πy),   f = Δu = −2π²·sin(πx)·sin(πy),   g = u on ∂Ω.

Each step draws fresh points inside the square and on its boundary. At the end the relative L2
error ‖Φ − u‖ / ‖u‖ on a 64×64 grid is printed; the script exits with status 1 if it exceeds
--tolerance.

    python examples/poisson_2d.py [--steps 400] [--tolerance 0.02]
"""

from __future__ import annotations

import argparse
import math
import sys

import torch

from sirenkit.fields import FieldConfig, build_field
from sirenkit.fit import FitConfig, fit
from sirenkit.problems import Box, BoxBoundary, Constraint, Problem
from sirenkit.signals import grid_coordinates
from sirenkit.store import Representation


def exact(x: torch.Tensor) -> torch.Tensor:
    """u at points (n, 2) → (n, 1)."""
    return x[:, :1] ** 2 - x[:, 1:] ** 2 + torch.sin(math.pi * x[:, :1]) * torch.sin(math.pi * x[:, 1:])


def forcing(x: torch.Tensor) -> torch.Tensor:
    """f = Δu at points (n, 2) → (n, 1)."""
    return -2 * math.pi**2 * torch.sin(math.pi * x[:, :1]) * torch.sin(math.pi * x[:, 1:])


def poisson_problem(interior_points: int = 1024, boundary_points: int = 256) -> Problem:
    """ΔΦ = f inside (weighted by 1/max|f|², so both residuals are of order one) and Φ = g on ∂Ω."""
    equation = Constraint(
        "equation",
        Box.cube(2),
        lambda ev: ev.laplacian - forcing(ev.x),
        needs=frozenset({"laplacian"}),
        weight=1 / (2 * math.pi**2) ** 2,
        points=interior_points,
    )
    boundary = Constraint("boundary", BoxBoundary.cube(2), lambda ev: ev.value - exact(ev.x), points=boundary_points)
    return Problem([equation, boundary])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="optimizer steps (default: 400)")
    parser.add_argument("--tolerance", type=float, default=0.02, help="largest relative L2 error accepted")
    args = parser.parse_args(argv)
    config = FieldConfig(width=64, depth=2, omega0=3.0)
    representation = Representation(build_field(config, seed=0), config, {"kind": "poisson_2d"})
    fit(representation, poisson_problem(), FitConfig(steps=args.steps, lr=1e-3, schedule="cosine"), quiet=True)
    x = grid_coordinates((64, 64))
    with torch.no_grad():
        error = float((representation.field(x) - exact(x)).norm() / exact(x).norm())
    print(f"relative L2 error {error:.4f} after {args.steps} steps (tolerance {args.tolerance})")
    return 0 if error <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
