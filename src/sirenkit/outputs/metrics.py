"""Quality metrics on the natural scale of the data."""

from __future__ import annotations

import math

import numpy as np


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """10·log10(range² / MSE) in dB; infinite for a perfect fit."""
    return math.inf if mse <= 0 else 10 * math.log10(data_range**2 / mse)


def image_psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB of two images with values in [0, 1] (data range 1), over all pixels and channels."""
    return psnr_from_mse(float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2)))


def image_ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Structural similarity (scikit-image, Gaussian window as Wang et al. 2004) of (H, W, C) images in [0, 1]."""
    from skimage.metrics import structural_similarity

    if min(reference.shape[:2]) < 7:
        raise ValueError("SSIM needs images of at least 7×7 pixels")
    return float(
        structural_similarity(
            reference,
            test,
            data_range=1.0,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )
