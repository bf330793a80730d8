"""Volume recipes: fit a field to a 3-D grid of values, render it at any resolution, measure it.

The kind is `VolumeKind`, fitted through the generic path (`recipes.kind.fit_signal`). Units: the
field works on values in [-1, 1]; renders come back in the source's units, PSNR is on the unit
values in [0, 1] (the volume's range mapped to [0, 1], data range 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, nyquist_frequencies
from sirenkit.fit import FitConfig, FitResult, LiveMetrics
from sirenkit.outputs import evaluate_grid, image_psnr, plot_curve, psnr_from_mse, write_json, write_png
from sirenkit.outputs.files import write_npy
from sirenkit.outputs.metrics import format_metric
from sirenkit.problems import PointSet, Problem, fitting_problem
from sirenkit.recipes.kind import fit_signal, kind_name, register_kind
from sirenkit.resources import FLOAT32, Request, point_bytes, training_request
from sirenkit.signals import axis_extents, to_unit
from sirenkit.signals.volume import Volume, from_unit_range, to_unit_range
from sirenkit.store import Representation

RENDER_VALUE_BYTES = 4 * FLOAT32
"""Per value of a rendered volume: the float32 render, two temporaries of its [0, 1] mapping and
the float32 copy in source units."""


VOLUME_FIT = FitConfig(steps=2000, lr=1e-3, schedule="cosine", precision="auto")
"""Training settings of `fit_volume` and `sirenkit fit volume`: the image's (a volume is fitted as
an image is, with one axis more)."""
VOLUME_BATCH = 16384
"""Random voxels per step by default."""


def render_size(representation: Representation, size: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    """(depth, height, width) of a render: `size`, or the source's; InputError for a checkpoint that
    is not a volume's or a size under 1x1x1."""
    kind_name(representation, "volume")
    shape = tuple(size or representation.signal["shape"])
    if min(shape) < 1:
        raise InputError(f"size must be at least 1x1x1, got {'x'.join(map(str, shape))}")
    return shape


def render_request(shape: tuple[int, int, int], channels: int, option: str = "--size") -> Request:
    """Rendering a volume of `shape` whole: D × H × W × C × RENDER_VALUE_BYTES (evaluated in chunks)."""
    return Request(
        math.prod(shape) * channels * RENDER_VALUE_BYTES, f"rendering a {'x'.join(map(str, shape))} volume", option
    )


