"""Image recipes: fit a field to an image, render it at any size, and measure the fit."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field, nyquist_frequencies
from sirenkit.fit import FitConfig, FitResult, fit
from sirenkit.outputs import evaluate_grid, image_psnr, image_ssim, plot_curve, psnr_from_mse, write_json, write_png
from sirenkit.problems import PointSet, fitting_problem
from sirenkit.resources import check_fit, image_render_request, point_bytes
from sirenkit.signals import Image, axis_extents, to_unit
from sirenkit.store import Representation


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
    return to_unit(values).numpy()


def render_size(representation: Representation, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """(height, width) of a render: `size`, or the source's; InputError for a checkpoint that is not
    an image's or a size under 1x1."""
    signal = representation.signal
    if signal.get("kind") != "image":
        raise InputError(f"this checkpoint represents a {signal.get('kind', 'unknown')} signal, not an image")
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
            "model": self.result.representation.config.model,
            "steps": self.result.steps,
            "seconds": round(self.result.seconds, 3),
            "psnr_db": round(self.psnr, 3),
            "ssim": round(self.ssim, 5),
            "metric_convention": "PSNR and SSIM on pixel values in [0, 1], data range 1",
            "parameters": sum(p.numel() for p in field_.parameters()),
            "weight_bytes": sum(p.numel() * p.element_size() for p in field_.parameters()),
        }


def fit_image(
    image: Image,
    field_config: FieldConfig,
    fit_config: FitConfig,
    *,
    batch: int | None = None,
    device: torch.device | str = "cpu",
    run_dir: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    identity: dict | None = None,
    on_step: Callable[[int, Representation], None] | None = None,
    source: Path | None = None,
) -> ImageFit:
    """Fit a field to an image; with `run_dir`, write the run's files there.

    `batch` pixels are drawn at random each step (all pixels when None). The field is
    initialized from `fit_config.seed`. Files: model.safetensors, reconstruction.png,
    curve.png (PSNR per step), metrics.jsonl, summary.json, checkpoint.safetensors.
    `on_step(step, representation)` runs after every step (snapshots); `source`, the image's
    file, is recorded in the checkpoint (for `sirenkit derivatives`).
    """
    if batch is not None and batch < 1:
        raise InputError(f"batch must be at least 1, got {batch}")
    config = image_field_config(image, field_config)
    pixels = math.prod(image.shape)
    outputs = [image_render_request(*image.shape, image.channels)]
    check_fit(
        config, batch or pixels, data_bytes=point_bytes(pixels, 2 + image.channels), outputs=outputs, device=device
    )
    representation = Representation(build_field(config, seed=fit_config.seed), config, signal_metadata(image, source))
    signal = PointSet(image.coordinates(device), {"target": image.values(device)})
    problem = fitting_problem(signal, points=batch)
    result = fit(
        representation,
        problem,
        fit_config,
        device=device,
        run_dir=run_dir,
        resume=resume,
        live_metrics=lambda terms: {"psnr": psnr_from_mse(terms["fit"] / 4)},
        quiet=quiet,
        identity=identity,
        on_step=on_step,
    )
    reconstruction = render_image(representation, device=device)
    quality = ImageFit(
        result, reconstruction, image_psnr(image.pixels, reconstruction), image_ssim(image.pixels, reconstruction)
    )
    if run_dir is not None:
        run_dir = Path(run_dir)
        write_png(run_dir / "reconstruction.png", reconstruction, 16 if image.bit_depth == 16 else 8)
        plot_curve(result.history, run_dir / "curve.png", title=f"{config.model}: PSNR of the training batch")
        write_json(run_dir / "summary.json", quality.summary())
    return quality
