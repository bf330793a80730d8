"""`sirenkit fit volume` and `sirenkit render` of volume checkpoints (`cli/volume.py`)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image as PILImage

from conftest import run_cli
from signal_helpers import analytic_volume


def test_the_cli_fits_a_volume_renders_it_at_twice_the_size_and_resumes(volume_npy, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["fit", "volume", str(volume_npy), "--out", str(run), "--width", "64", "--depth", "2", "--quiet"]
    code, _ = run_cli([*args, "--steps", "150"], capsys)
    assert code == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["psnr_db"] > 30, summary
    reconstruction = np.load(run / "reconstruction.npy")
    assert reconstruction.shape == (20, 20, 20, 1)
    source = analytic_volume()
    assert np.abs(reconstruction[..., 0] - source).max() < 0.2 * (source.max() - source.min())
    code, _ = run_cli(
        ["render", str(run / "model.safetensors"), "--size", "40x30x20", "--out", str(run / "up.npy")], capsys
    )
    assert code == 0 and np.load(run / "up.npy").shape == (20, 30, 40, 1)
    code, _ = run_cli(["render", str(run / "model.safetensors"), "--out", str(run / "slices.png")], capsys)
    assert code == 0 and np.asarray(PILImage.open(run / "slices.png")).shape == (20, 60)
    code, err = run_cli([*args, "--steps", "160", "--resume"], capsys)
    assert code == 0 and "--steps 150 -> 160" in err
    assert json.loads((run / "summary.json").read_text())["steps"] == 160


def test_a_volume_fits_as_tiles_in_its_source_units_and_renders_at_any_size(volume_npy, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["fit", "volume", str(volume_npy), "--out", str(run), "--width", "32", "--depth", "2", "--quiet"]
    code, err = run_cli([*args, "--steps", "150", "--tiles", "12", "--tile-overlap", "4"], capsys)
    assert code == 0, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["psnr_db"] > 30, summary  # 8 tiles of 12³ voxels, each in the whole volume's range
    source = analytic_volume()
    reconstruction = np.load(run / "reconstruction.npy")[..., 0]
    assert np.abs(reconstruction - source).max() < 0.2 * (source.max() - source.min())
    code, _ = run_cli(
        ["render", str(run / "model.safetensors"), "--size", "30x30x30", "--out", str(run / "up.npy")], capsys
    )
    assert code == 0 and np.load(run / "up.npy").shape == (30, 30, 30, 1)
