"""Image signals (`signals/image.py`): loading every pixel format, values and coordinates, bad files, downscaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from sirenkit.errors import InputError
from sirenkit.signals import (
    Image,
    image_from_array,
    load_image,
    to_signed,
    to_unit,
)


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
