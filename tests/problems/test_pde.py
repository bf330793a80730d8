"""`problems/pde.py`: each built-in's exact solution satisfies its constraints, hard conditions hold
by construction, and ill-posed or malformed problems are refused by name."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sirenkit.calculus import autograd_jet
from sirenkit.fields import FieldConfig, build_field
from sirenkit.problems import Problem
from sirenkit.problems.pde import PDES, PDEOptions, helmholtz, poisson

SETTINGS = {
    "poisson": [{}, {"low": (-1, -1), "high": (1, 1), "frequency": 2.0}, {"low": (0, 0, 0), "high": (1, 2, 1)}],
    "helmholtz": [{}, {"low": (-1,), "high": (2,), "wavenumber": 3.0}],
    "heat": [{}, {"low": (0, 0, 0), "high": (2, 1, 0.5), "diffusivity": 0.1}],
    "wave": [
        {},
        {"low": (0, 1), "high": (3, 2), "speed": 2.0, "width": 0.2},
        {"low": (-1, -1, 0), "high": (1, 1, 0.5)},
    ],
}


class Exact(nn.Module):
    """The exact solution as a network under the problem's ansatz (which only scales: soft conditions)."""

    def __init__(self, pde) -> None:
        super().__init__()
        self.pde, self.ansatz = pde, pde.problem.ansatz

    def forward(self, x_hat):
        return self.pde.exact(self.ansatz.center + self.ansatz.scale * x_hat)


@pytest.mark.parametrize(("name", "settings"), [(n, s) for n, cases in SETTINGS.items() for s in cases])
def test_the_exact_solution_satisfies_every_constraint(name, settings):
    pde = PDES[name](**settings)
    if pde.exact is None:  # the 2-D wave has no closed form
        assert pde.reference(8) is None
        return
    problem = Problem(pde.problem.constraints, derivative_method="autograd", ansatz=pde.problem.ansatz)
    terms = problem.losses(Exact(pde).double(), torch.Generator().manual_seed(0))
    assert {c.name for c in pde.problem.constraints} == set(terms)
    for term, loss in terms.items():
        assert loss.detach().item() < 1e-9, (term, loss.detach().item())
    other = Problem(problem.constraints, derivative_method="autograd", ansatz=problem.ansatz)
    field_ = build_field(FieldConfig(in_dim=len(pde.low), out_dim=1, width=8, depth=1), seed=0)
    assert (
        sum(other.losses(field_, torch.Generator().manual_seed(0)).values()).detach().item() > 1e-3
    )  # the check can fail


def test_the_wave_solution_travels_and_reflects_inverted():
    pde = PDES["wave"](low=(0, 0), high=(1, 2), speed=1.0, width=0.05)
    peak = pde.exact(torch.tensor([[0.5, 0.0], [0.25, 0.25], [0.75, 0.25], [0.5, 1.0], [0.5, 2.0]]))
    torch.testing.assert_close(peak[:, 0], torch.tensor([1.0, 0.5, 0.5, -1.0, 1.0]), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["poisson", "helmholtz", "heat", "wave"])
def test_hard_conditions_hold_for_any_network(name):
    pde = PDES[name](options=PDEOptions(hard=True))
    assert [c.name for c in pde.problem.constraints] == ["equation"]
    field_ = build_field(FieldConfig(in_dim=len(pde.low), out_dim=1, width=16, depth=1), seed=1)
    solution = pde.problem.solution(field_)
    x = pde.grid(9)
    low, high = torch.tensor(pde.low), torch.tensor(pde.high)
    time_dependent = pde.axes[-1] == "t"
    spatial = slice(0, len(pde.low) - 1) if time_dependent else slice(None)
    on_boundary = ((x[:, spatial] == low[spatial]) | (x[:, spatial] == high[spatial])).any(1)
    torch.testing.assert_close(solution(x[on_boundary]), pde.exact(x[on_boundary]), atol=1e-6, rtol=0)
    assert (solution(x) - pde.exact(x)).abs().max().detach().item() > 1e-3
    if time_dependent:
        initial = x[:, -1] == low[-1]
        torch.testing.assert_close(solution(x[initial]), pde.exact(x[initial]), atol=1e-6, rtol=0)
        velocity = autograd_jet(solution, x[initial], 1).gradient[:, 0, -1]
        if name == "wave":
            torch.testing.assert_close(velocity, torch.zeros_like(velocity), atol=1e-5, rtol=0)


BAD = {
    "a resonant wavenumber": (lambda: helmholtz(wavenumber=math.pi * math.sqrt(17)), "is an eigenvalue of −Δ"),
    "a zero wavenumber": (lambda: helmholtz(wavenumber=0.0), "wavenumber must be a positive number"),
    "an empty box": (lambda: poisson(low=(1,), high=(1,)), "finite low < high"),
    "a box of two lengths": (lambda: poisson(low=(0, 0), high=(1,)), "of one length"),
    "a negative diffusivity": (lambda: PDES["heat"](diffusivity=-1), "diffusivity must be a positive number"),
    "a wave without time": (lambda: PDES["wave"](low=(0,), high=(1,)), "of one length in \\[2, 3\\]"),
    "a weight of no constraint": (lambda: poisson(options=PDEOptions(weights={"boundry": 2})), "boundry"),
    "a negative weight": (lambda: poisson(options=PDEOptions(weights={"boundary": -1})), "number >= 0"),
    "hard with boundary values": (
        lambda: poisson(low=(0,), high=(0.75,), options=PDEOptions(hard=True)),
        "boundary values are not 0",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_ill_posed_or_malformed_problems_are_refused_by_name(case):
    make, message = BAD[case]
    with pytest.raises(ValueError, match=message):
        make()


def test_fixed_collocation_trains_on_the_same_points_every_step():
    pde = poisson(low=(0, 0), high=(1, 1), options=PDEOptions(collocation=64))
    equation, boundary = pde.problem.constraints
    assert equation.points is None and equation.domain.x.shape == (64, 2)
    assert boundary.points is None and boundary.domain.x.shape == (16, 2)
    edge = ((boundary.domain.x == 0) | (boundary.domain.x == 1)).any(1)
    assert bool(edge.all())
    again = poisson(low=(0, 0), high=(1, 1), options=PDEOptions(collocation=64))
    torch.testing.assert_close(again.problem.constraints[0].domain.x, equation.domain.x)


def test_refinement_adds_the_candidates_of_largest_residual_to_the_collocation_set():
    from sirenkit.problems import Batch, RefinedSet, evaluate

    pde = poisson(options=PDEOptions(collocation=64, refine_every=10))
    equation = pde.problem.constraints[0]
    assert isinstance(equation.domain, RefinedSet) and pde.problem.refinement.add == 4
    field_ = build_field(FieldConfig(in_dim=1, out_dim=1, width=16, depth=1), seed=0)
    before = equation.domain.x.clone()
    pde.problem.refine(field_, torch.Generator().manual_seed(5))
    candidates = equation.domain.source.sample(pde.problem.refinement.candidates, torch.Generator().manual_seed(5)).x
    ev = evaluate(field_, Batch(candidates), equation.needs, ansatz=pde.problem.ansatz)
    penalty = equation.measure(ev).detach()[:, 0]
    worst = candidates[penalty.topk(4).indices]
    torch.testing.assert_close(equation.domain.x, torch.cat([before, worst]))
    assert float(penalty.topk(4).values.min()) > float(penalty.median())
    with pytest.raises(ValueError, match="give collocation"):
        PDEOptions(refine_every=5)
