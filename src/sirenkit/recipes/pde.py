"""Solving a built-in PDE (`sirenkit solve`): the problem → fit → the solution, its error and figures.

The kind `pde` goes through the one fit path (`recipes.kind.fit_signal`); its "signal" is the
`problems.pde.PDE`. Its checkpoint records the problem's name and parameters, so `load_solution`
makes the solution u(x) again (network, scaled coordinates and hard constraints). While it trains,
`fit` logs the relative L2 error against the exact solution on a grid of the box ("l2_error",
every `error_every` steps); at the end the solution and its error are drawn on that grid.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig, FitResult
from sirenkit.outputs import plot_curve, write_json
from sirenkit.outputs.figures import plot_solution
from sirenkit.problems import Problem
from sirenkit.problems.base import evaluate_points, union_of_needs
from sirenkit.problems.pde import PDE, PDES, PDEOptions
from sirenkit.recipes.kind import fit_signal, kind_name, register_kind
from sirenkit.resources import Request, evaluation_request, training_bytes
from sirenkit.store import Representation, load_representation

SOLVE_FIELD = FieldConfig(width=128, depth=2, omega0=8.0)
"""The network of `sirenkit solve`: a SIREN of width 128 with 2 hidden layers and ω0 = 8 on the box
scaled into [−1, 1]^d (the built-in problems' solutions have a few periods across the box;
`python benchmarks/pde.py` measures these settings against DeepXDE)."""
SOLVE_FIT = FitConfig(steps=5000, lr=3e-4, schedule="cosine", lbfgs=0.2, checkpoint_every=1000)
"""Training settings of `sirenkit solve`: Adam 3e-4 with cosine decay for the first 80% of the
steps (or of --max-seconds when it runs out first), then L-BFGS, fresh points each step, fp32
(residuals of second derivatives)."""
GRID_POINTS = {1: 1000, 2: 200, 3: 64}
"""Nodes per axis of the grid the error is measured and the solution drawn on, by dimension."""
ERROR_EVERY = 100
"""Steps between measurements of the error on the grid while training."""
EVALUATION_CHUNK = inspect.signature(evaluate_points).parameters["chunk"].default
"""Points the solution is evaluated on at once when the error is measured and the figures drawn
(`evaluate_points`'s chunk)."""
GRID_POINT_BYTES = 512
"""Per grid point while the solution is measured and drawn, an upper end: the exact solution's
float64 and complex128 temporaries (the point source's stretched coordinates, their depths in the
layer, distances and Green's function: up to 40 values of 8 bytes), and the float32 coordinates,
exact values, solution and error kept, with the figures' copies."""
DRAW_POINT_BYTES = 40
"""Per point drawn for a fixed collocation set, besides 16 bytes per axis: a boundary draw's face
choice and index arrays (int64) and its pinned coordinate; per axis the uniform draw, its scaled
and shifted copies and the point kept (float32)."""


@dataclass
class Solved:
    """A solve's outcome: the fit, the solution on the grid and its error against the exact solution."""

    result: FitResult
    pde: PDE
    values: np.ndarray
    l2_error: float | None
    max_error: float | None

    def summary(self) -> dict[str, Any]:
        return {
            **self.result.summary(),
            "problem": self.pde.name,
            "problem_parameters": self.pde.parameters,
            "grid_points_per_axis": GRID_POINTS[len(self.pde.low)],
            "l2_relative_error": self.l2_error,
            "max_abs_error": self.max_error,
        }

    def headline(self) -> str:
        model = self.result.representation.config.model
        error = "no exact solution" if self.l2_error is None else f"L2 relative error {self.l2_error:.3g}"
        return f"{model} on {self.pde.name}: {error} {self.result.effort()}"


@register_kind
@dataclass(frozen=True)
class PDEKind:
    """A built-in PDE: inputs are the box's axes, outputs its channels (`PDE.channels`). It carries
    the fit's settings, which its memory depends on, and how often the error is measured."""

    name: ClassVar[str] = "pde"
    noun: ClassVar[str] = "a PDE solution"
    fit: FitConfig = SOLVE_FIT
    """The fit's settings: its steps (how far a refined set grows) and L-BFGS share (whether the
    optimizer keeps curvature pairs) set the memory of its steps."""
    error_every: int = ERROR_EVERY
    """Steps between measurements of the error against the exact solution."""

    def field_config(self, signal: PDE, config: FieldConfig) -> FieldConfig:
        return replace(config, in_dim=len(signal.low), out_dim=len(signal.channels))

    def metadata(self, signal: PDE) -> dict[str, Any]:
        return {"problem": signal.name, "parameters": signal.parameters, "axes": list(signal.axes)}

    def problem(self, signal: PDE, batch: int | None, device: torch.device | str) -> Problem:
        """The problem as trained (its fixed collocation set drawn now, after `requests` was
        checked), with the exact solution on the grid as its reference."""
        problem = signal.problem
        problem.reference = signal.reference(GRID_POINTS[len(signal.low)], self.error_every)
        return problem

    def requests(
        self, signal: PDE, config: FieldConfig, batch: int | None, device: torch.device | str
    ) -> list[Request]:
        """The training step and what goes with it (`step_requests`), and the error measured and
        the figures drawn on the grid (`grid_requests`)."""
        device = str(torch.device(device))
        return [*step_requests(signal, config, self.fit, device), *grid_requests(signal, config, device)]

    def live_metrics(self, signal: PDE) -> None:
        return None

    def finish(self, result: FitResult, signal: PDE, device: torch.device | str, run_dir: Path | None) -> Solved:
        solution = signal.problem.solution(result.representation.field.to(device))
        grid = signal.grid(GRID_POINTS[len(signal.low)])
        values = evaluate_points(solution, grid, device).numpy()
        exact = signal.exact(grid).numpy() if signal.exact is not None else None
        l2 = max_error = None
        if exact is not None:
            known = np.isfinite(exact).all(-1)
            l2 = float(np.linalg.norm(values[known] - exact[known]) / np.linalg.norm(exact[known]))
            max_error = float(np.abs(values[known] - exact[known]).max())
        solved = Solved(result, signal, values, l2, max_error)
        if run_dir is not None:
            plot_solution(run_dir / "solution.png", signal, values, f"{signal.name}: solution")
            if exact is not None:
                plot_solution(run_dir / "error.png", signal, values - exact, f"{signal.name}: error u − u_exact")
                plot_curve(result.history, run_dir / "curve.png", key="l2_error", label="L2 relative error", log=True)
            write_json(run_dir / "summary.json", solved.summary())
        return solved


def step_requests(pde: PDE, config: FieldConfig, fit_config: FitConfig, device: str) -> list[Request]:
    """A training step at its largest (`step_groups`, with L-BFGS's history if the fit takes it),
    on `device`; with a fixed collocation set, its draw (all of it, and a refinement's candidates,
    on the CPU) and a refinement's evaluation of the candidates, on `device`."""
    groups = step_groups(pde, fit_config.steps)
    points = sum(count for count, _, _ in groups)
    lbfgs = fit_config.lbfgs > 0
    fixed = pde.options.collocation is not None
    what = f"training a {config.model} of width {config.width} and depth {config.depth} on {points:,} points per step"
    lowers = f"{'--collocation' if fixed else '--batch (points per step)'}, --width or --depth"
    requests = [Request(training_bytes(config, groups, lbfgs=lbfgs), what, lowers, device)]
    refinement = pde.posed.refinement
    candidates = refinement.candidates if refinement is not None else 0
    if fixed:
        drawn = (DRAW_POINT_BYTES + 16 * len(pde.low)) * (points + candidates)
        requests.append(Request(drawn, f"drawing {points:,} collocation points", "--collocation"))
    if refinement is not None:
        refining = training_bytes(config, [(candidates, *groups[0][1:])], lbfgs=lbfgs)
        what = f"refining the collocation set by the residual at {candidates:,} candidates"
        requests.append(Request(refining, what, "--collocation", device))
    return requests


def grid_requests(pde: PDE, config: FieldConfig, device: str) -> list[Request]:
    """Measuring the error and drawing the figures on the grid (`GRID_POINTS` per axis): its
    values, on the CPU, and the solution evaluated a chunk at a time, on `device`."""
    side, dim = GRID_POINTS[len(pde.low)], len(pde.low)
    chunk = min(side**dim, EVALUATION_CHUNK)
    what = f"measuring and drawing the solution on a grid of {side}^{dim} points"
    return [
        Request(side**dim * GRID_POINT_BYTES, what, "the box's axes (--low, --high)"),
        evaluation_request(
            config, chunk, f"evaluating the solution on {chunk:,} grid points at once", "--width", device
        ),
    ]


def step_groups(pde: PDE, steps: int) -> list[tuple[int, int, bool]]:
    """Each sample group of a training step of `pde` at its largest, as (points, derivative order,
    whether the unmixed second derivatives are taken): a refined set (the equation's) grown by the
    additions of all `steps` steps."""
    refinement, equation = pde.posed.refinement, pde.posed.constraints[0]
    growth = steps // refinement.every * refinement.add if refinement is not None else 0
    groups = []
    for members in pde.posed.sample_groups():
        points = members[0].points + (growth if any(c is equation for c in members) else 0)
        groups.append((points, *derivative_path(union_of_needs(members))))
    return groups


def derivative_path(needs: frozenset[str]) -> tuple[int, bool]:
    """The derivative order of a constraint's needs and whether the unmixed second derivatives are
    among them, as `problems.base.evaluate` takes them."""
    second = "second" in needs
    return (2 if second or "laplacian" in needs else 1 if "gradient" in needs else 0), second


def make_pde(name: str, options: PDEOptions | None = None, **parameters: Any) -> PDE:
    """The built-in problem `name` with these parameters (its physics; "hard" among them sets
    `options.hard`, as a checkpoint records it); InputError for an unknown name or a bad value."""
    if name not in PDES:
        raise InputError(f"unknown problem {name!r}; choose one of {', '.join(sorted(PDES))}")
    try:
        options = options or PDEOptions()
        if "hard" in parameters:
            options = replace(options, hard=bool(parameters.pop("hard")))
        return PDES[name](**parameters, options=options)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name}: {error}") from None


