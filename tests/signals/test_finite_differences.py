"""Finite differences of gridded data (`signals/finite_differences.py`): targets and their Fourier solutions."""

from __future__ import annotations

import numpy as np

from sirenkit.signals import (
    grid_coordinates,
    grid_spacing,
    to_signed,
)


def test_finite_difference_targets_are_per_unit_of_coordinate():
    from sirenkit.signals import discrete_laplacian, sobel_gradient

    x = grid_coordinates((40, 60)).numpy().reshape(40, 60, 2)
    values = np.stack([0.3 * x[..., 0] + 0.2 * x[..., 1] ** 2, -x[..., 1]], axis=-1)
    gradient, lap = sobel_gradient(values), discrete_laplacian(values)
    assert gradient.shape == (40, 60, 2, 2) and lap.shape == (40, 60, 2)
    np.testing.assert_allclose(gradient[20, 30, 0], [0.3, 0.4 * x[20, 30, 1]], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gradient[20, 30, 1], [0.0, -1.0], atol=1e-5)
    np.testing.assert_allclose(lap[5:-5, 5:-5, 0], 0.4, rtol=1e-3)
    np.testing.assert_allclose(lap[5:-5, 5:-5, 1], 0.0, atol=1e-3)


def test_fourier_solutions_recover_a_field_from_its_exact_derivatives():
    """On a non-square grid, a two-channel field with zero normal derivative half a sample beyond
    the border (what the mirrored extension assumes) comes back from its analytic gradient and
    Laplacian up to its mean (to the float32 rounding of the grid coordinates)."""
    from sirenkit.signals import integrate_gradient, solve_poisson

    shape = (40, 64)
    y, x = np.moveaxis(grid_coordinates(shape).numpy().astype(np.float64).reshape(*shape, 2), -1, 0)
    h = grid_spacing(shape)
    y0, x0 = y.min() - h / 2, x.min() - h / 2
    ky, kx = 2 * np.pi / (y.max() - y0 + h / 2), 3 * np.pi / (x.max() - x0 + h / 2)
    cy, cx, sy, sx = np.cos(ky * (y - y0)), np.cos(kx * (x - x0)), np.sin(ky * (y - y0)), np.sin(kx * (x - x0))
    field = np.stack([cy * cx, 2 * cy * cx], -1)
    gradient = np.stack([np.stack([-ky * sy * cx, -kx * cy * sx], -1) * s for s in (1, 2)], 2)
    laplacian = -(ky**2 + kx**2) * field
    expected = field - field.mean((0, 1))
    np.testing.assert_allclose(integrate_gradient(gradient), expected, atol=1e-6)
    np.testing.assert_allclose(solve_poisson(laplacian), expected, atol=1e-6)


def test_fourier_solution_of_sobel_targets_is_a_smoothed_image(camera64):
    """From the Sobel gradients of a real image the classical solution is close to the image, but
    not equal: the Sobel filter's smoothing is lost (the cap of any fit to these targets)."""
    from sirenkit.signals import discrete_laplacian, integrate_gradient, sobel_gradient, solve_poisson

    values = to_signed(camera64.pixels)
    values = values - values.mean((0, 1))
    from_gradient = integrate_gradient(sobel_gradient(values))
    from_laplacian = solve_poisson(discrete_laplacian(values))
    error = [np.sqrt(np.mean((values - u) ** 2)) for u in (from_gradient, from_laplacian)]
    assert 0.03 < error[0] < 0.1 and error[1] < 0.6 * error[0]
