"""The volume kind: loading .npy and multi-page TIFF, fitting through the generic path, rendering
at any resolution (.npy grid, .png slices), resume, and the kind registry."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from conftest import run_cli
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.recipes.kind import KINDS
from sirenkit.recipes.volume import fit_volume, middle_slices, render_volume
from sirenkit.signals.volume import load_volume, volume_from_array
from sirenkit.store import load_representation


def analytic_volume(side: int = 20) -> np.ndarray:
    """A smooth field in arbitrary units (about -100 … 200) on a (side, side, side) grid."""
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, side)] * 3, indexing="ij")
    return ((np.sin(3 * x) * np.cos(2 * y) + z**2) * 100).astype(np.float32)


@pytest.fixture
def volume_npy(tmp_path):
    path = tmp_path / "field.npy"
    np.save(path, analytic_volume())
    return path


def test_every_fitting_kind_is_registered_by_the_name_its_checkpoints_record():
    assert {"image", "audio", "video", "volume"} <= set(KINDS)


def test_npy_and_multipage_tiff_load_to_the_same_unit_values(tmp_path):
    values = analytic_volume(12)
    unit8 = np.round(255 * (values - values.min()) / (values.max() - values.min())).astype(np.uint8)
    np.save(tmp_path / "v.npy", unit8)
    pages = [PILImage.fromarray(page) for page in unit8]
    pages[0].save(tmp_path / "v.tif", save_all=True, append_images=pages[1:])
    from_npy, from_tiff = load_volume(tmp_path / "v.npy"), load_volume(tmp_path / "v.tif")
    assert from_npy.shape == from_tiff.shape == (12, 12, 12) and from_npy.channels == 1
    np.testing.assert_array_equal(from_npy.values, from_tiff.values)
    assert (from_npy.low, from_npy.high) == (0.0, 255.0)


@pytest.mark.parametrize(
    "array,message",
    [
        (np.zeros((4, 4)), "must be (D, H, W)"),
        (np.zeros((4, 4, 4, 5)), "C <= 4"),
        (np.full((3, 3, 3), np.nan), "NaN"),
    ],
)
def test_bad_volumes_are_refused_with_one_line(tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_volume(path)
    (tmp_path / "bad.raw").write_bytes(b"1234")
    with pytest.raises(InputError, match="use .npy"):
        load_volume(tmp_path / "bad.raw")


def test_a_constant_volume_renders_back_to_its_constant():
    volume = volume_from_array(np.full((3, 4, 5), 7.5, dtype=np.float32))
    outcome = fit_volume(volume, FieldConfig(width=8, depth=1), FitConfig(steps=2, checkpoint_every=0), quiet=True)
    assert np.all(outcome.reconstruction == 7.5)
    assert outcome.reconstruction.shape == (3, 4, 5, 1)


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


def test_render_of_a_volume_matches_the_fit_at_source_size(volume_npy, tmp_path):
    outcome = fit_volume(
        load_volume(volume_npy), FieldConfig(width=16, depth=1), FitConfig(steps=3), run_dir=tmp_path, quiet=True
    )
    loaded = load_representation(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(render_volume(loaded), outcome.reconstruction)
    assert middle_slices(outcome.reconstruction).shape == (20, 60, 1)
