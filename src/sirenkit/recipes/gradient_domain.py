"""Gradient-domain recipes: reconstruct an image from its gradients or its Laplacian alone (Poisson
reconstruction, `sirenkit poisson`), and fuse two images through their gradients (`sirenkit
blend`); each writes the image, the supervision maps and its quality.

Units: the field works on values in [-1, 1]; images, maps and metrics are on pixel values in
[0, 1] (maps per unit of coordinate, as `recipes.derivative_maps`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig, FitResult
from sirenkit.outputs import image_psnr, plot_curve, write_json, write_png
from sirenkit.outputs.figures import colorize
from sirenkit.problems import Problem
from sirenkit.problems.gradient_domain import (
    ANCHORS,
    BLEND_ANCHORS,
    BLEND_MODES,
    DEFAULT_ANCHOR,
    SOURCES,
    Anchor,
    BlendMode,
    Source,
    combine_gradients,
    derivative_targets,
    gradient_domain_problem,
)
from sirenkit.recipes.derivative_maps import DISPLAY_PERCENTILE, field_derivatives
from sirenkit.recipes.image import image_field_config, render_image, signal_metadata
from sirenkit.recipes.kind import check_batch, fit_signal
from sirenkit.resources import Request, image_render_request, point_bytes, training_request
from sirenkit.signals import Image, to_signed
from sirenkit.store import Representation

POISSON_FIT = FitConfig(steps=1000, lr=1e-4, schedule="cosine")
"""Training settings of the Poisson and fusion recipes and of `sirenkit poisson` / `sirenkit blend`:
Adam at the paper's 1e-4 with cosine decay, fp32 (the supervision is on derivatives). Higher
rates suit narrow networks on small images; `python benchmarks/poisson.py` measures the settings."""


@dataclass(frozen=True)
class PoissonConfig:
    """What supervises the field and how the part the supervision leaves free is pinned."""

    source: Source = "gradient"
    """Supervision: the image's gradients (Sobel filter) or its Laplacian (5-point stencil)."""
    anchor: Anchor | None = None
    """Pins the free part: mean (per-channel mean of the image), border (values on the image
    border), border+mean, points (a few pixels) or none (the SIREN paper's setting); unset:
    mean from gradients, border+mean from the Laplacian."""
    anchor_weight: float = 1.0
    """Weight of the anchor's mean squared error (values in [-1, 1]) against the derivative loss,
    which is relative to the target's mean square (1 for a field of zero derivatives)."""
    anchor_points: int = 16
    """anchor=points: how many pixels, drawn at random from the seed, keep their values."""

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise InputError(f"unknown source {self.source!r}; choose one of {', '.join(SOURCES)}")
        _check_anchor(self.anchor, self.anchor_weight, ANCHORS)
        if self.anchor_points < 1:
            raise InputError(f"anchor-points must be at least 1, got {self.anchor_points}")

    @property
    def resolved_anchor(self) -> Anchor:
        return self.anchor or DEFAULT_ANCHOR[self.source]


@dataclass(frozen=True)
class BlendConfig:
    """How two images' gradient fields are fused."""

    mode: BlendMode = "average"
    """average (mean of both gradients), max (per pixel the larger gradient: Pérez et al. 2003's
    mixed gradients) or paste (B's gradients inside the mask, A's outside: seamless cloning)."""
    anchor: Anchor | None = None
    """Pins the free constant: outside (A's values outside the mask: A is kept where nothing is
    blended), mean, border, border+mean, points or none; unset: outside with a mask, else
    mean (of A and B)."""
    anchor_weight: float = 1.0
    """Weight of the anchor's mean squared error (values in [-1, 1]); see PoissonConfig."""

    def __post_init__(self) -> None:
        if self.mode not in BLEND_MODES:
            raise InputError(f"unknown blend mode {self.mode!r}; choose one of {', '.join(BLEND_MODES)}")
        _check_anchor(self.anchor, self.anchor_weight, BLEND_ANCHORS)

    def resolved_anchor(self, mask: np.ndarray | None) -> Anchor:
        """The anchor used with this mask (H, W) booleans, or None."""
        return self.anchor or ("outside" if mask is not None and not mask.all() else "mean")


