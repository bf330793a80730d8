"""Finite-difference derivatives of gridded data, in the units of a field's derivatives.

A field's gradient is per unit of coordinate; on the isotropic grid neighbouring samples are
`grid_spacing(shape)` apart, so a per-pixel difference is divided by that spacing (and a
per-pixel² Laplacian by its square). No other factor is involved.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

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
