"""Images as signals: pixels on an isotropic grid, values normalized to [-1, 1] for training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sirenkit.errors import InputError, readable_file
from sirenkit.resources import image_file_request, pillow_pixel_limit_lifted, require_known
from sirenkit.signals.grid import grid_coordinates


@dataclass(frozen=True)
class Image:
    """An image with values in [0, 1], shape (H, W, C).

    C is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA). Alpha is kept as one more channel:
    it is fitted and written back like the colours, so a transparent PNG stays transparent.
    """

    pixels: np.ndarray
    bit_depth: int = 8

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape[0], self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]

    def coordinates(self, device: torch.device | str | None = None) -> Tensor:
        """(H·W, 2) pixel coordinates (row, column), the longer side spanning [-1, 1]."""
        return grid_coordinates(self.shape, device=device)

    def values(self, device: torch.device | str | None = None) -> Tensor:
        """(H·W, C) pixel values normalized to [-1, 1], row-major like `coordinates`."""
        return to_signed(torch.from_numpy(self.pixels.reshape(-1, self.channels))).to(device)

    def crop(self, top: int, left: int, height: int, width: int) -> Image:
        return Image(np.ascontiguousarray(self.pixels[top : top + height, left : left + width]), self.bit_depth)

    def center_crop(self, height: int, width: int) -> Image:
        h, w = self.shape
        return self.crop((h - height) // 2, (w - width) // 2, height, width)

    def downscale(self, factor: int) -> Image:
        """Box-average by an integer factor (rows and columns that do not fill a box are cropped)."""
        return Image(box_average(self.pixels, factor), self.bit_depth)


def box_average(array: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, C) → (H // factor, W // factor, C) float32, each pixel the mean of a factor×factor box."""
    if factor < 1:
        raise InputError(f"the downscale factor must be a positive integer, got {factor}")
    h, w = array.shape[0] // factor, array.shape[1] // factor
    if h == 0 or w == 0:
        raise InputError(f"downscaling {array.shape[1]}x{array.shape[0]} by {factor} leaves no pixels")
    boxes = array[: h * factor, : w * factor].reshape(h, factor, w, factor, -1).astype(np.float32)
    return boxes.mean(axis=(1, 3))


def to_signed(values01: Tensor) -> Tensor:
    """[0, 1] → [-1, 1]."""
    return values01 * 2 - 1


def to_unit(values_signed: Tensor, *, in_place: bool = False) -> Tensor:
    """[-1, 1] → [0, 1], clipped; `in_place` overwrites the values given (a large render's)."""
    values = values_signed if in_place else values_signed.clone()
    return values.add_(1).div_(2).clamp_(0, 1)


def image_from_array(array: np.ndarray) -> Image:
    """An `Image` from an (H, W) or (H, W, C) array: uint8, uint16, bool, or float in [0, 1]."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"an image must be (H, W) or (H, W, C) with C <= 4, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"the image is empty (shape {array.shape})")
    if array.dtype == np.uint8:
        return Image(np.divide(array, 255.0, dtype=np.float32), 8)  # no float64 copy; the same values
    if array.dtype == np.uint16:
        return Image(np.divide(array, 65535.0, dtype=np.float32), 16)
    if array.dtype == np.bool_:
        return Image(array.astype(np.float32), 1)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InputError("the image has NaN or infinite values")
        if array.min() < 0 or array.max() > 1:
            raise InputError("a floating-point image must have values in [0, 1]")
        return Image(array.astype(np.float32), 32)
    raise InputError(f"unsupported pixel type {array.dtype}")


def load_image(path: str | Path) -> Image:
    """Read a PNG (gray, RGB, RGBA, 16-bit, palette), JPEG or any format Pillow reads (TIFF, BMP,
    WebP, ...).

    Palette images are expanded to RGB(A). Raises InputError with a one-line reason.
    """
    path = readable_file(path)
    require_known(image_file_request(path))  # from the header, before decoding
    array = _decode(path)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    try:
        return image_from_array(array)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def _decode(path: Path) -> np.ndarray:
    """The file's pixels, decoded by Pillow through imageio (which expands palettes); InputError
    "cannot read PATH as an image (reason)" otherwise.

    Only Pillow is asked: imageio's fallback of trying every plugin on a file Pillow does not
    recognize ends in an unrelated plugin's error and can leave files open.
    """
    import imageio.v3 as iio
    from PIL import Image as PillowImage
    from PIL import UnidentifiedImageError

    try:
        with pillow_pixel_limit_lifted():
            with PillowImage.open(path):  # identifies the format from the header
                pass
            return np.asarray(iio.imread(path, plugin="pillow"))
    except UnidentifiedImageError:
        reason = "not an image format Pillow reads"
    except Exception as error:  # Pillow's decoders raise many types for damaged data
        reason = " ".join(str(error).split()) or type(error).__name__
    raise InputError(f"cannot read {path} as an image ({reason})")