@dataclass
class GradientDomainFit:
    """The outcome: the fit, the image at source size (H, W, C) in [0, 1] and its quality.

    Against a reference image in [0, 1] (data range 1): `psnr` as rendered; `psnr_aligned` after
    adding the per-channel constant that best matches the reference (least squares), which is
    how a reconstruction without anchor is judged, its constant being free; `mean_error` the
    per-channel |mean(reference) − mean(image)|.
    """

    result: FitResult
    image: np.ndarray
    psnr: float
    psnr_aligned: float
    mean_error: list[float]
    settings: dict

    def summary(self) -> dict:
        return {
            "model": self.result.representation.config.model,
            **self.settings,
            "steps": self.result.steps,
            "seconds": round(self.result.seconds, 3),
            "psnr_db": round(self.psnr, 3),
            "psnr_aligned_db": round(self.psnr_aligned, 3),
            "channel_mean_error": [round(e, 6) for e in self.mean_error],
            "metric_convention": "pixel values in [0, 1], data range 1, against the reference; "
            "aligned: after the best per-channel constant offset",
        }


def compare(reference: np.ndarray, image: np.ndarray) -> tuple[float, float, list[float]]:
    """(PSNR, PSNR after the best per-channel offset, per-channel mean error) of (H, W, C) images in [0, 1]."""
    offset = (reference.astype(np.float64) - image).mean((0, 1))
    aligned = np.clip(image + offset, 0, 1)
    return image_psnr(reference, image), image_psnr(reference, aligned), [float(abs(o)) for o in offset]


def scalar_map(derivative: np.ndarray, source: Source) -> np.ndarray:
    """(H, W) for display: the gradient's magnitude (RMS over channels) of an (H, W, C, 2) gradient,
    or the channel mean of an (H, W, C) Laplacian."""
    if source == "gradient":
        return np.sqrt(np.mean(np.sum(derivative**2, axis=-1), axis=-1))
    return derivative.mean(-1)


def derivative_picture(derivative: np.ndarray, source: Source, top: float) -> np.ndarray:
    """(H, W, 3) RGB of a derivative map: magnitude on magma over [0, top], Laplacian on RdBu_r over ±top."""
    values = scalar_map(derivative, source)
    return colorize(values, "magma", 0, top) if source == "gradient" else colorize(values, "RdBu_r", -top, top)


def display_top(derivative: np.ndarray, source: Source) -> float:
    """The colour scale's top: the DISPLAY_PERCENTILE-th percentile of |scalar_map|."""
    return max(float(np.percentile(np.abs(scalar_map(derivative, source)), DISPLAY_PERCENTILE)), 1e-12)


def write_supervision_maps(
    run_dir: Path,
    representation: Representation,
    supervision: Tensor,
    source: Source,
    device: torch.device | str = "cpu",
) -> None:
    """supervision_<source>.png (the target) and network_<source>.png (the fit's), on one colour scale.

    `supervision` is in the field's [-1, 1] units, (H·W, C, 2) or (H·W, C); maps are drawn in pixel units.
    """
    shape = tuple(representation.signal["shape"])
    target = supervision.reshape(*shape, *supervision.shape[1:]).numpy() / 2
    network = getattr(field_derivatives(representation, device=device), source)
    top = display_top(target, source)
    write_png(run_dir / f"supervision_{source}.png", derivative_picture(target, source, top))
    write_png(run_dir / f"network_{source}.png", derivative_picture(network, source, top))


