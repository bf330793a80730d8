"""Video outputs: frames rendered one at a time in bounded memory, and MP4 files (H.264 through pyav)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sirenkit.outputs.render import DEFAULT_CHUNK
from sirenkit.signals.video import frame_coordinates
from sirenkit.store import atomic_write

MP4_CODEC = "libx264"
"""H.264 encoder of the installed PyAV/FFmpeg (what the pyav wheels ship)."""
VIDEO_FORMATS = {".mp4": "MP4"}
"""Video formats by file suffix (any case): H.264 in MP4."""


def render_frames(
    field: nn.Module,
    times: Sequence[float],
    size: tuple[int, int],
    extents: tuple[float, float],
    *,
    chunk: int = DEFAULT_CHUNK,
    device: torch.device | str = "cpu",
) -> Iterator[np.ndarray]:
    """Φ at each time coordinate of `times` on an (H, W) frame: yields (H, W, c) float32 arrays.

    Rows span ±extents[0], columns ±extents[1]. At most `chunk` points are evaluated at once and
    only one frame is held, so memory does not grow with the clip's length.
    """
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    field = field.to(device)
    with torch.no_grad():
        for time in times:
            x = frame_coordinates(time, size, extents, device=device)
            parts = [field(x[begin : begin + chunk]).float().cpu() for begin in range(0, x.shape[0], chunk)]
            yield torch.cat(parts).reshape(*size, -1).numpy()


def to_uint8(frame01: np.ndarray) -> np.ndarray:
    """(H, W, C) values in [0, 1] → uint8, clipped and rounded."""
    return np.round(np.clip(frame01, 0, 1) * 255).astype(np.uint8)


def _even(frame: np.ndarray) -> np.ndarray:
    """Repeat the last row/column where a side is odd: H.264 in yuv420p needs even sides."""
    pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
    return np.pad(frame, pad, mode="edge") if any(p[1] for p in pad) else frame


def _rgb(frame: np.ndarray) -> np.ndarray:
    """(H, W, 1|3) uint8 → (H, W, 3): gray is repeated, the encoder takes RGB."""
    return np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame[:, :, :3]


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> int:
    """Encode (H, W, C) uint8 frames (C = 1 or 3) as H.264 MP4, streaming; returns the frame count.

    Odd sides get one repeated row/column. Written to a temporary file and renamed into place.
    """
    import imageio.v3 as iio

    count = 0

    def encode(tmp: Path) -> None:
        nonlocal count
        with iio.imopen(tmp, "w", plugin="pyav", container="mp4") as file:
            file.init_video_stream(MP4_CODEC, fps=fps)
            for frame in frames:
                file.write_frame(_even(_rgb(frame)))
                count += 1

    atomic_write(path, encode)
    return count
