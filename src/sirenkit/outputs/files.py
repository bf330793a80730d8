"""Writing outputs atomically: PNG images, JSON documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sirenkit.store import atomic_write


def write_png(path: str | Path, pixels: np.ndarray, bit_depth: int = 8) -> None:
    """Write an (H, W) or (H, W, C) image with values in [0, 1] as 8- or 16-bit PNG."""
    import imageio.v3 as iio

    pixels = np.clip(np.asarray(pixels, dtype=np.float64), 0, 1)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    top, dtype = (65535, np.uint16) if bit_depth == 16 else (255, np.uint8)
    data = np.round(pixels * top).astype(dtype)
    atomic_write(path, lambda tmp: iio.imwrite(tmp, data, extension=".png"))


def write_json(path: str | Path, document: dict[str, Any]) -> None:
    text = json.dumps(document, indent=2) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))