@dataclass(frozen=True, eq=False)
class GradientDomainKind:
    """A field fitted to a gradient-domain `problem` on the pixel grid of a reference image: its
    checkpoints are image checkpoints (kind "image": rendered, measured and used as one) that also
    record their supervision, so this kind is not registered under a name of its own.

    `supervision` is the target (gradients or Laplacian) the supervision maps are drawn from,
    `settings` what the summary and the checkpoint record of the supervision, `image_name` the
    file the image is written to. The problem draws its own samples, so the batch only sizes the
    memory check.
    """

    name: ClassVar[str] = "image"
    noun: ClassVar[str] = "an image"
    gradient_problem: Problem
    source: Source
    supervision: Tensor
    settings: dict
    image_name: str = "reconstruction.png"

    def field_config(self, signal: Image, config: FieldConfig) -> FieldConfig:
        return image_field_config(signal, config)

    def metadata(self, signal: Image) -> dict[str, Any]:
        return {**signal_metadata(signal), "supervision": self.settings}

    def problem(self, signal: Image, batch: int | None, device: torch.device | str) -> Problem:
        return self.gradient_problem

    def requests(
        self, signal: Image, config: FieldConfig, batch: int | None, device: torch.device | str
    ) -> list[Request]:
        """The step on `batch` pixels (all when None) with derivatives of the source's order, and on
        the device the coordinates (2 floats per pixel), values, targets and anchor values."""
        pixels = math.prod(signal.shape)
        order = 2 if self.source == "laplacian" else 1
        data = point_bytes(pixels, 2 + 4 * signal.channels)
        return [
            training_request(config, batch or pixels, order=order, data_bytes=data, device=device),
            image_render_request(*signal.shape, signal.channels),
        ]

    def live_metrics(self, signal: Image) -> None:
        return None

    def finish(
        self, result: FitResult, signal: Image, device: torch.device | str, run_dir: Path | None
    ) -> GradientDomainFit:
        representation = result.representation
        image = render_image(representation, device=device)
        outcome = GradientDomainFit(result, image, *compare(signal.pixels, image), self.settings)
        if run_dir is not None:
            write_png(run_dir / self.image_name, image, 16 if signal.bit_depth == 16 else 8)
            write_supervision_maps(run_dir, representation, self.supervision, self.source, device)
            title = f"{representation.config.model} from {self.source}"
            plot_curve(result.history, run_dir / "curve.png", key="loss", label="loss", title=title)
            write_json(run_dir / "summary.json", outcome.summary())
        return outcome


def reconstruct_image(
    image: Image,
    field_config: FieldConfig | None = None,
    fit_config: FitConfig = POISSON_FIT,
    poisson: PoissonConfig | None = None,
    *,
    batch: int | None = None,
    mean: Tensor | None = None,
    **run: Any,
) -> GradientDomainFit:
    """Reconstruct `image` from its gradients or Laplacian alone, pinned by `poisson`'s anchor.

    The field sees only the finite-difference targets and the anchor's data (the per-channel
    mean — given as `mean` (C,) in [-1, 1] units, or read from the image —, the border, or a
    few pixels). `batch` pixels are drawn per step (all when None). The PSNR is against `image`.
    `run`: device, run_dir, resume, quiet, identity, on_step, as in `recipes.kind.fit_signal`.
    With no settings it does what `sirenkit poisson` does: `FieldConfig()`, `POISSON_FIT`,
    `PoissonConfig()`, every pixel per step.
    """
    check_batch(batch)
    poisson = poisson or PoissonConfig()
    values = to_signed(image.pixels)
    supervision = derivative_targets(values, poisson.source)
    anchor = poisson.resolved_anchor
    problem = gradient_domain_problem(
        values,
        supervision,
        poisson.source,
        anchor,
        points=batch,
        anchor_weight=poisson.anchor_weight,
        anchor_count=poisson.anchor_points,
        generator=torch.Generator().manual_seed(fit_config.seed),
        mean=mean,
    )
    settings = {"source": poisson.source, "anchor": anchor, "batch": batch, "reference": "the image itself"}
    kind = GradientDomainKind(problem, poisson.source, supervision, settings)
    return fit_signal(kind, image, field_config or FieldConfig(), fit_config, batch=batch, **run)


