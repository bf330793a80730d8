"""Derivatives of fitted images against the data's filters: maps, numbers, the model comparison, the commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from sirenkit.cli import main
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.recipes.derivative_maps import (
    compare_models,
    data_derivatives,
    derivative_metrics,
    field_derivatives,
    map_psnr,
    zero_map_metrics,
)
from sirenkit.recipes.image import fit_image
from sirenkit.signals import image_from_array

PAPER = dict(lr=1e-4, schedule="constant", checkpoint_every=0, precision="fp32")


@pytest.fixture(scope="module")
def snapshots(camera):
    """SIREN and ReLU (width 128) on the whole camera image downscaled to 64×64, 150 steps at the paper's settings.

    Anti-aliased on purpose: plain subsampling leaves detail above the grid's Nyquist rate, which
    neither the Sobel filter nor any smooth interpolant can follow.
    """
    import skimage.transform

    small = image_from_array(skimage.transform.resize(camera.pixels, (64, 64), anti_aliasing=True).astype(np.float32))
    fit = FitConfig(steps=150, **PAPER)
    taken = compare_models(small, ["siren", "relu"], fit, [150], field_config=FieldConfig(width=128), quiet=True)
    return small, {s.model: s for s in taken}


def test_siren_derivatives_resemble_the_filtered_data_and_relu_ones_do_not(snapshots):
    image, taken = snapshots
    floor = zero_map_metrics(data_derivatives(image))
    siren, relu = taken["siren"].metrics, taken["relu"].metrics
    assert siren["gradient_relative_error"] < 0.8 < relu["gradient_relative_error"]
    assert siren["gradient_psnr_db"] > floor["gradient_psnr_db"] + 3
    # A ReLU network is piecewise linear: its Laplacian is the zero map exactly.
    assert relu["laplacian_relative_error"] == pytest.approx(1.0)
    assert not np.any(taken["relu"].maps.laplacian)
    assert siren["laplacian_relative_error"] < 0.95


def test_both_calculus_paths_draw_the_same_maps_at_any_size(camera64):
    outcome = fit_image(camera64, FieldConfig(width=32, depth=2), FitConfig(steps=20, **PAPER), quiet=True)
    representation = outcome.result.representation
    fast = field_derivatives(representation, (40, 30))
    reference = field_derivatives(representation, (40, 30), method="autograd")
    assert fast.gradient.shape == (40, 30, 1, 2) and fast.laplacian.shape == (40, 30, 1)
    np.testing.assert_allclose(fast.gradient, reference.gradient, rtol=1e-4, atol=1e-4 * np.abs(fast.gradient).max())
    np.testing.assert_allclose(fast.laplacian, reference.laplacian, rtol=1e-4, atol=1e-4 * np.abs(fast.laplacian).max())


def test_metrics_of_the_truth_itself_and_of_zeros():
    ramp = image_from_array(np.tile(np.linspace(0, 1, 20), (20, 1)))
    truth = data_derivatives(ramp)
    assert derivative_metrics(truth, truth)["gradient_relative_error"] == 0
    assert map_psnr(truth.gradient, truth.gradient) == float("inf")
    assert zero_map_metrics(truth)["gradient_relative_error"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def fitted_cli(tmp_path_factory, camera):
    folder = tmp_path_factory.mktemp("derivatives")
    PILImage.fromarray((camera.pixels[::16, ::16, 0] * 255).round().astype(np.uint8)).save(folder / "camera.png")
    run = folder / "run"
    assert (
        main(
            ["fit", "image", str(folder / "camera.png"), "--out", str(run), "--steps", "20", "--width", "32", "--quiet"]
        )
        == 0
    )
    return folder


def test_derivatives_command_writes_maps_and_numbers(fitted_cli, capsys):
    run = fitted_cli / "run"
    assert main(["derivatives", str(run / "model.safetensors"), "--size", "48x40"]) == 0
    assert "gradient: PSNR" in capsys.readouterr().out
    for name in ("network_gradient.png", "network_laplacian.png", "data_gradient.png", "data_laplacian.png"):
        assert (run / name).stat().st_size > 0, name
    assert np.asarray(PILImage.open(run / "network_gradient.png")).shape == (40, 48, 3)
    numbers = json.loads((run / "derivatives.json").read_text())
    assert np.isfinite(numbers["gradient_psnr_db"]) and numbers["laplacian_relative_error"] > 0


def test_compare_command_writes_the_figure_and_table(fitted_cli, capsys, tmp_path):
    args = ["compare", "image", str(fitted_cli / "camera.png"), "--out", str(tmp_path), "--models", "siren,tanh"]
    assert main([*args, "--steps", "6", "--snapshots", "3,6", "--width", "16", "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "zero map" in table and table.count("siren") == 2
    rows = json.loads((tmp_path / "comparison.json").read_text())["rows"]
    assert [(r["model"], r["step"]) for r in rows] == [("siren", 3), ("siren", 6), ("tanh", 3), ("tanh", 6)]
    assert (tmp_path / "comparison.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--image", "OTHER"], "fitted to"),
        (["--image", "MISSING"], "no such file"),
    ],
)
def test_derivatives_bad_input_is_one_clear_line(fitted_cli, capsys, extra, message, camera):
    other = fitted_cli / "other.png"
    PILImage.fromarray((camera.pixels[:20, :30, 0] * 255).astype(np.uint8)).save(other)
    extra = [str(other) if e == "OTHER" else str(fitted_cli / "missing.png") if e == "MISSING" else e for e in extra]
    assert main(["derivatives", str(fitted_cli / "run" / "model.safetensors"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_compare_refuses_unknown_models_and_snapshots_past_the_end(fitted_cli, capsys, tmp_path):
    image = str(fitted_cli / "camera.png")
    assert main(["compare", "image", image, "--out", str(tmp_path), "--models", "siren,mlp"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["compare", "image", image, "--out", str(tmp_path), "--steps", "5", "--snapshots", "9"]) == 2
    assert "snapshot steps" in capsys.readouterr().err


def test_field_derivatives_leave_each_parameter_as_trainable_as_it_was(camera64):
    outcome = fit_image(camera64, FieldConfig(width=8, depth=1), FitConfig(steps=1, **PAPER), quiet=True)
    representation = outcome.result.representation
    field_ = representation.field
    field_.head.weight.requires_grad_(False)
    flags = [p.requires_grad for p in field_.parameters()]
    for method in ("auto", "autograd"):
        field_derivatives(representation, (4, 4), method=method)
        assert [p.requires_grad for p in field_.parameters()] == flags
    assert flags.count(False) == 1
