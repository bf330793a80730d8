"""`problems/ansatz.py`: the solution's jet by the product rule against autograd through the whole
solution, and hard constraints held exactly."""

from __future__ import annotations

import pytest
import torch

from sirenkit.calculus import autograd_jet
from sirenkit.fields import FieldConfig, build_field
from sirenkit.problems import Ansatz, Batch, Problem, Solution, evaluate


def distance(x):
    return x[:, :1] * (2 - x[:, :1]) * torch.sin(x[:, 1:])


def lift(x):
    return torch.cat([x[:, :1] ** 2 * x[:, 1:], torch.cos(x[:, :1] + x[:, 1:])], 1)


@pytest.mark.parametrize("method", ["forward", "autograd"])
@pytest.mark.parametrize("parts", ["scale", "distance", "lift", "both"])
def test_the_product_rule_jet_equals_autograd_through_the_solution(method, parts):
    field_ = build_field(FieldConfig(in_dim=2, out_dim=2, width=16, depth=1, omega0=5.0), seed=0).double()
    ansatz = Ansatz(
        [0.5, -1.0],
        2.5,
        distance=distance if parts in ("distance", "both") else None,
        lift=lift if parts in ("lift", "both") else None,
    )
    x = torch.rand(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    ansatz.center = ansatz.center.double()
    ours = ansatz.jet(field_, x, 2, method=method)
    with_second = ansatz.jet(field_, x, 2, second=True)
    reference = autograd_jet(Solution(field_, ansatz), x, 2)
    for name in ("value", "gradient", "laplacian"):
        torch.testing.assert_close(getattr(ours, name), getattr(reference, name), rtol=1e-9, atol=1e-9, msg=name)
    torch.testing.assert_close(with_second.second, reference.second, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(with_second.second.sum(-1), reference.laplacian, rtol=1e-9, atol=1e-9)


def test_a_hard_constraint_holds_exactly_where_the_distance_vanishes():
    field_ = build_field(FieldConfig(in_dim=2, out_dim=2, width=16, depth=1), seed=3)
    ansatz = Ansatz([0.0, 0.0], 1.0, distance=distance, lift=lift)
    on_constraint = torch.stack([torch.zeros(50), torch.linspace(-1, 1, 50)], 1)  # x = 0: distance 0
    torch.testing.assert_close(ansatz.value(field_, on_constraint), lift(on_constraint))
    inside = on_constraint + torch.tensor([0.5, 0.0])
    assert not torch.allclose(ansatz.value(field_, inside), lift(inside))


def test_the_field_sees_the_box_scaled_into_the_unit_cube():
    ansatz = Ansatz.for_box([0.0, 10.0], [2.0, 14.0])
    corners = torch.tensor([[0.0, 10.0], [2.0, 14.0], [1.0, 12.0]])
    torch.testing.assert_close(ansatz.inputs(corners), torch.tensor([[-0.5, -1.0], [0.5, 1.0], [0.0, 0.0]]))


def test_evaluation_through_a_problem_with_an_ansatz_reads_the_solution():
    field_ = build_field(FieldConfig(in_dim=2, out_dim=1, width=8, depth=1), seed=0)
    ansatz = Ansatz([1.0, 1.0], 3.0, distance=distance)
    x = torch.rand(10, 2)
    ev = evaluate(field_, Batch(x), frozenset({"laplacian"}), ansatz=ansatz)
    torch.testing.assert_close(ev.value, Problem([], ansatz=ansatz).solution(field_)(x))
    with pytest.raises(ValueError, match="scale must be a positive number"):
        Ansatz([0.0], 0.0)
