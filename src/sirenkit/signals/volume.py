"""Volumes as signals: a 3-D grid of scalar or colour values (a CT or MRI scan, a simulation, a
voxelized shape) on an isotropic (depth, row, column) grid, normalized to [0, 1] for training.

Values are normalized by the volume's own range: unit = (value − low) / (high − low), with
(low, high) recorded in the checkpoint so that renders come back in the source's units. A
constant volume (high = low) is all 0 in unit values and renders back to its constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sirenkit.errors import InputError, readable_file
from sirenkit.resources import Request, pillow_pixel_limit_lifted, require
from sirenkit.signals.grid import grid_coordinates
from sirenkit.signals.image import to_signed

VOLUME_SUFFIXES = (".npy", ".tif", ".tiff")
"""Files `load_volume` reads: a NumPy array, or a multi-page TIFF (one page per depth slice)."""
MAX_CHANNELS = 4


@dataclass(frozen=True)
class Volume:
    """Values of shape (D, H, W, C) in [0, 1] (float32) and the source range they were mapped from."""

    values: np.ndarray
    low: float = 0.0
    high: float = 1.0

    @property
    def shape(self) -> tuple[int, int, int]:
        """(D, H, W)."""
        return self.values.shape[0], self.values.shape[1], self.values.shape[2]

    @property
    def channels(self) -> int:
        return self.values.shape[3]

    def coordinates(self, device: torch.device | str | None = None) -> Tensor:
        """(D·H·W, 3) voxel coordinates (depth, row, column), the longest axis spanning [-1, 1]."""
        return grid_coordinates(self.shape, device=device)

    def signed(self, device: torch.device | str | None = None) -> Tensor:
        """(D·H·W, C) values in [-1, 1], row-major like `coordinates`."""
        return to_signed(torch.from_numpy(self.values.reshape(-1, self.channels))).to(device)

    def crop(self, start: tuple[int, ...], size: tuple[int, ...]) -> Volume:
        """The (depth, row, column) box from `start` of `size` voxels (a tile), in the same range."""
        box = tuple(slice(first, first + count) for first, count in zip(start, size))
        return Volume(np.ascontiguousarray(self.values[box]), self.low, self.high)

    def to_source(self, unit: np.ndarray) -> np.ndarray:
        """Unit values in [0, 1] back to the source's units (float32)."""
        return from_unit_range(unit, self.low, self.high)


def volume_from_array(array: np.ndarray) -> Volume:
    """A `Volume` from a (D, H, W) or (D, H, W, C) numeric array (C ≤ 4), normalized by its range."""
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or not 1 <= array.shape[3] <= MAX_CHANNELS:
        raise InputError(
            f"a volume must be (D, H, W) or (D, H, W, C) with C <= {MAX_CHANNELS}, got shape {array.shape}"
        )
    if min(array.shape[:3]) == 0:
        raise InputError(f"the volume is empty (shape {array.shape})")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise InputError(f"unsupported value type {array.dtype}")
    values = array.astype(np.float32)
    if not np.isfinite(values).all():
        raise InputError("the volume has NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    return Volume(to_unit_range(values, low, high), low, high)


def from_unit_range(unit: np.ndarray, low: float, high: float) -> np.ndarray:
    """Unit values in [0, 1] mapped back so that [0, 1] becomes [low, high] (float32)."""
    return (low + unit * (high - low)).astype(np.float32)


def to_unit_range(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values in source units mapped so that [low, high] becomes [0, 1]; all 0 when high = low."""
    return ((values - low) / (high - low) if high > low else np.zeros_like(values)).astype(np.float32)


def load_volume(path: str | Path) -> Volume:
    """Read a volume: `.npy` (D, H, W) or (D, H, W, C), or a multi-page `.tif`/`.tiff` (one page a
    slice). The file's size is checked against the memory available before it is read."""
    path = readable_file(path)
    suffix = path.suffix.lower()
    if suffix not in VOLUME_SUFFIXES:
        raise InputError(f"cannot read {path} as a volume: use {', '.join(VOLUME_SUFFIXES)}")
    require(Request(_read_bytes(path), f"reading the volume {path}", "the volume's size"))
    try:
        array = np.load(path, allow_pickle=False) if suffix == ".npy" else _read_tiff_pages(path)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read {path} as a volume ({' '.join(str(error).split())})") from None
    try:
        return volume_from_array(np.asarray(array))
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def _read_bytes(path: Path) -> int:
    """Memory to read a volume file: its values as float32 (at most 4 bytes per stored byte, from
    one-byte values) twice over (the array read and its normalized copy)."""
    return 2 * 4 * path.stat().st_size


def _read_tiff_pages(path: Path) -> np.ndarray:
    """All pages of a TIFF stacked along the first axis."""
    from PIL import Image as PILImage
    from PIL import ImageSequence

    with pillow_pixel_limit_lifted(), PILImage.open(path) as image:
        return np.stack([np.asarray(page) for page in ImageSequence.Iterator(image)])
