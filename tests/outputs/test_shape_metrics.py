"""Distances between surfaces (`outputs/shape_metrics.py`): Chamfer, normal consistency, F-score."""

from __future__ import annotations

import numpy as np
import pytest

from sirenkit.outputs.shape_metrics import shape_metrics


def test_shape_metrics_of_a_plane_and_its_offset_copies():
    u, v = np.meshgrid(np.linspace(0, 1, 60), np.linspace(0, 1, 60))
    plane = np.stack([u.ravel(), v.ravel(), np.zeros(u.size)], 1)
    up = np.tile([0.0, 0.0, 1.0], (len(plane), 1))
    diagonal = np.sqrt(2)
    same = shape_metrics(plane, -up, plane, up, diagonal)  # flipped normals: consistency ignores the sign
    assert (same.chamfer_l1, same.chamfer_l2, same.normal_consistency, same.fscore) == (0, 0, 1, 1)
    for offset, fscore in ((0.005, 1.0), (0.02, 0.0)):  # fractions of the diagonal; F-score at 0.01
        moved = shape_metrics(plane + [0, 0, offset * diagonal], up, plane, up, diagonal)
        assert moved.chamfer_l1 == pytest.approx(offset) and moved.chamfer_l2 == pytest.approx(offset**2)
        assert moved.fscore == fscore
