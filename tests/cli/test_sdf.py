"""`sirenkit fit sdf`, `sirenkit mesh` and `sirenkit preview` (`cli/sdf.py`)."""

from __future__ import annotations

import json

import numpy as np

from signal_helpers import CENTER, sphere_points
from sirenkit.cli import main
from sirenkit.fields import FieldConfig


def test_cli_fit_sdf_and_mesh(tmp_path):
    points = sphere_points(2000, seed=9)
    path = tmp_path / "ball.xyz"
    np.savetxt(path, np.hstack([points.points, points.normals]))
    out = tmp_path / "run"
    args = ["fit", "sdf", str(path), "--out", str(out), "--steps", "200", "--width", "32", "--depth", "2"]
    args += ["--omega0", "5", "--lr", "3e-4", "--batch", "500", "--off-surface-points", "500", "--resolution", "32"]
    assert main([*args, "--preview-size", "16", "--quiet"]) == 0
    for name in ("model.safetensors", "checkpoint.safetensors", "mesh.ply", "preview.png", "summary.json", "curve.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["chamfer_l1"] < 0.02 and summary["resolution"] == 32
    assert main(["mesh", str(out / "model.safetensors"), "--resolution", "40", "--out", str(tmp_path / "m.obj")]) == 0
    import trimesh

    mesh = trimesh.load(tmp_path / "m.obj", process=False)
    np.testing.assert_allclose(mesh.bounds.mean(0), CENTER, atol=0.1)  # source units, not [-1, 1]
    assert main(["preview", str(out / "model.safetensors"), "--size", "16", "--up", "y"]) == 0
    from PIL import Image

    with Image.open(out / "preview_y.png") as preview:
        assert preview.size == (64, 16)  # four views side by side


def test_cli_mesh_rejects_a_non_sdf_checkpoint_and_a_bad_format(tmp_path, capsys):
    from sirenkit.fields import build_field
    from sirenkit.store import Representation, save_representation

    config = FieldConfig(width=8, depth=1)
    save_representation(tmp_path / "img.safetensors", Representation(build_field(config), config, {"kind": "image"}))
    assert main(["mesh", str(tmp_path / "img.safetensors")]) == 2
    assert "not a shape" in capsys.readouterr().err
    assert main(["mesh", str(tmp_path / "img.safetensors"), "--out", str(tmp_path / "m.stl")]) == 2
    assert ".ply or .obj" in capsys.readouterr().err
    assert main(["preview", str(tmp_path / "img.safetensors")]) == 2
    assert "not a shape" in capsys.readouterr().err
    assert not (tmp_path / "preview_z.png").exists()
