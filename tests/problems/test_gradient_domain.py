"""Gradient-domain problems (`problems/gradient_domain.py`): derivative, mean and anchor constraints, fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sirenkit.fields import FieldConfig, build_field
from sirenkit.problems import Batch, Constraint, PointSet, evaluate
from sirenkit.problems.gradient_domain import (
    anchor_constraints,
    combine_gradients,
    derivative_constraint,
    derivative_targets,
    mean_constraint,
    mean_datum,
    reconstruction_problem,
)
from sirenkit.signals import grid_coordinates

from .problem_helpers import generator


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
    data = {"mean": mean_datum(torch.tensor([0.25]), x.shape[0])}
    constraint = mean_constraint(PointSet(x, data), points=None, weight=2.0)
    right = evaluate(lambda p: torch.full((p.shape[0], 1), 0.25) + p[:, :1], Batch(x, data), constraint.needs)
    wrong = evaluate(lambda p: torch.full((p.shape[0], 1), 0.75), Batch(x, data), constraint.needs)
    assert constraint.loss(right).item() < 1e-12
    assert constraint.loss(wrong).item() == pytest.approx(2.0 * 0.5**2)


def test_anchors_pin_what_they_promise():
    shape = (6, 7)
    x = grid_coordinates(shape)
    image = PointSet(x, {"value": torch.rand(42, 3, generator=generator())})
    supervised = PointSet(x, {"mean": mean_datum(torch.zeros(3), 42)})
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
    with pytest.raises(ValueError, match='datum "mean"'):
        anchor_constraints("mean", image, shape, PointSet(x), **options)


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


def test_reconstruction_problem_names_and_needs(camera64):
    values = camera64.pixels * 2 - 1
    from_gradient = reconstruction_problem(values, "gradient", "mean")
    assert [c.name for c in from_gradient.constraints] == ["gradient", "mean"]
    assert from_gradient.needs == {"value", "gradient"}
    from_laplacian = reconstruction_problem(values, "laplacian", "border+mean")
    assert [c.name for c in from_laplacian.constraints] == ["laplacian", "border", "mean"]
    assert from_laplacian.needs == {"value", "laplacian"}
    targets = derivative_targets(values, "laplacian")
    assert targets.shape == (64 * 64, 1) and np.isfinite(targets.numpy()).all()