def solve(
    pde: PDE,
    field_config: FieldConfig = SOLVE_FIELD,
    fit_config: FitConfig = SOLVE_FIT,
    *,
    error_every: int = ERROR_EVERY,
    **settings: Any,
) -> Solved:
    """Solve a built-in problem (`recipes.kind.fit_signal` with `PDEKind`; keywords as there: device,
    run_dir, resume, quiet, identity, on_step). With no settings it does what `sirenkit solve`
    does. The error against the exact solution is logged every `error_every` steps.

    Files with `run_dir`: model.safetensors, solution.png, error.png and curve.png (the error per
    step) where the problem has an exact solution, metrics.jsonl, summary.json, checkpoint.safetensors.
    """
    if error_every < 1:
        raise InputError(f"error-every must be at least 1, got {error_every}")
    return fit_signal(PDEKind(fit_config, error_every), pde, field_config, fit_config, **settings)


def load_solution(path: str | Path) -> tuple[PDE, nn.Module]:
    """A solved problem from its model or checkpoint file: the problem and its solution u, a module
    of x (..., d) in the problem's units."""
    representation: Representation = load_representation(path)
    kind_name(representation, PDEKind.name, path=path)
    pde = make_pde(representation.signal["problem"], **representation.signal["parameters"])
    return pde, pde.problem.solution(representation.field)
