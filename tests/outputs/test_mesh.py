"""Meshes (`outputs/mesh.py`): coarse-to-fine marching cubes against dense, and the format a suffix names."""

from __future__ import annotations

import itertools

import numpy as np

from signal_helpers import TorusSDF, unmatched
from sirenkit.cli import main
from sirenkit.outputs.mesh import extract_mesh


def test_coarse_to_fine_mesh_equals_dense_on_an_exact_sdf():
    field = TorusSDF()
    for resolution, block in itertools.product((33, 50, 150), (2, 4)):  # 50, 150: blocks overhang the far faces
        dense = extract_mesh(field, resolution, method="dense")
        fine = extract_mesh(field, resolution, method="coarse-to-fine", block=block)
        assert len(fine.faces) == len(dense.faces) and len(fine.vertices) == len(dense.vertices)
        # The two paths compute float32 sample coordinates differently (a last-bit difference at some
        # resolutions), which moves a vertex by up to ~3e-6.
        tolerance = 1e-5
        assert unmatched(fine.vertices, dense.vertices, tolerance).size == 0
        assert unmatched(dense.vertices, fine.vertices, tolerance).size == 0
        assert fine.to_trimesh().is_watertight
        centers = fine.vertices[fine.faces].mean(1)
        ring = 0.55 * centers * np.array([1, 1, 0]) / np.linalg.norm(centers[:, :2], axis=1, keepdims=True)
        outward = np.einsum("ni,ni->n", fine.to_trimesh().face_normals, centers - ring)
        assert (outward > 0).all(), "faces must face outward"


def test_mesh_writes_ply_and_obj_by_suffix(checkpoints, tmp_path):
    import trimesh

    for suffix in (".ply", ".obj"):
        out = tmp_path / f"m{suffix}"
        assert main(["mesh", str(checkpoints["sdf"]), "--resolution", "16", "--out", str(out)]) == 0
        assert len(trimesh.load(out, process=False).faces) > 0
    assert (tmp_path / "m.ply").read_bytes().startswith(b"ply")
