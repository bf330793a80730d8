"""Image recipes: fit a field to an image, render it at any size, and measure the fit."""

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
from sirenkit.outputs import evaluate_grid, image_psnr, image_ssim, plot_curve, psnr_from_mse, write_json, write_png
from sirenkit.outputs.metrics import format_metric
from sirenkit.problems import PointSet, Problem, fitting_problem
from sirenkit.recipes.kind import fit_signal, kind_name, register_kind
from sirenkit.resources import Request, image_render_request, point_bytes, training_request
from sirenkit.signals import Image, axis_extents, to_unit
from sirenkit.store import Representation

IMAGE_FIT = FitConfig(steps=2000, lr=1e-3, schedule="cosine", precision="auto")
"""Training settings of `fit_image` and `sirenkit fit image`: Adam at 1e-3 with cosine decay (chosen
as the fastest rate that stays stable on random batches; the paper's full-batch rate is 1e-4),
bf16 products where the device has them natively; `python benchmarks/image_fit.py --parts
defaults` measures them."""
IMAGE_BATCH = 8192
"""Random pixels per step by default: far cheaper per step than every pixel, enough to cover the
image every few steps; `python benchmarks/image_fit.py --parts defaults` measures the time it takes."""


def image_field_config(image: Image, config: FieldConfig) -> FieldConfig:
    """The field settings for an image: 2 inputs, one output per channel, Nyquist PE octaves."""
    octaves = config.pe_octaves or nyquist_frequencies(min(image.shape))
    return replace(config, in_dim=2, out_dim=image.channels, pe_octaves=octaves)


def signal_metadata(image: Image, source: Path | None = None) -> dict:
    """What a checkpoint records of the image it represents (and the file it came from, if given)."""
    return {
        "kind": "image",
        "shape": list(image.shape),
        "channels": image.channels,
        "bit_depth": image.bit_depth,
        "normalization": "value = 2·pixel − 1, pixel in [0, 1]",
        "axes": "row, column; longer side spans [-1, 1]",
        **({"source": str(source.resolve())} if source is not None else {}),
    }


def render_image(
    representation: Representation,
    size: tuple[int, int] | None = None,
    *,
    device: torch.device | str = "cpu",
    chunk: int = 65536,
) -> np.ndarray:
    """The represented image at (height, width) — the source size by default — as (H, W, C) in [0, 1].

    Any size works (super-resolution): the grid always spans the source's extent, so a 2× render
    samples the same picture twice as densely and another aspect ratio stretches it.
    """
    height, width = render_size(representation, size)
    extents = axis_extents(tuple(representation.signal["shape"]))
    values = evaluate_grid(representation.field, (height, width), extents=extents, chunk=chunk, device=device)
    return to_unit(values, in_place=True).numpy()


def render_size(representation: Representation, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """(height, width) of a render: `size`, or the source's; InputError for a checkpoint that is not
    an image's or a size under 1x1."""
    signal = representation.signal
    kind_name(representation, "image")
    height, width = size or tuple(signal["shape"])
    if height < 1 or width < 1:
        raise InputError(f"size must be at least 1x1, got {width}x{height}")
    return height, width


@dataclass
class ImageFit:
    """An image fit's outcome: the fit, the reconstruction at source size and its quality."""

    result: FitResult
    reconstruction: np.ndarray
    psnr: float
    ssim: float

    def summary(self) -> dict:
        field_ = self.result.representation.field
        return {
            **self.result.summary(),
            "psnr_db": round(self.psnr, 3),
            "ssim": round(self.ssim, 5),
            "metric_convention": "PSNR and SSIM on pixel values in [0, 1], data range 1",
            "weight_bytes": sum(p.numel() * p.element_size() for p in field_.parameters()),
        }

    def headline(self) -> str:
        """One line for the command line: model, PSNR, SSIM, steps and time."""
        model = self.result.representation.config.model
        return (
            f"{model}: PSNR {format_metric(self.psnr, '.2f', ' dB')}, SSIM {format_metric(self.ssim, '.4f')} "
            f"{self.result.effort()}"
        )


@register_kind
@dataclass(frozen=True)
class ImageKind:
    """An image: 2 inputs (row, column), one output per channel; `source` is the image's file,
    recorded in the checkpoint (for `sirenkit derivatives`)."""

    name: ClassVar[str] = "image"
    noun: ClassVar[str] = "an image"
    source: Path | None = None

    def field_config(self, signal: Image, config: FieldConfig) -> FieldConfig:
        return image_field_config(signal, config)

    def metadata(self, signal: Image) -> dict[str, Any]:
        return signal_metadata(signal, self.source)

    def problem(self, signal: Image, batch: int | None, device: torch.device | str) -> Problem:
        return fitting_problem(PointSet(signal.coordinates(device), {"target": signal.values(device)}), points=batch)

    def requests(
        self, signal: Image, config: FieldConfig, batch: int | None, device: torch.device | str
    ) -> list[Request]:
        pixels = math.prod(signal.shape)
        data = point_bytes(pixels, 2 + signal.channels)
        return [
            training_request(config, batch or pixels, data_bytes=data, device=device),
            image_render_request(*signal.shape, signal.channels),
        ]

    def live_metrics(self, signal: Image) -> LiveMetrics:
        return lambda terms: {"psnr": psnr_from_mse(terms["fit"] / 4)}

    def finish(self, result: FitResult, signal: Image, device: torch.device | str, run_dir: Path | None) -> ImageFit:
        reconstruction = render_image(result.representation, device=device)
        psnr, ssim = image_psnr(signal.pixels, reconstruction), image_ssim(signal.pixels, reconstruction)
        quality = ImageFit(result, reconstruction, psnr, ssim)
        if run_dir is not None:
            write_png(run_dir / "reconstruction.png", reconstruction, 16 if signal.bit_depth == 16 else 8)
            title = f"{result.representation.config.model}: PSNR of the training batch"
            plot_curve(result.history, run_dir / "curve.png", title=title)
            write_json(run_dir / "summary.json", quality.summary())
        return quality


def fit_image(
    image: Image,
    field_config: FieldConfig | None = None,
    fit_config: FitConfig = IMAGE_FIT,
    *,
    batch: int | None = IMAGE_BATCH,
    source: Path | None = None,
    **settings: Any,
) -> ImageFit:
    """Fit a field to an image (`recipes.kind.fit_signal` with `ImageKind(source)`; keywords as there:
    device, run_dir, resume, quiet, identity, on_step). With no settings it does what
    `sirenkit fit image` does: `FieldConfig()`, `IMAGE_FIT`, `IMAGE_BATCH` pixels per step
    (None: every pixel).

    Files with `run_dir`: model.safetensors, reconstruction.png, curve.png (PSNR per step),
    metrics.jsonl, summary.json, checkpoint.safetensors.
    """
    return fit_signal(ImageKind(source), image, field_config or FieldConfig(), fit_config, batch=batch, **settings)