def mask_from_image(image: Image) -> np.ndarray:
    """(H, W) booleans: the pixels whose colour (mean over the colour channels; alpha ignored) is ≥ 0.5."""
    colours = image.pixels[..., : 3 if image.channels >= 3 else 1]
    return colours.mean(-1) >= 0.5


def check_blend_inputs(a: Image, b: Image, mask: np.ndarray | None, blend: BlendConfig) -> None:
    """InputError unless A and B have one size and channel count, the mask (H, W) fits and is not
    empty, and the mode and anchor have the mask they need."""
    if a.shape != b.shape or a.channels != b.channels:
        raise InputError(f"the images must have the same size and channels: A is {_describe(a)}, B is {_describe(b)}")
    if mask is not None and mask.shape != a.shape:
        raise InputError(f"the mask is {mask.shape[1]}x{mask.shape[0]}, the images {a.shape[1]}x{a.shape[0]}")
    if mask is not None and not mask.any():
        raise InputError("the mask is empty: no pixel is set (white pixels mark where to blend)")
    if blend.mode == "paste" and mask is None:
        raise InputError("--mode paste needs --mask (where B goes in A)")
    if blend.anchor == "outside" and (mask is None or mask.all()):
        raise InputError("--anchor outside needs a --mask that leaves some pixels out")


def blend_images(
    a: Image,
    b: Image,
    field_config: FieldConfig | None = None,
    fit_config: FitConfig = POISSON_FIT,
    blend: BlendConfig | None = None,
    *,
    mask: np.ndarray | None = None,
    batch: int | None = None,
    **run: Any,
) -> GradientDomainFit:
    """Fuse images A and B (same size and channels) through their gradients; writes blend.png.

    `mask` (H, W) booleans: where the fusion happens (where B's gradients go for paste); A's
    gradients are kept elsewhere. The anchor's values are A outside the mask and, inside, B
    (paste) or the mean of A and B. The PSNR and mean error are measured against A. `run` as in
    `reconstruct_image`; with no settings it does what `sirenkit blend` does.
    """
    check_batch(batch)
    blend = blend or BlendConfig()
    check_blend_inputs(a, b, mask, blend)
    va, vb = to_signed(a.pixels), to_signed(b.pixels)
    inside = None if mask is None else torch.from_numpy(mask.reshape(-1))
    fused = combine_gradients(
        derivative_targets(va, "gradient"), derivative_targets(vb, "gradient"), blend.mode, inside
    )
    inner = vb if blend.mode == "paste" else (va + vb) / 2
    anchor_values = inner if mask is None else np.where(mask[:, :, None], inner, va)
    anchor = blend.resolved_anchor(mask)
    problem = gradient_domain_problem(
        anchor_values.astype(np.float32),
        fused,
        "gradient",
        anchor,
        points=batch,
        anchor_weight=blend.anchor_weight,
        generator=torch.Generator().manual_seed(fit_config.seed),
        inside=inside,
    )
    settings = {
        "source": "gradient",
        "mode": blend.mode,
        "mask": mask is not None,
        "anchor": anchor,
        "batch": batch,
        "reference": "image A",
    }
    kind = GradientDomainKind(problem, "gradient", fused, settings, image_name="blend.png")
    return fit_signal(kind, a, field_config or FieldConfig(), fit_config, batch=batch, **run)


def _check_anchor(anchor: Anchor | None, weight: float, choices: tuple[Anchor, ...]) -> None:
    if anchor is not None and anchor not in choices:
        raise InputError(f"unknown anchor {anchor!r}; choose one of {', '.join(choices)}")
    if not (weight > 0 and math.isfinite(weight)):
        raise InputError(f"anchor-weight must be a positive number, got {weight}")


def _describe(image: Image) -> str:
    return f"{image.shape[1]}x{image.shape[0]} with {image.channels} channel(s)"
