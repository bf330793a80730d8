"""Writing outputs atomically: images (PNG, JPEG, WebP, chosen by suffix), JSON documents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sirenkit.errors import InputError
from sirenkit.store import atomic_write, strict_json

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
"""Image formats by file suffix (any case)."""
IMAGE_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpeg", "WEBP": ".webp"}
"""The extension imageio is told for each format (the temporary file has none of its own)."""
JPEG_QUALITY = 95
"""JPEG quality (Pillow's scale, 1-100): JPEG is lossy whatever the setting; 95 keeps artefacts
below what 8 bits show on smooth renders, for files a few times smaller than PNG."""
WRITE_ROWS_VALUES = 1 << 20
"""Values converted to integers at a time: the float64 rounding runs on blocks of rows this size,
so writing holds no whole-image float copy."""


def output_format(path: str | Path, formats: Mapping[str, str], what: str) -> str:
    """The format `path`'s suffix names among `formats` (suffix → format), case-insensitively;
    InputError naming the suffixes sirenkit writes otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in formats:
        given = repr(suffix) if suffix else "(no suffix)"
        raise InputError(f"{Path(path).name}: unknown {what} format {given}; use {', '.join(formats)}")
    return formats[suffix]


@dataclass(frozen=True)
class ImageEncoding:
    """What a format keeps of an image: the bit depth written, whether alpha is dropped, and a
    note for each change (empty when the image is written as it is)."""

    bit_depth: int
    drop_alpha: bool
    notes: tuple[str, ...]


def image_encoding(format_: str, channels: int, bit_depth: int) -> ImageEncoding:
    """How an image of `channels` (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA) at `bit_depth` is written.

    PNG keeps 16 bits for gray images (Pillow writes no 16-bit colour PNG, so colour goes to 8);
    JPEG and WebP (lossless here) hold 8 bits; JPEG has no alpha channel, so alpha is dropped.
    """
    notes = []
    drop_alpha = format_ == "JPEG" and channels in (2, 4)
    if drop_alpha:
        notes.append("alpha dropped (JPEG has no transparency)")
    depth = 16 if bit_depth == 16 else 8
    if depth == 16 and (format_ != "PNG" or channels > 1):
        reason = f"{format_} holds 8 bits" if format_ != "PNG" else "16-bit PNGs are written in gray only"
        notes.append(f"16-bit reduced to 8-bit ({reason})")
        depth = 8
    return ImageEncoding(depth, drop_alpha, tuple(notes))


def write_image(path: str | Path, pixels: np.ndarray, bit_depth: int = 8) -> tuple[str, ...]:
    """Write an (H, W) or (H, W, C) image with values in [0, 1] in the format of `path`'s suffix
    (IMAGE_FORMATS), atomically; returns the notes of `image_encoding` (what the format changed).

    PNG is 8- or 16-bit (gray), JPEG 8-bit at JPEG_QUALITY without alpha, WebP 8-bit lossless.
    An unknown suffix is an InputError raised before anything is converted.
    """
    return _write_image(path, pixels, bit_depth, output_format(path, IMAGE_FORMATS, "image"))


def write_png(path: str | Path, pixels: np.ndarray, bit_depth: int = 8) -> None:
    """Write an (H, W) or (H, W, C) image with values in [0, 1] as 8- or 16-bit PNG."""
    _write_image(path, pixels, bit_depth, "PNG")


def _write_image(path: str | Path, pixels: np.ndarray, bit_depth: int, format_: str) -> tuple[str, ...]:
    import imageio.v3 as iio

    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    encoding = image_encoding(format_, pixels.shape[2], bit_depth)
    if encoding.drop_alpha:
        pixels = pixels[:, :, :-1]
    data = _quantize(pixels, encoding.bit_depth)
    if data.shape[2] == 1:
        data = data[:, :, 0]
    options = {"quality": JPEG_QUALITY} if format_ == "JPEG" else {"lossless": True} if format_ == "WEBP" else {}
    atomic_write(path, lambda tmp: iio.imwrite(tmp, data, extension=IMAGE_EXTENSIONS[format_], **options))
    return encoding.notes


def _quantize(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    """(H, W, C) values in [0, 1] → uint8 (or uint16 at 16 bits), clipped and rounded in float64,
    a block of rows at a time."""
    top, dtype = (65535, np.uint16) if bit_depth == 16 else (255, np.uint8)
    data = np.empty(pixels.shape, dtype)
    rows = max(1, WRITE_ROWS_VALUES // max(1, pixels.shape[1] * pixels.shape[2]))
    for begin in range(0, pixels.shape[0], rows):
        block = np.clip(pixels[begin : begin + rows].astype(np.float64), 0, 1)
        data[begin : begin + rows] = np.round(block * top)
    return data


def write_npy(path: str | Path, values: np.ndarray) -> None:
    """Write an array as `.npy` (no pickled objects), atomically."""

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # np.save on a path would append ".npy" to the temporary name
            np.save(handle, values, allow_pickle=False)

    atomic_write(path, save)


def write_json(path: str | Path, document: dict[str, Any]) -> None:
    """Write `document` as strict JSON (RFC 8259: no NaN or Infinity; see `store.strict_json`), atomically."""
    text = strict_json(document, indent=2) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))
