"""Quality metrics (`outputs/metrics.py`): metrics a signal does not define are NaN or infinite and print so."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from sirenkit.outputs.audio import snr_db
from sirenkit.outputs.metrics import format_metric, image_psnr, image_ssim, psnr_from_mse
from sirenkit.recipes.derivative_maps import map_psnr, relative_error


def test_undefined_metrics_are_nan_or_infinite_and_print_as_such():
    flat = np.zeros((4, 4))
    assert math.isnan(psnr_from_mse(0.1, data_range=0.0)) and psnr_from_mse(0.0, data_range=0.0) == math.inf
    assert math.isnan(map_psnr(flat + 1, flat)) and map_psnr(flat, flat) == math.inf
    assert relative_error(flat + 1, flat) == math.inf and relative_error(flat, flat) == 0.0
    assert snr_db(flat, flat + 0.1) == -math.inf and snr_db(flat, flat) == math.inf
    assert [format_metric(v, ".2f", " dB") for v in (math.nan, None, math.inf, 1.234)] == [
        "undefined",
        "undefined",
        "inf dB",
        "1.23 dB",
    ]


@pytest.mark.parametrize("shape", [(40, 37, 3), (11, 20, 1), (64, 30, 4)])
def test_image_metrics_by_bands_equal_the_whole_image_figures(shape):
    generator = np.random.default_rng(0)
    reference = generator.random(shape, dtype=np.float32)
    test = np.clip(reference + generator.normal(0, 0.1, shape), 0, 1).astype(np.float32)
    whole = structural_similarity(
        reference, test, data_range=1.0, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    mse = np.mean((reference.astype(np.float64) - test) ** 2)
    for band in (1, 7, 512):
        assert image_ssim(reference, test, band=band) == pytest.approx(whole, rel=1e-6)
        assert image_psnr(reference, test, band=band) == pytest.approx(10 * np.log10(1 / mse), rel=1e-12)