def render_volume(
    representation: Representation,
    size: tuple[int, int, int] | None = None,
    *,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """The represented volume at (depth, height, width) — the source size by default — as
    (D, H, W, C) float32 in the source's units. Any size works: the grid spans the source's extent."""
    shape = render_size(representation, size)
    signal = representation.signal
    extents = axis_extents(tuple(signal["shape"]))
    unit = to_unit(evaluate_grid(representation.field, shape, extents=extents, device=device)).numpy()
    return from_unit_range(unit, signal["low"], signal["high"])


def middle_slices(values: np.ndarray) -> np.ndarray:
    """The middle slice across each axis of a (D, H, W, C) array, side by side on one canvas
    on a square cell as large as the largest slice: (side, 3 × side, C), zeros around smaller ones."""
    depth, height, width, channels = values.shape
    cuts = [values[depth // 2], values[:, height // 2], values[:, :, width // 2]]
    side = max(max(cut.shape[:2]) for cut in cuts)
    canvas = np.zeros((side, 3 * side, channels), dtype=values.dtype)
    for index, cut in enumerate(cuts):
        canvas[: cut.shape[0], index * side : index * side + cut.shape[1]] = cut
    return canvas


def write_slices(path: str | Path, values: np.ndarray, low: float, high: float) -> None:
    """The middle slices of a volume (source units) as one PNG, [low, high] mapped to black…white."""
    write_png(path, middle_slices(np.clip(to_unit_range(values, low, high), 0, 1)))


@dataclass
class VolumeFit:
    """A volume fit's outcome: the fit, the reconstruction at source size (source units) and its PSNR."""

    result: FitResult
    reconstruction: np.ndarray
    psnr: float

    def summary(self) -> dict[str, Any]:
        return {
            **self.result.summary(),
            "psnr_db": round(self.psnr, 3),
            "metric_convention": "PSNR on the volume's values mapped from their range [low, high] to [0, 1], data range 1",
        }

    def headline(self) -> str:
        """One line for the command line: model, PSNR, the grid's size, steps and time."""
        depth, height, width = self.reconstruction.shape[:3]
        return (
            f"{self.result.representation.config.model}: PSNR {format_metric(self.psnr, '.2f', ' dB')} over "
            f"{width}x{height}x{depth} voxels {self.result.effort()}"
        )


@register_kind
@dataclass(frozen=True)
class VolumeKind:
    """A 3-D grid of values: 3 inputs (depth, row, column), one output per channel."""

    name: ClassVar[str] = "volume"
    noun: ClassVar[str] = "a volume"

    def field_config(self, signal: Volume, config: FieldConfig) -> FieldConfig:
        octaves = config.pe_octaves or nyquist_frequencies(max(signal.shape))
        return replace(config, in_dim=3, out_dim=signal.channels, pe_octaves=octaves)

    def metadata(self, signal: Volume) -> dict[str, Any]:
        return {
            "shape": list(signal.shape),
            "channels": signal.channels,
            "low": signal.low,
            "high": signal.high,
            "normalization": "value = 2·(source − low)/(high − low) − 1",
            "axes": "depth, row, column; the longest spans [-1, 1]",
        }

    def problem(self, signal: Volume, batch: int | None, device: torch.device | str) -> Problem:
        return fitting_problem(PointSet(signal.coordinates(device), {"target": signal.signed(device)}), points=batch)

    def requests(
        self, signal: Volume, config: FieldConfig, batch: int | None, device: torch.device | str
    ) -> list[Request]:
        voxels = math.prod(signal.shape)
        data = point_bytes(voxels, 3 + signal.channels)
        return [
            training_request(config, batch or voxels, data_bytes=data, device=str(torch.device(device))),
            render_request(signal.shape, signal.channels),
        ]

    def live_metrics(self, signal: Volume) -> LiveMetrics:
        return lambda terms: {"psnr": psnr_from_mse(terms["fit"] / 4)}

    def finish(self, result: FitResult, signal: Volume, device: torch.device | str, run_dir: Path | None) -> VolumeFit:
        reconstruction = render_volume(result.representation, device=device)
        unit = to_unit_range(reconstruction, signal.low, signal.high)
        outcome = VolumeFit(result, reconstruction, image_psnr(signal.values, unit))
        if run_dir is not None:
            write_npy(run_dir / "reconstruction.npy", reconstruction)
            write_slices(run_dir / "slices.png", reconstruction, signal.low, signal.high)
            plot_curve(
                result.history,
                run_dir / "curve.png",
                title=f"{result.representation.config.model}: PSNR of the training batch",
            )
            write_json(run_dir / "summary.json", outcome.summary())
        return outcome


def fit_volume(
    volume: Volume,
    field_config: FieldConfig | None = None,
    fit_config: FitConfig = VOLUME_FIT,
    *,
    batch: int | None = VOLUME_BATCH,
    **settings: Any,
) -> VolumeFit:
    """Fit a field to a volume (`recipes.kind.fit_signal` with `VolumeKind`; keywords as there). With
    no settings it does what `sirenkit fit volume` does: `FieldConfig()`, `VOLUME_FIT`,
    `VOLUME_BATCH` voxels per step (None: every voxel).

    Files with `run_dir`: model.safetensors, reconstruction.npy (source units), slices.png (the
    middle slice across each axis), curve.png, metrics.jsonl, summary.json, checkpoint.safetensors.
    """
    return fit_signal(VolumeKind(), volume, field_config or FieldConfig(), fit_config, batch=batch, **settings)
