"""Video recipes: fit a field to a clip by random voxels, render it at any frame count, rate or size."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, nyquist_frequencies
from sirenkit.fit import FitConfig, FitResult, LiveMetrics
from sirenkit.outputs import image_psnr, plot_curve, psnr_from_mse, write_json
from sirenkit.outputs.metrics import format_metric
from sirenkit.outputs.video import render_frames, to_uint8, write_mp4
from sirenkit.problems import Batch, Problem
from sirenkit.problems.base import Constraint
from sirenkit.recipes.kind import fit_signal, kind_name, register_kind
from sirenkit.resources import Request, frame_render_request, training_request
from sirenkit.signals import to_signed, to_unit
from sirenkit.signals.video import DEFAULT_TIME_EXTENT, Video, voxel_coordinates
from sirenkit.store import Representation

VIDEO_FIT = FitConfig(steps=1000, lr=1e-4, schedule="cosine", precision="auto")
"""Training settings of `fit_video` and `sirenkit fit video`: the official code's Adam lr 1e-4,
decayed by a cosine, bf16 products where the device has them natively."""
VIDEO_BATCH = 16384
"""Random voxels per step by default (the official code draws a fraction of a percent of a clip's
voxels per step; this is of the same order for a downscaled clip of a few hundred frames)."""


@dataclass
class VoxelGrid:
    """The voxels of a video as a finite domain, sampled without materializing coordinates.

    `frames` is (T, H, W, C) uint8; a sample draws flat voxel indices uniformly with
    replacement and returns their (t, row, column) coordinates and values in [-1, 1] as
    data["target"]. Memory: the uint8 frames only, one byte per value.
    """

    frames: Tensor
    extents: tuple[float, float, float]

    def sample(self, n: int | None, generator: torch.Generator) -> Batch:
        shape = tuple(self.frames.shape[:3])
        values = self.frames.reshape(-1, self.frames.shape[3])
        if n is None or n >= values.shape[0]:
            index = torch.arange(values.shape[0], device=values.device)
        else:
            index = torch.randint(values.shape[0], (n,), generator=generator).to(values.device)
        target = to_signed(values[index].to(torch.float32) / 255.0)
        return Batch(voxel_coordinates(index, shape, self.extents), {"target": target})


def video_field_config(video: Video, config: FieldConfig) -> FieldConfig:
    """Field settings for a clip: 3 inputs (t, row, column), one output per channel, relu-pe octaves
    by the official Nyquist rule for the axis with the most samples."""
    octaves = config.pe_octaves or nyquist_frequencies(max(video.shape))
    return replace(config, in_dim=3, out_dim=video.channels, pe_octaves=octaves)


def signal_metadata(video: Video, time_extent: float) -> dict:
    """What a checkpoint records of the clip it represents."""
    return {
        "kind": "video",
        "shape": list(video.shape),
        "channels": video.channels,
        "fps": video.fps,
        "extents": list(video.extents(time_extent)),
        "normalization": "value = 2·pixel − 1, pixel in [0, 1]",
        "axes": "time (the clip spans ±extents[0]), row, column (square pixels, longer side spans [-1, 1])",
    }


def frame_times(frames: int, time_extent: float) -> list[float]:
    """Time coordinates of `frames` evenly spaced frames over [-time_extent, time_extent]."""
    return [0.0] if frames == 1 else np.linspace(-time_extent, time_extent, frames).tolist()


@dataclass(frozen=True)
class VideoRender:
    """How a clip is rendered: frame count, (height, width) and frame rate."""

    frames: int
    size: tuple[int, int]
    fps: float


def render_plan(
    representation: Representation,
    frames: int | None = None,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
) -> VideoRender:
    """Defaults: the source's frame count and size; a frame rate that keeps the clip's duration."""
    signal = representation.signal
    kind_name(representation, "video")
    count, height, width = signal["shape"]
    frames = count if frames is None else frames
    if frames < 1:
        raise InputError(f"frames must be at least 1, got {frames}")
    size = size or (height, width)
    if min(size) < 1:
        raise InputError(f"size must be at least 1x1, got {size[1]}x{size[0]}")
    fps = signal["fps"] * frames / count if fps is None else fps
    if not fps > 0:
        raise InputError(f"fps must be positive, got {fps}")
    return VideoRender(frames, size, fps)


def render_video(
    representation: Representation,
    plan: VideoRender,
    *,
    device: torch.device | str = "cpu",
    chunk: int = 65536,
) -> Iterator[np.ndarray]:
    """The represented clip as (H, W, C) frames in [0, 1], one at a time, over the source's time span.

    Any frame count and size works: the grid always spans the source's extents.
    """
    extents = representation.signal["extents"]
    times = frame_times(plan.frames, extents[0])
    for values in render_frames(representation.field, times, plan.size, tuple(extents[1:]), chunk=chunk, device=device):
        yield to_unit(torch.from_numpy(values)).numpy()


@dataclass
class VideoFit:
    """A video fit's outcome: the fit and the PSNR of every frame (data range 1, pixels in [0, 1])."""

    result: FitResult
    frame_psnr: list[float]

    @property
    def mean_psnr(self) -> float:
        return statistics.fmean(self.frame_psnr)

    def summary(self) -> dict:
        return {
            **self.result.summary(),
            "mean_psnr_db": round(self.mean_psnr, 3),
            "frame_psnr_db": [round(p, 3) for p in self.frame_psnr],
            "metric_convention": "PSNR per frame on pixel values in [0, 1], data range 1, before MP4 encoding",
        }

    def headline(self) -> str:
        """One line for the command line: model, mean PSNR over the frames, steps and time."""
        representation = self.result.representation
        height, width = representation.signal["shape"][1:3]
        return (
            f"{representation.config.model}: mean PSNR {format_metric(self.mean_psnr, '.2f', ' dB')} over "
            f"{len(self.frame_psnr)} frames of {width}x{height} {self.result.effort()}"
        )


