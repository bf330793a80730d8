"""Domains and their samplers (`problems/domains.py`): point sets, boxes, box faces, balls, grids, borders."""

from __future__ import annotations

import pytest
import torch

from sirenkit.problems import Ball, Box, PointSet
from sirenkit.problems.domains import BoxBoundary, Grid, border_mask, restrict
from sirenkit.signals import grid_coordinates

from .problem_helpers import generator


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


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_a_ball_samples_uniformly_by_volume(dim):
    ball = Ball([0.5] * dim, 2.0)
    r = (ball.sample(20000, generator()).x - 0.5).norm(dim=-1)
    assert float(r.max()) <= 2.0 + 1e-6
    inner = float((r < 1.0).float().mean())  # the inner ball of half the radius holds 2^-d of the volume
    assert inner == pytest.approx(0.5**dim, abs=0.015)
    with pytest.raises(ValueError, match="positive radius"):
        Ball([0.0, 0.0], 0.0)


def test_a_box_takes_plain_numbers_in_its_own_units_and_refuses_bad_bounds():
    box, boundary = Box([0, -1], [2, 1]), BoxBoundary([0.0, 0.0], [1.0, 4.0])
    assert box.low.dtype == torch.float32 and torch.equal(box.high, torch.tensor([2.0, 1.0]))
    x = box.sample(1000, generator()).x
    assert bool(((x >= box.low) & (x <= box.high)).all()) and float(x[:, 0].max()) > 1.9
    assert float(boundary.sample(1000, generator()).x[:, 1].max()) == pytest.approx(4.0)
    for low, high in (([0, 0], [1]), ([1, 0], [0, 1]), ([0, "a"], [1, 1]), (0.0, 1.0)):
        with pytest.raises(ValueError, match="box"):
            Box(low, high)
    with pytest.raises(ValueError, match="low < high"):
        BoxBoundary([0, 0], [0, 1])


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
