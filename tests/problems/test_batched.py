"""BatchedProblem: K members' problems as one loss, each member drawing what a lone problem draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.problems.problem_helpers import generator
from tests.signal_helpers import sphere_points, torus_points

from sirenkit.fields import FieldConfig, build_field
from sirenkit.fields.batched import stack_fields
from sirenkit.problems import PointSet, fitting_problem
from sirenkit.problems.base import Batch
from sirenkit.problems.batched import BatchedProblem, stack_batches
from sirenkit.problems.gradient_domain import reconstruction_problem
from sirenkit.problems.sdf import SDFConfig, sdf_problem


def _surface(points) -> PointSet:
    return PointSet(torch.from_numpy(points.points).float(), {"normal": torch.from_numpy(points.normals).float()})


def _fields(config: FieldConfig, seeds=(0, 1)):
    return [build_field(config, seed=seed) for seed in seeds]


@pytest.mark.parametrize("case", ["fitting", "sdf", "poisson"])
def test_the_batched_loss_is_the_sum_of_each_members_own_loss_and_leaves_the_sampler_where_one_would(case):
    if case == "fitting":
        config = FieldConfig(width=16, depth=1, in_dim=2, out_dim=1)
        problems = [
            fitting_problem(PointSet(torch.rand(50, 2) * 2 - 1, {"target": torch.randn(50, 1)}), points=32)
            for _ in range(2)
        ]
    elif case == "poisson":  # Laplacians through the batched forward-mode jet, and the anchors
        config = FieldConfig(width=16, depth=1, in_dim=2, out_dim=1)
        ramp = np.linspace(0, 1, 144).reshape(12, 12, 1)  # two images of other means and Laplacian energies
        problems = [reconstruction_problem(ramp**power, "laplacian", "border+mean", points=40) for power in (1, 3)]
    else:  # gradients and the eikonal term through the batched forward-mode jet
        config = FieldConfig(width=16, depth=1, in_dim=3, out_dim=1)
        settings = SDFConfig(surface_points=64, off_surface_points=64)
        problems = [
            sdf_problem(_surface(sphere_points(200, 0)), settings),
            sdf_problem(_surface(torus_points(300, 1)), settings),
        ]
    fields = _fields(config)
    batched = BatchedProblem(problems)
    # point sets of one size are drawn once for all members; other domains member by member
    assert [points is not None for points in batched.stacked_points] == {
        "fitting": [True],
        "poisson": [False, True],
        "sdf": [False, False],  # surfaces of 200 and 300 points, and a box
    }[case]
    together = generator(3)
    terms = batched.losses(stack_fields(fields), together)
    for k, (problem, field) in enumerate(zip(problems, fields)):
        alone = generator(3)
        own = problem.losses(field, alone)
        assert set(own) == set(terms)
        for name, value in own.items():
            assert batched.member_terms[name][k].item() == pytest.approx(value.item(), rel=1e-5, abs=1e-7)
        assert torch.equal(alone.get_state(), together.get_state())
    for name, value in terms.items():
        assert value.item() == pytest.approx(batched.member_terms[name].sum().item(), rel=1e-6)


def test_members_must_pose_the_same_constraints_and_draw_batches_of_one_shape():
    points = PointSet(torch.rand(50, 2), {"target": torch.rand(50, 1)})
    with pytest.raises(ValueError, match="problem 1 has other constraints"):
        BatchedProblem([fitting_problem(points, points=8), fitting_problem(points, points=16)])
    with pytest.raises(ValueError, match="at least one problem"):
        BatchedProblem([])
    with pytest.raises(ValueError, match="batches of different shapes"):
        stack_batches([Batch(torch.zeros(4, 2)), Batch(torch.zeros(5, 2))])
    with pytest.raises(ValueError, match="different data"):
        stack_batches([Batch(torch.zeros(4, 2), {"a": torch.zeros(4)}), Batch(torch.zeros(4, 2))])
