"""Oriented point clouds (`signals/points.py`): normals estimated, read or sampled outward, bad surface files."""

from __future__ import annotations

import numpy as np
import pytest

from signal_helpers import SHAPES, sphere_points
from sirenkit.cli import main
from sirenkit.errors import InputError
from sirenkit.signals.points import load_oriented_points


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_estimated_normals_point_outward(name, tmp_path):
    sample, _ = SHAPES[name]
    points = sample(3000, seed=6)
    path = tmp_path / "cloud.xyz"
    np.savetxt(path, points.points)  # x y z only: the normals must be estimated
    estimated = load_oriented_points(path)
    assert estimated.normals.shape == points.normals.shape
    cosine = np.einsum("ni,ni->n", estimated.normals, points.normals)
    assert cosine.min() > 0, f"{int((cosine <= 0).sum())} normals point inward"
    assert np.median(cosine) > 0.99


def write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


BAD_SURFACES = {
    "xyz with NaN rows": (lambda t: write(t / "nan.xyz", "0 0 0\n1 0 0\nnan 1 0\n0 0 1\n"), {}, "NaN"),
    "empty file": (lambda t: write(t / "empty.xyz", ""), {}, "empty"),
    "not a mesh (ply)": (lambda t: write(t / "x.ply", "hello\n"), {}, "cannot read"),
    "not a mesh (obj)": (lambda t: write(t / "x.obj", "hello\n"), {}, "cannot read"),
    "mesh without faces, normals given": (
        lambda t: write(t / "v.obj", "".join(f"v {i} {i % 3} {i % 5}\n" for i in range(20))),
        {"normals": "given"},
        "has no normals",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SURFACES))
def test_bad_surface_file_is_one_clear_error(case, tmp_path, capsys):
    make, options, message = BAD_SURFACES[case]
    path = make(tmp_path)
    with pytest.raises(InputError, match=message):
        load_oriented_points(path, **options)
    out = tmp_path / "out"
    args = ["fit", "sdf", str(path), "--out", str(out), "--steps", "1", "--width", "8", "--quiet"]
    args += [f"--{k}={v}" for k, v in options.items()]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sirenkit: error:") and message in err, err
    assert not (out / "model.safetensors").exists()


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".off", ".stl"])
def test_meshes_are_sampled_with_outward_face_normals(suffix, tmp_path):
    import trimesh

    path = tmp_path / f"ball{suffix}"
    trimesh.creation.icosphere(subdivisions=2, radius=2.0).export(path)
    points = load_oriented_points(path, samples=500)
    assert len(points) == 500
    np.testing.assert_allclose(np.linalg.norm(points.points, axis=1), 2.0, atol=0.1)
    assert (np.einsum("ni,ni->n", points.normals, points.points) > 0).all()


def test_point_cloud_ply_keeps_its_normals(tmp_path):
    points = sphere_points(50, seed=8)
    rows = "".join(" ".join(f"{v:.9g}" for v in row) + "\n" for row in np.hstack([points.points, points.normals]))
    header = "ply\nformat ascii 1.0\nelement vertex 50\n" + "".join(
        f"property float {name}\n" for name in ("x", "y", "z", "nx", "ny", "nz")
    )
    loaded = load_oriented_points(write(tmp_path / "cloud.ply", header + "end_header\n" + rows), normals="given")
    np.testing.assert_allclose(loaded.normals, points.normals, atol=1e-6)
