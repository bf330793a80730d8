"""Volume signals (`signals/volume.py`): .npy and multi-page TIFF to the same values, bad volumes refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from signal_helpers import analytic_volume
from sirenkit.errors import InputError
from sirenkit.signals.volume import load_volume


def test_npy_and_multipage_tiff_load_to_the_same_unit_values(tmp_path):
    values = analytic_volume(12)
    unit8 = np.round(255 * (values - values.min()) / (values.max() - values.min())).astype(np.uint8)
    np.save(tmp_path / "v.npy", unit8)
    pages = [PILImage.fromarray(page) for page in unit8]
    pages[0].save(tmp_path / "v.tif", save_all=True, append_images=pages[1:])
    from_npy, from_tiff = load_volume(tmp_path / "v.npy"), load_volume(tmp_path / "v.tif")
    assert from_npy.shape == from_tiff.shape == (12, 12, 12) and from_npy.channels == 1
    np.testing.assert_array_equal(from_npy.values, from_tiff.values)
    assert (from_npy.low, from_npy.high) == (0.0, 255.0)


@pytest.mark.parametrize(
    "array,message",
    [
        (np.zeros((4, 4)), "must be (D, H, W)"),
        (np.zeros((4, 4, 4, 5)), "C <= 4"),
        (np.full((3, 3, 3), np.nan), "NaN"),
    ],
)
def test_bad_volumes_are_refused_with_one_line(tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_volume(path)
    (tmp_path / "bad.raw").write_bytes(b"1234")
    with pytest.raises(InputError, match="use .npy"):
        load_volume(tmp_path / "bad.raw")
