"""Derivative maps of fitted images (`recipes/derivative_maps.py`) against the data's filters, and their numbers."""

from __future__ import annotations

import numpy as np
import pytest

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
