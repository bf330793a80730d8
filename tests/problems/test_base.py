"""The general problem (`problems/base.py`): constraints, problems, and the self-checking example built on them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from sirenkit.problems import Batch, Box, Constraint, PointSet, Problem, evaluate

from .problem_helpers import generator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "poisson_2d.py"


class Quadratic(nn.Module):
    """Φ(x) = x₀² + 3·x₁ (one channel): ∇Φ = (2x₀, 3), ΔΦ = 2 everywhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :1] ** 2 + 3 * x[..., 1:2]


class CountingDomain:
    """A point set that counts how often it is sampled."""

    def __init__(self, points: PointSet) -> None:
        self.points, self.calls = points, 0

    def sample(self, n: int | None, generator: torch.Generator) -> Batch:
        self.calls += 1
        return self.points.sample(n, generator)


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_constraint_penalizes_its_residual_with_weight_and_norm(norm):
    x = Box.cube(2).sample(64, generator()).x
    domain = PointSet(x, {"gradient": torch.stack([2 * x[:, 0], torch.full((64,), 3.0)], -1)[:, None, :]})
    exact = Constraint("g", domain, lambda ev: ev.gradient - ev.data["gradient"], needs=frozenset({"gradient"}))
    assert exact.loss(evaluate(Quadratic(), domain.sample(None, generator()), exact.needs)).item() < 1e-10
    off = Constraint(
        "lap", domain, lambda ev: ev.laplacian - 0.5, needs=frozenset({"laplacian"}), weight=3.0, norm=norm
    )
    value = off.loss(evaluate(Quadratic(), domain.sample(None, generator()), off.needs))
    assert value.item() == pytest.approx(3.0 * (1.5**2 if norm == "l2" else 1.5), rel=1e-5)


def test_problem_needs_the_union_and_shares_one_sample_per_domain_and_batch_size():
    shared = CountingDomain(PointSet(Box.cube(2).sample(100, generator()).x))
    other = CountingDomain(PointSet(Box.cube(2).sample(100, generator(1)).x))
    problem = Problem(
        [
            Constraint("value", shared, lambda ev: ev.value, points=10),
            Constraint("lap", shared, lambda ev: ev.laplacian, needs=frozenset({"laplacian"}), points=10),
            Constraint("far", other, lambda ev: ev.gradient, needs=frozenset({"gradient"})),
        ]
    )
    assert problem.needs == {"value", "gradient", "laplacian"}
    losses = problem.losses(Quadratic(), generator())
    assert list(losses) == ["value", "lap", "far"]
    assert (shared.calls, other.calls) == (1, 1)
    assert losses["lap"].item() == pytest.approx(4.0)  # ΔΦ = 2
    assert losses["far"].item() == pytest.approx(float((4 * other.points.x[:, 0] ** 2 + 9).mean() / 2), rel=1e-5)


# The self-checking example: a new problem in about 20 lines


def load_example():
    spec = importlib.util.spec_from_file_location("poisson_2d", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_poisson_2d_solves_its_equation_and_checks_itself(capsys):
    example = load_example()
    assert example.main(["--steps", "120"]) == 0
    assert "relative L2 error" in capsys.readouterr().out
    assert example.main(["--steps", "3"]) == 1  # too few steps: the check fails and says so


def test_a_residual_that_reads_a_derivative_it_does_not_list_is_named_with_the_need_to_add():
    box = Box([-1, -1], [1, 1])
    pde = Constraint("pde", box, lambda ev: ev.laplacian - 2, needs=frozenset({"laplacian"}), points=16)
    sloppy = Constraint("edge", box, lambda ev: ev.laplacian - ev.value, points=16)  # needs left at {"value"}
    problem = Problem([pde, sloppy])  # one sample group: the Laplacian is computed for both
    with pytest.raises(ValueError, match=r"constraint 'edge' reads the laplacian .* add 'laplacian' to its needs"):
        problem.losses(Quadratic(), generator())
    fixed = Constraint(
        "edge", box, lambda ev: ev.laplacian - ev.value, needs=frozenset({"value", "laplacian"}), points=16
    )
    losses = Problem([pde, fixed]).losses(Quadratic(), generator())
    assert losses["pde"].item() == pytest.approx(0.0, abs=1e-8)
