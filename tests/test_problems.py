"""The general problem: domains and their samplers, constraints, problems, and the self-checking example."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from sirenkit.fields import FieldConfig, build_field
from sirenkit.problems import Batch, Box, Constraint, PointSet, Problem, evaluate
from sirenkit.problems.domains import BoxBoundary, Grid, border_mask, restrict
from sirenkit.problems.gradient_domain import (
    anchor_constraints,
    combine_gradients,
    derivative_constraint,
    derivative_targets,
    mean_constraint,
    poisson_problem,
)
from sirenkit.signals import grid_coordinates

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "poisson_2d.py"


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


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


# Domains and samplers


def test_point_set_draws_fresh_rows_with_their_data_and_all_rows_for_none():
    x = torch.arange(20.0).reshape(10, 2)
    points = PointSet(x, {"a": x.sum(1, keepdim=True)})
    everything = points.sample(None, generator())
    assert torch.equal(everything.x, x)
    batch = points.sample(6, generator(1))
    assert batch.x.shape == (6, 2) and torch.equal(batch.data["a"], batch.x.sum(1, keepdim=True))
    assert torch.equal(points.sample(6, generator(1)).x, batch.x)
    assert not torch.equal(points.sample(6, generator(2)).x, batch.x)
    with pytest.raises(ValueError, match="rows"):
        PointSet(x, {"a": torch.zeros(9)})


def test_box_samples_uniformly_inside():
    box = Box(torch.tensor([0.0, -1.0]), torch.tensor([2.0, 1.0]))
    x = box.sample(20000, generator()).x
    assert bool((x >= box.low).all() and (x <= box.high).all())
    assert torch.allclose(x.mean(0), torch.tensor([1.0, 0.0]), atol=0.03)
    with pytest.raises(ValueError, match="infinite"):
        box.sample(None, generator())


def test_box_boundary_points_lie_on_the_faces_in_proportion_to_their_area():
    boundary = BoxBoundary(torch.tensor([0.0, 0.0]), torch.tensor([2.0, 1.0]))
    x = boundary.sample(30000, generator()).x
    on_x0_face = (x[:, 0] == 0) | (x[:, 0] == 2)
    on_x1_face = (x[:, 1] == 0) | (x[:, 1] == 1)
    assert bool((on_x0_face | on_x1_face).all())
    assert bool(((x >= boundary.low) & (x <= boundary.high)).all())
    # faces x1 = 0 and x1 = 1 are 2 long, faces x0 = 0 and x0 = 2 are 1 long: 2/3 of the points
    assert abs(float(on_x1_face.float().mean()) - 2 / 3) < 0.01
    assert abs(float(x[on_x1_face, 0].mean()) - 1.0) < 0.02  # uniform along the face
    cube = BoxBoundary.cube(3).sample(3000, generator()).x
    assert bool((cube.abs().max(1).values == 1).all())


def test_grid_samples_its_nodes_or_between_them_with_interpolated_data():
    shape = (5, 8)
    nodes = grid_coordinates(shape)
    linear = (3 * nodes[:, 0] - 2 * nodes[:, 1])[:, None, None]  # (N, 1, 1), exact under bilinear interpolation
    on_nodes = Grid(shape, {"f": linear})
    assert torch.equal(on_nodes.sample(None, generator()).x, nodes)
    assert on_nodes.sample(7, generator()).x.shape == (7, 2)
    jittered = Grid(shape, {"f": linear}, jitter=True)
    extents = torch.tensor([4 / 7, 1.0])
    for n in (None, 4000):
        batch = jittered.sample(n, generator())
        assert batch.data["f"].shape == (n or 40, 1, 1)
        assert torch.allclose(batch.data["f"][:, 0, 0], 3 * batch.x[:, 0] - 2 * batch.x[:, 1], atol=1e-5)
        assert bool((batch.x.abs() <= extents).all())
    stratified = jittered.sample(None, generator()).x
    assert bool(((stratified - nodes).abs() <= 1 / 7 + 1e-6).all()) and not torch.equal(stratified, nodes)
    spread = jittered.sample(4000, generator()).x
    assert bool((spread.abs().max(0).values > 0.98 * extents).all())
    with pytest.raises(ValueError, match="rows"):
        Grid(shape, {"f": linear[:-1]})


def test_border_mask_and_restrict():
    mask = border_mask((4, 5))
    assert mask.shape == (20,) and int(mask.sum()) == 20 - 2 * 3
    assert not bool(mask.reshape(4, 5)[1:3, 1:4].any()) and bool(mask.reshape(4, 5)[0].all())
    points = PointSet(torch.arange(40.0).reshape(20, 2), {"v": torch.arange(20.0)})
    border = restrict(points, mask)
    assert torch.equal(border.data["v"], torch.arange(20.0)[mask])
    with pytest.raises(ValueError, match="no points"):
        restrict(points, torch.zeros(20, dtype=torch.bool))


# Constraints and problems


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


def test_derivative_constraint_is_zero_for_the_field_it_came_from_and_relative_otherwise():
    field_ = build_field(FieldConfig(width=32, depth=2), seed=0)
    x = grid_coordinates((12, 12))
    truth = evaluate(field_, Batch(x), frozenset({"laplacian"}))
    for source in ("gradient", "laplacian"):
        target = getattr(truth, source).detach()
        constraint = derivative_constraint(PointSet(x, {source: target}), source)
        ev = evaluate(field_, Batch(x, {source: target}), constraint.needs)
        assert constraint.loss(ev).item() < 1e-10
        zero = Constraint(source, constraint.domain, lambda ev, s=source: ev.data[s], weight=constraint.weight)
        assert zero.loss(ev).item() == pytest.approx(1.0, rel=1e-5)  # a field of zero derivatives scores 1


def test_mean_constraint_vanishes_at_the_right_constant_only():
    x = grid_coordinates((8, 8))
    domain = PointSet(x)
    constraint = mean_constraint(domain, torch.tensor([0.25]), points=None, weight=2.0)
    right = evaluate(lambda p: torch.full((p.shape[0], 1), 0.25) + p[:, :1], Batch(x), constraint.needs)
    wrong = evaluate(lambda p: torch.full((p.shape[0], 1), 0.75), Batch(x), constraint.needs)
    assert constraint.loss(right).item() < 1e-12
    assert constraint.loss(wrong).item() == pytest.approx(2.0 * 0.5**2)


def test_anchors_pin_what_they_promise():
    shape = (6, 7)
    x = grid_coordinates(shape)
    image = PointSet(x, {"value": torch.rand(42, 3, generator=generator())})
    supervised = PointSet(x)
    options = dict(points=None, weight=1.0, count=5, generator=generator())
    assert anchor_constraints("none", image, shape, supervised, **options) == []
    (mean,) = anchor_constraints("mean", image, shape, supervised, **options)
    assert mean.domain is supervised and mean.name == "mean"
    (border,) = anchor_constraints("border", image, shape, supervised, **options)
    assert border.domain.x.shape[0] == 6 * 7 - 4 * 5
    assert [c.name for c in anchor_constraints("border+mean", image, shape, supervised, **options)] == [
        "border",
        "mean",
    ]
    (points,) = anchor_constraints("points", image, shape, supervised, **options)
    assert points.domain.x.shape[0] == 5
    with pytest.raises(ValueError, match="unknown anchor"):
        anchor_constraints("everywhere", image, shape, supervised, **options)


def test_combine_gradients_average_max_and_paste():
    a = torch.tensor([[[1.0, 0.0]], [[0.0, 0.1]], [[2.0, 2.0]]])  # (3, 1, 2)
    b = torch.tensor([[[0.0, 3.0]], [[0.5, 0.0]], [[0.0, 0.0]]])
    assert torch.allclose(combine_gradients(a, b, "average"), (a + b) / 2)
    assert torch.equal(combine_gradients(a, b, "max"), torch.stack([b[0], b[1], a[2]]))
    inside = torch.tensor([True, False, True])
    assert torch.equal(combine_gradients(a, b, "paste", inside), torch.stack([b[0], a[1], b[2]]))
    assert torch.equal(combine_gradients(a, b, "average", inside)[1], a[1])
    with pytest.raises(ValueError, match="mask"):
        combine_gradients(a, b, "paste")
    with pytest.raises(ValueError, match="unknown blend mode"):
        combine_gradients(a, b, "multiply")


def test_poisson_problem_names_and_needs(camera64):
    values = camera64.pixels * 2 - 1
    from_gradient = poisson_problem(values, "gradient", "mean")
    assert [c.name for c in from_gradient.constraints] == ["gradient", "mean"]
    assert from_gradient.needs == {"value", "gradient"}
    from_laplacian = poisson_problem(values, "laplacian", "border+mean")
    assert [c.name for c in from_laplacian.constraints] == ["laplacian", "border", "mean"]
    assert from_laplacian.needs == {"value", "laplacian"}
    targets = derivative_targets(values, "laplacian")
    assert targets.shape == (64 * 64, 1) and np.isfinite(targets.numpy()).all()


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
