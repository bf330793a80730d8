"""Finite-difference derivatives of gridded data, in the units of a field's derivatives.

A field's gradient is per unit of coordinate; on the isotropic grid neighbouring samples are
`grid_spacing(shape)` apart, so a per-pixel difference is divided by that spacing (and a
per-pixel² Laplacian by its square). No other factor is involved.

`integrate_gradient` and `solve_poisson` go the other way: the classical Fourier solutions of
the problems a field is fitted to in `problems.gradient_domain`, references for a fitted field.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, ndimage

from sirenkit.signals.grid import grid_spacing


def sobel_gradient(values: np.ndarray, mode: str = "reflect") -> np.ndarray:
    """∂v/∂x_i by the Sobel filter, per unit of coordinate: (H, W, C) → (H, W, C, 2), axes (row, column).

    The Sobel kernel is a [1, 2, 1] smoothing (sum 4) times a [-1, 0, 1] central difference
    (2 samples apart), so the derivative per sample is sobel / 8.
    """
    h = grid_spacing(values.shape[:2])
    channels = [
        np.stack([ndimage.sobel(values[..., c], axis=axis, mode=mode) for axis in (0, 1)], axis=-1)
        for c in range(values.shape[-1])
    ]
    return np.stack(channels, axis=2) / (8 * h)


def discrete_laplacian(values: np.ndarray, mode: str = "reflect") -> np.ndarray:
    """Δv by the 5-point stencil, per unit of coordinate squared: (H, W, C) → (H, W, C)."""
    h = grid_spacing(values.shape[:2])
    return np.stack([ndimage.laplace(values[..., c], mode=mode) for c in range(values.shape[-1])], -1) / h**2


def integrate_gradient(gradient: np.ndarray) -> np.ndarray:
    """The band-limited field whose gradient best matches `gradient` at the samples: (H, W, C, 2)
    per unit of coordinate, axes (row, column) → (H, W, C) values with zero mean per channel.

    Least squares in Fourier space (Frankot & Chellappa 1988) on the image mirrored across its
    edges (the reflection `sobel_gradient` pads with), so no wrap-around seam: the minimizer, among
    band-limited fields, of the loss a field fitted to these gradients minimizes. The constant is
    free; it is set to zero.
    """
    h = grid_spacing(gradient.shape[:2])
    rows, columns = (_mirror(gradient[..., c], odd_axis=c) for c in range(2))
    ky, kx = _angular_frequencies(rows.shape[:2], h)
    spectrum = -1j * (ky * fft.fft2(rows, axes=(0, 1)) + kx * fft.fft2(columns, axes=(0, 1))) / _safe(ky**2 + kx**2)
    return _unmirror(spectrum, gradient.shape[:2])


def solve_poisson(laplacian: np.ndarray) -> np.ndarray:
    """The band-limited field whose Laplacian is `laplacian` (H, W, C), per unit of coordinate
    squared, with zero normal derivative across the border (Neumann) and zero mean: (H, W, C).

    The harmonic part a Laplacian leaves free is fixed here by the mirrored extension (zero
    normal derivative), not by the image's border values as the `border` anchor of
    `problems.gradient_domain` fixes it.
    """
    h = grid_spacing(laplacian.shape[:2])
    mirrored = _mirror(laplacian)
    ky, kx = _angular_frequencies(mirrored.shape[:2], h)
    spectrum = -fft.fft2(mirrored, axes=(0, 1)) / _safe(ky**2 + kx**2)
    return _unmirror(spectrum, laplacian.shape[:2])


def _mirror(values: np.ndarray, odd_axis: int | None = None) -> np.ndarray:
    """(H, W, ...) → (2H, 2W, ...): the array and its reflections about its edges (half-sample
    symmetric); copies reflected across `odd_axis` change sign (a derivative along that axis)."""
    flipped_rows = values[::-1] * (-1 if odd_axis == 0 else 1)
    tall = np.concatenate([values, flipped_rows], axis=0)
    return np.concatenate([tall, tall[:, ::-1] * (-1 if odd_axis == 1 else 1)], axis=1)


def _angular_frequencies(shape: tuple[int, int], spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """(ky, kx) of an FFT over `shape`, radians per unit of coordinate, each (H, W, 1)."""
    ky, kx = (2 * np.pi * fft.fftfreq(n, d=spacing) for n in shape)
    return ky[:, None, None], kx[None, :, None]


def _safe(k2: np.ndarray) -> np.ndarray:
    """|k|² with the zero frequency (the free constant) replaced by 1; its coefficient is zeroed later."""
    return np.where(k2 == 0, 1.0, k2)


def _unmirror(spectrum: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The first (H, W) quadrant of the inverse FFT of a mirrored field's spectrum, mean zero."""
    spectrum[0, 0] = 0
    return fft.ifft2(spectrum, axes=(0, 1)).real[: shape[0], : shape[1]]