def measure_video(
    representation: Representation, video: Video, *, device: torch.device | str = "cpu", out: Path | None = None
) -> list[float]:
    """PSNR of every frame against the source, rendering one frame at a time; with `out`, also write it as MP4."""
    plan = VideoRender(video.shape[0], video.shape[1:], video.fps)
    psnr: list[float] = []

    def frames() -> Iterator[np.ndarray]:
        for source, frame in zip(video.frames, render_video(representation, plan, device=device)):
            psnr.append(image_psnr(source.astype(np.float32) / 255.0, frame))
            yield to_uint8(frame)

    if out is None:
        for _ in frames():
            pass
    else:
        write_mp4(out, frames(), video.fps)
    return psnr


@register_kind
@dataclass(frozen=True)
class VideoKind:
    """A clip of frames: 3 inputs (t, row, column), one output per channel, sampled by random
    voxels; the time axis spans [-time_extent, time_extent] (see `sirenkit.signals.video`)."""

    name: ClassVar[str] = "video"
    noun: ClassVar[str] = "a video"
    time_extent: float = DEFAULT_TIME_EXTENT

    def __post_init__(self) -> None:
        if not self.time_extent > 0:
            raise InputError(f"time-extent must be positive, got {self.time_extent}")

    def field_config(self, signal: Video, config: FieldConfig) -> FieldConfig:
        return video_field_config(signal, config)

    def metadata(self, signal: Video) -> dict[str, Any]:
        return signal_metadata(signal, self.time_extent)

    def problem(self, signal: Video, batch: int | None, device: torch.device | str) -> Problem:
        voxels = VoxelGrid(torch.from_numpy(signal.frames).to(device), signal.extents(self.time_extent))
        return Problem([Constraint("fit", voxels, lambda ev: ev.value - ev.data["target"], points=batch)])

    def requests(
        self, signal: Video, config: FieldConfig, batch: int | None, device: torch.device | str
    ) -> list[Request]:
        points = batch or signal.frames[..., 0].size
        return [
            training_request(config, points, data_bytes=signal.frames.nbytes, device=device),
            frame_render_request(*signal.shape[1:], signal.channels),
        ]

    def live_metrics(self, signal: Video) -> LiveMetrics:
        return lambda terms: {"psnr": psnr_from_mse(terms["fit"] / 4)}

    def finish(self, result: FitResult, signal: Video, device: torch.device | str, run_dir: Path | None) -> VideoFit:
        out = run_dir / "reconstruction.mp4" if run_dir is not None else None
        outcome = VideoFit(result, measure_video(result.representation, signal, device=device, out=out))
        if run_dir is not None:
            title = f"{result.representation.config.model}: PSNR of the training batch"
            plot_curve(result.history, run_dir / "curve.png", title=title)
            write_json(run_dir / "summary.json", outcome.summary())
        return outcome


def fit_video(
    video: Video,
    field_config: FieldConfig | None = None,
    fit_config: FitConfig = VIDEO_FIT,
    *,
    time_extent: float = DEFAULT_TIME_EXTENT,
    batch: int | None = VIDEO_BATCH,
    **settings: Any,
) -> VideoFit:
    """Fit a field to a clip (`recipes.kind.fit_signal` with `VideoKind(time_extent)`; keywords as
    there: device, run_dir, resume, quiet, identity, on_step). With no settings it does what
    `sirenkit fit video` does: `FieldConfig()`, `VIDEO_FIT`, `VIDEO_BATCH` voxels per step.

    Files with `run_dir`: model.safetensors, reconstruction.mp4, curve.png (PSNR of the training
    batch), metrics.jsonl, summary.json (per-frame PSNR) and checkpoint.safetensors.
    """
    kind = VideoKind(time_extent)
    return fit_signal(kind, video, field_config or FieldConfig(), fit_config, batch=batch, **settings)
