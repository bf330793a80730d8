"""Video as a signal: frames (T, H, W, C) on a (time, row, column) grid, values in [0, 1].

Coordinates. Rows and columns follow the image convention (square pixels, the longer side spans
[-1, 1]). Time is another unit: the clip spans [-time_extent, time_extent] (default [-1, 1], as in
the official SIREN code) whatever its frame count, so a time coordinate means "this far through
the clip" and a field fitted on every 2nd frame, or rendered at another frame rate, describes
the same moments. Tying one frame to one pixel instead would change the meaning of the time axis
with every spatial or temporal downscaling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sirenkit.errors import InputError, readable_file
from sirenkit.resources import require_known, video_file_request
from sirenkit.signals.grid import axis_extents, grid_coordinates
from sirenkit.signals.image import box_average

DEFAULT_TIME_EXTENT = 1.0
"""Half-extent of the time axis: the first frame at t = -1, the last at t = 1 (official SIREN code)."""


@dataclass(frozen=True)
class Video:
    """Frames of shape (T, H, W, C), uint8 (values/255 in [0, 1]), at `fps` frames per second.

    Kept as uint8 so that a long clip costs one byte per value; training reads random voxels.
    """

    frames: np.ndarray
    fps: float

    @property
    def shape(self) -> tuple[int, int, int]:
        """(T, H, W)."""
        return self.frames.shape[0], self.frames.shape[1], self.frames.shape[2]

    @property
    def channels(self) -> int:
        return self.frames.shape[3]

    def extents(self, time_extent: float = DEFAULT_TIME_EXTENT) -> tuple[float, float, float]:
        """Half-extents of the (time, row, column) axes: see the module docstring."""
        return (time_extent if self.shape[0] > 1 else 0.0, *axis_extents(self.shape[1:]))

    def crop(self, start: tuple[int, ...], size: tuple[int, ...]) -> Video:
        """The (time, row, column) box from `start` of `size` voxels (a tile), at the same rate."""
        box = tuple(slice(first, first + count) for first, count in zip(start, size))
        return Video(np.ascontiguousarray(self.frames[box]), self.fps)

    def unit_frames(self) -> np.ndarray:
        """(T, H, W, C) float32 in [0, 1]."""
        return self.frames.astype(np.float32) / 255.0


def voxel_coordinates(index: Tensor, shape: tuple[int, int, int], extents: tuple[float, ...]) -> Tensor:
    """(n, 3) coordinates (t, row, column) of flat row-major voxel indices `index` (n,) of a (T, H, W) grid."""
    sizes = torch.tensor(shape, dtype=torch.int64, device=index.device)
    strides = torch.tensor([shape[1] * shape[2], shape[2], 1], dtype=torch.int64, device=index.device)
    ijk = (index[:, None] // strides) % sizes
    half = torch.tensor(extents, dtype=torch.float32, device=index.device)
    unit = 2 * ijk.to(torch.float32) / (sizes - 1).clamp(min=1).to(torch.float32) - 1
    return unit * half


def frame_coordinates(
    time: float, size: tuple[int, int], extents: tuple[float, float], *, device: torch.device | str | None = None
) -> Tensor:
    """(H·W, 3) coordinates of one frame at time coordinate `time`, rows spanning ±extents[0], columns ±extents[1]."""
    space = grid_coordinates(size, extents=extents, device=device)
    return torch.cat([torch.full((space.shape[0], 1), time, device=device), space], dim=1)


def downscale_frame(frame: np.ndarray, factor: int) -> np.ndarray:
    """Box-average an (H, W, C) uint8 frame by an integer factor (edges that do not fill a box are cropped)."""
    if factor == 1:
        return frame
    return np.round(box_average(frame, factor)).astype(np.uint8)


def _frames(path: Path) -> Iterator[np.ndarray]:
    import imageio.v3 as iio

    yield from iio.imiter(path, plugin="pyav")


def load_video(path: str | Path, *, max_frames: int | None = None, frame_step: int = 1, downscale: int = 1) -> Video:
    """Read MP4 (or any container pyav decodes) as a `Video`; InputError with a one-line reason.

    Keeps every `frame_step`-th frame, at most `max_frames` of them, each box-downscaled by the
    integer `downscale`; frames are decoded one at a time, so a long clip is never held whole
    at full size. The frame rate becomes fps / frame_step.
    """
    import imageio.v3 as iio

    for name, value in (("frame-step", frame_step), ("downscale", downscale), ("max-frames", max_frames)):
        if value is not None and value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    path = readable_file(path)
    require_known(video_file_request(path, max_frames, frame_step, downscale))  # from the stream info
    kept: list[np.ndarray] = []
    try:
        if not _has_video_stream(path):
            raise InputError(f"cannot read {path} as a video (it has no video stream)")
        fps = float(iio.immeta(path, plugin="pyav").get("fps") or 0.0)
        for i, frame in enumerate(_frames(path)):
            if max_frames is not None and len(kept) >= max_frames:
                break
            if i % frame_step == 0:
                kept.append(downscale_frame(_rgb(frame), downscale))
    except InputError:
        raise
    except Exception as error:  # pyav and imageio raise many types for undecodable files
        raise InputError(f"cannot read {path} as a video ({_reason(error)})") from None
    if not kept:
        raise InputError(f"{path} holds no video frames")
    if not fps > 0:
        raise InputError(f"{path} does not state its frame rate")
    return Video(np.stack(kept), fps / frame_step)


def _has_video_stream(path: Path) -> bool:
    """Whether PyAV opens the file and finds a video stream in it; FFmpeg's error for a file it
    cannot open (asked before imageio, whose error then names only its plugin)."""
    import av

    with av.open(str(path)) as container:
        return bool(container.streams.video)


def _reason(error: Exception) -> str:
    """A decoding error as one line: FFmpeg's reason (without its error number and the file name),
    else the message, else the exception's type."""
    return getattr(error, "strerror", None) or " ".join(str(error).split()) or type(error).__name__


def _rgb(frame: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) uint8 → (H, W, C)."""
    if frame.dtype != np.uint8:
        raise InputError(f"unsupported video sample type {frame.dtype}; 8-bit video is supported")
    return frame[:, :, None] if frame.ndim == 2 else frame
