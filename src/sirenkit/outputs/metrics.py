"""Quality metrics on the natural scale of the data."""

from __future__ import annotations

import math

import numpy as np

SSIM_SIGMA = 1.5
"""Standard deviation in pixels of SSIM's Gaussian window (Wang et al. 2004)."""
SSIM_WINDOW = 11
"""Side of that window as scikit-image cuts it (at 3.5σ each way): an image needs sides this long."""


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """10·log10(range² / MSE) in dB: infinite for a perfect fit, NaN (undefined) for an imperfect
    one when the range is zero (a constant reference gives no peak to compare with)."""
    if mse <= 0:
        return math.inf
    return 10 * math.log10(data_range**2 / mse) if data_range > 0 else math.nan


def format_metric(value: float | None, spec: str, unit: str = "") -> str:
    """`value` formatted by `spec` and followed by `unit`; "undefined" for NaN or None (a metric
    the signal does not define), "inf" or "-inf" with the unit for an infinity."""
    if value is None or math.isnan(value):
        return "undefined"
    return f"{value:{spec}}{unit}"


BAND_ROWS = 512
"""Rows of an image the metrics hold in float64 at once: memory stays bounded for any image."""


def image_psnr(reference: np.ndarray, test: np.ndarray, *, band: int = BAND_ROWS) -> float:
    """PSNR in dB of two images with values in [0, 1] (data range 1), over all pixels and channels
    (the squared error summed in float64, `band` rows at a time)."""
    total = sum(
        float(np.sum((reference[top : top + band].astype(np.float64) - test[top : top + band]) ** 2))
        for top in range(0, len(reference), band)
    )
    return psnr_from_mse(total / max(reference.size, 1))


def image_ssim(reference: np.ndarray, test: np.ndarray, *, band: int = BAND_ROWS) -> float:
    """Structural similarity (scikit-image, Gaussian window as Wang et al. 2004) of (H, W, C) images
    in [0, 1]; NaN (undefined) for an image with a side shorter than the window, SSIM_WINDOW.

    The SSIM map is summed `band` rows at a time, each band read with the window's reach of rows
    on either side, so the figure equals scikit-image's on the whole image, in bounded memory.
    """
    from skimage.metrics import structural_similarity

    if min(reference.shape[:2]) < SSIM_WINDOW:
        return math.nan
    reach = SSIM_WINDOW // 2  # rows a window's centre reads on each side; also the border left out
    height, width = reference.shape[:2]
    total = 0.0
    for top in range(reach, height - reach, band):
        bottom = min(top + band, height - reach)
        low, high = max(top - reach, 0), min(bottom + reach, height)
        _, similarity = structural_similarity(
            reference[low:high],
            test[low:high],
            data_range=1.0,
            channel_axis=2,
            gaussian_weights=True,
            sigma=SSIM_SIGMA,
            use_sample_covariance=False,
            full=True,
        )
        total += float(np.sum(similarity[top - low : bottom - low, reach : width - reach], dtype=np.float64))
    return total / ((height - 2 * reach) * (width - 2 * reach) * reference.shape[2])
