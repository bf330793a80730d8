"""Signals: isotropic grids and image loading for every pixel format."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from sirenkit.errors import InputError
from sirenkit.signals import (
    Image,
    axis_extents,
    grid_coordinates,
    grid_spacing,
    image_from_array,
    load_image,
    to_signed,
    to_unit,
)


def test_grid_is_isotropic_on_non_square_shapes():
    coords = grid_coordinates((3, 5)).reshape(3, 5, 2)
    assert coords[0, 0].tolist() == [-0.5, -1.0]
    assert coords[-1, -1].tolist() == [0.5, 1.0]
    row_step = (coords[1, 0, 0] - coords[0, 0, 0]).item()
    col_step = (coords[0, 1, 1] - coords[0, 0, 1]).item()
    assert row_step == pytest.approx(col_step) == pytest.approx(grid_spacing((3, 5)))
    assert axis_extents((512, 768)) == pytest.approx((511 / 767, 1.0))


def test_grid_chunks_concatenate_to_the_whole_grid():
    whole = grid_coordinates((7, 4, 3))
    parts = torch.cat([grid_coordinates((7, 4, 3), start=s, stop=s + 10) for s in range(0, 84, 10)])
    assert torch.equal(whole, parts)


def test_normalization_round_trip():
    v = torch.linspace(0, 1, 11)
    assert torch.allclose(to_unit(to_signed(v)), v)
    assert to_signed(v).min() == -1 and to_signed(v).max() == 1


def save(tmp_path, name, array, mode=None, **kwargs):
    path = tmp_path / name
    PILImage.fromarray(array, mode=mode).save(path, **kwargs) if mode else PILImage.fromarray(array).save(
        path, **kwargs
    )
    return path


def test_loads_gray_rgb_rgba_16bit_palette_and_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    gray = load_image(save(tmp_path, "g.png", rgb[:, :, 0]))
    assert gray.pixels.shape == (6, 9, 1) and gray.bit_depth == 8
    np.testing.assert_allclose(gray.pixels[:, :, 0], rgb[:, :, 0] / 255, atol=1e-7)
    assert load_image(save(tmp_path, "c.png", rgb)).channels == 3
    rgba = np.dstack([rgb, np.full((6, 9), 128, np.uint8)])
    loaded = load_image(save(tmp_path, "a.png", rgba))
    assert loaded.channels == 4
    np.testing.assert_allclose(loaded.pixels[:, :, 3], 128 / 255, atol=1e-7)
    deep = (rng.integers(0, 65536, (6, 9))).astype(np.uint16)
    sixteen = load_image(save(tmp_path, "d.png", deep))
    assert sixteen.bit_depth == 16
    np.testing.assert_allclose(sixteen.pixels[:, :, 0], deep / 65535, atol=1e-7)
    palette = PILImage.fromarray(rgb).convert("P", palette=PILImage.Palette.ADAPTIVE, colors=4)
    palette.save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").channels == 3
    assert load_image(save(tmp_path, "j.jpg", rgb, quality=95)).channels == 3


def test_image_values_and_coordinates_line_up(astronaut32):
    coords, values = astronaut32.coordinates(), astronaut32.values()
    assert coords.shape == (32 * 48, 2) and values.shape == (32 * 48, 3)
    np.testing.assert_allclose(values[48 + 2].numpy(), astronaut32.pixels[1, 2] * 2 - 1, atol=1e-6)


@pytest.mark.parametrize(
    "content,message",
    [(b"", "is empty"), (b"not an image at all", "cannot read")],
)
def test_bad_image_files_are_input_errors(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_image(path)


def test_missing_file_and_empty_or_bad_arrays():
    with pytest.raises(InputError, match="no such file"):
        load_image("/nonexistent/x.png")
    with pytest.raises(InputError, match="empty"):
        image_from_array(np.zeros((0, 5), np.uint8))
    with pytest.raises(InputError, match="NaN"):
        image_from_array(np.full((3, 3), np.nan, np.float32))
    with pytest.raises(InputError, match="shape"):
        image_from_array(np.zeros((3, 3, 7), np.uint8))


def test_downscale_box_averages_and_crops_the_remainder():
    pixels = np.arange(5 * 7, dtype=np.float32).reshape(5, 7, 1) / 34
    small = Image(pixels).downscale(2)
    assert small.shape == (2, 3)
    assert small.pixels[1, 2, 0] == pytest.approx(pixels[2:4, 4:6].mean())
    assert Image(pixels).downscale(1).pixels.tolist() == pixels.tolist()
    with pytest.raises(InputError, match="leaves no pixels"):
        Image(pixels).downscale(6)
    with pytest.raises(InputError, match="positive integer"):
        Image(pixels).downscale(0)


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
