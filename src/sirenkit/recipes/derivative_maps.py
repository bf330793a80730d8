"""Derivative maps of a fitted image against the filtered data: maps, numbers, and the model comparison.

Units. Everything is in pixel-value units (the image's [0, 1] scale, not the network's [-1, 1])
per unit of coordinate on the isotropic grid (the longer side spans [-1, 1]): the network's
gradient and Laplacian are halved, the data's come from `sobel_gradient` and
`discrete_laplacian`, which divide by the grid spacing. The two are therefore comparable with
no fitted factor.

Numbers. `map_psnr` is 10·log10(R² / MSE) with R the ground-truth map's range (max − min, as
scikit-image's `data_range`); `relative_error` is ‖estimate − truth‖₂ / ‖truth‖₂ over the map.
A flat image has all-zero maps: an exact estimate then scores inf dB and error 0, any other
scores an undefined PSNR (NaN: no range) and an infinite relative error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sirenkit.calculus import Method, jet
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, frozen
from sirenkit.fields.tiled import TiledField
from sirenkit.fit import FitConfig
from sirenkit.outputs import image_psnr, psnr_from_mse, write_json, write_png
from sirenkit.outputs.figures import colorize, plot_derivative_grid
from sirenkit.outputs.render import map_grid
from sirenkit.recipes.image import fit_image, render_image
from sirenkit.recipes.kind import kind_name
from sirenkit.signals import Image, axis_extents, discrete_laplacian, sobel_gradient
from sirenkit.store import Representation

DERIVATIVE_CHUNK = 16384
"""Grid points per jet evaluation: the forward jet's memory grows with the points, so chunks bound it
(`python benchmarks/derivatives.py` prints its peak at 65,536 points)."""

DISPLAY_PERCENTILE = 99.5
"""Maps are drawn on a colour scale up to this percentile of the ground truth's magnitude."""


@dataclass
class DerivativeMaps:
    """Gradient (H, W, C, 2) — axes (row, column) — and Laplacian (H, W, C), in the module's units."""

    gradient: np.ndarray
    laplacian: np.ndarray

    def gradient_magnitude(self) -> np.ndarray:
        """(H, W): |∇| over both axes, root-mean-square over channels."""
        return np.sqrt(np.mean(np.sum(self.gradient**2, axis=-1), axis=-1))

    def mean_laplacian(self) -> np.ndarray:
        """(H, W): the Laplacian averaged over channels."""
        return self.laplacian.mean(-1)


def data_derivatives(image: Image) -> DerivativeMaps:
    """The Sobel gradient and 5-point Laplacian of the image's [0, 1] pixels."""
    return DerivativeMaps(sobel_gradient(image.pixels), discrete_laplacian(image.pixels))


def field_derivatives(
    representation: Representation,
    size: tuple[int, int] | None = None,
    *,
    method: Method = "auto",
    chunk: int = DERIVATIVE_CHUNK,
    device: torch.device | str = "cpu",
) -> DerivativeMaps:
    """The represented image's gradient and Laplacian on a (height, width) grid over the source's extent.

    `method` picks the calculus path ("autograd" forces the reference; `check_method` says which
    fields take "forward"). Evaluated chunk by chunk without keeping a graph, so memory does not
    grow with the size.
    """
    signal = representation.signal
    kind_name(representation, "image")
    check_method(representation, method)
    shape = size or tuple(signal["shape"])
    field_ = representation.field.to(device)

    def derivatives(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # the autograd path takes the graph it needs itself
            result = jet(field_, x, order=2, method=method)
        return torch.cat([result.gradient.flatten(-2), result.laplacian], -1).detach()

    with frozen(field_):
        values = map_grid(
            derivatives, shape, extents=axis_extents(tuple(signal["shape"])), chunk=chunk, device=device
        ).numpy()
    channels = int(signal["channels"])
    gradient = values[..., : 2 * channels].reshape(*shape, channels, 2) / 2
    return DerivativeMaps(gradient, values[..., 2 * channels :] / 2)


def check_method(representation: Representation, method: Method) -> None:
    """InputError for a calculus path the represented field cannot take. The forward path pushes
    derivatives through the layers of a network (or of a batch of them: `calculus.forward`); a
    tiled field blends many networks by weights that vary over the grid (`fields.tiled`), and
    takes its derivatives through autograd, which "auto" chooses for it."""
    if method == "forward" and isinstance(representation.field, TiledField):
        raise InputError(
            "--method forward cannot differentiate a tiled field (fitted with --tiles); use --method autograd"
        )


def map_psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB with the ground truth's range (max − min) as the peak (`psnr_from_mse`'s rules)."""
    mse = float(np.mean((estimate.astype(np.float64) - truth) ** 2))
    return psnr_from_mse(mse, float(truth.max() - truth.min()))


def relative_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """‖estimate − truth‖₂ / ‖truth‖₂: 0 for an exact estimate, inf for any other estimate of an
    all-zero truth."""
    error = float(np.linalg.norm(estimate.astype(np.float64) - truth))
    norm = float(np.linalg.norm(truth))
    if error == 0:
        return 0.0
    return error / norm if norm > 0 else math.inf


def derivative_metrics(estimate: DerivativeMaps, truth: DerivativeMaps) -> dict[str, float]:
    """PSNR and relative error of the gradient (both components) and of the Laplacian."""
    return {
        "gradient_psnr_db": map_psnr(estimate.gradient, truth.gradient),
        "gradient_relative_error": relative_error(estimate.gradient, truth.gradient),
        "laplacian_psnr_db": map_psnr(estimate.laplacian, truth.laplacian),
        "laplacian_relative_error": relative_error(estimate.laplacian, truth.laplacian),
    }


@dataclass(frozen=True)
class DisplayScale:
    """Colour-scale tops shared by every map of one figure: taken from the ground truth."""

    gradient: float
    laplacian: float

    @classmethod
    def of(cls, truth: DerivativeMaps) -> DisplayScale:
        top = lambda a: max(float(np.percentile(np.abs(a), DISPLAY_PERCENTILE)), 1e-12)  # noqa: E731
        return cls(top(truth.gradient_magnitude()), top(truth.mean_laplacian()))


DERIVATIVE_FILES = tuple(
    f"{prefix}{name}.png" for prefix in ("network_", "data_") for name in ("gradient", "laplacian")
) + ("derivatives.json",)
"""What `derivatives_report` writes in its folder."""


def write_derivative_maps(run_dir: Path, maps: DerivativeMaps, scale: DisplayScale, prefix: str) -> None:
    """`{prefix}gradient.png` (magnitude, 0 … scale) and `{prefix}laplacian.png` (±scale, diverging)."""
    write_png(run_dir / f"{prefix}gradient.png", colorize(maps.gradient_magnitude(), "magma", 0, scale.gradient))
    lap = scale.laplacian
    write_png(run_dir / f"{prefix}laplacian.png", colorize(maps.mean_laplacian(), "RdBu_r", -lap, lap))


def derivatives_report(
    representation: Representation,
    image: Image,
    run_dir: Path,
    *,
    size: tuple[int, int] | None = None,
    method: Method = "auto",
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Write the network's and the data's gradient-magnitude and Laplacian maps and derivatives.json.

    Numbers compare at the source resolution; maps are drawn at `size` (default: the source's).
    """
    if tuple(image.shape) != tuple(representation.signal["shape"]):
        raise InputError(
            f"the image is {image.shape[1]}x{image.shape[0]} but the checkpoint was fitted to "
            f"{representation.signal['shape'][1]}x{representation.signal['shape'][0]}"
        )
    truth = data_derivatives(image)
    at_source = field_derivatives(representation, method=method, device=device)
    metrics = derivative_metrics(at_source, truth)
    scale = DisplayScale.of(truth)
    drawn = (
        at_source
        if size in (None, image.shape)
        else field_derivatives(representation, size, method=method, device=device)
    )
    write_derivative_maps(run_dir, drawn, scale, "network_")
    write_derivative_maps(run_dir, truth, scale, "data_")
    write_json(
        run_dir / "derivatives.json",
        {
            **metrics,
            "units": "pixel values in [0, 1] per unit of coordinate (longer side spans [-1, 1])",
            "psnr_convention": "peak = range (max - min) of the ground-truth map; ground truth: Sobel / 5-point Laplace",
        },
    )
    return metrics


@dataclass
class Snapshot:
    """One model at one step: reconstruction (H, W, C) in [0, 1], its derivative maps and their numbers."""

    model: str
    step: int
    reconstruction: np.ndarray
    maps: DerivativeMaps
    metrics: dict[str, float]


COMPARE_FIT = FitConfig(steps=300, lr=1e-4, schedule="constant", precision="auto")
"""Training settings of `compare_models` in `sirenkit compare image`: the paper's image settings.
Faster schedules fit the pixels sooner but leave the field free to oscillate between them, and
its derivatives then stop resembling the data's."""


def compare_models(
    image: Image,
    models: Sequence[str],
    fit_config: FitConfig,
    snapshots: Sequence[int],
    *,
    field_config: FieldConfig | None = None,
    batch: int | None = None,
    device: torch.device | str = "cpu",
    quiet: bool = False,
) -> list[Snapshot]:
    """Fit each model to the image and take a snapshot at each step of `snapshots` (≤ fit_config.steps)."""
    if not snapshots or min(snapshots) < 1 or max(snapshots) > fit_config.steps:
        raise InputError(f"snapshot steps must lie in 1..{fit_config.steps}, got {list(snapshots)}")
    truth = data_derivatives(image)
    taken: list[Snapshot] = []
    base = field_config or FieldConfig()
    for model in models:

        def snap(step: int, representation: Representation, model: str = model) -> None:
            if step in snapshots:
                maps = field_derivatives(representation, device=device)
                reconstruction = render_image(representation, device=device)
                metrics = {"psnr_db": image_psnr(image.pixels, reconstruction), **derivative_metrics(maps, truth)}
                taken.append(Snapshot(model, step, reconstruction, maps, metrics))

        fit_image(
            image,
            FieldConfig(**{**base.to_dict(), "model": model}),
            fit_config,
            batch=batch,
            device=device,
            quiet=quiet,
            on_step=snap,
        )
    return taken


def zero_map_metrics(truth: DerivativeMaps) -> dict[str, float]:
    """What maps of zeros score: the floor under which a derivative estimate carries nothing."""
    return derivative_metrics(DerivativeMaps(np.zeros_like(truth.gradient), np.zeros_like(truth.laplacian)), truth)


def write_comparison(run_dir: Path, image: Image, snapshots: Sequence[Snapshot]) -> dict[str, float]:
    """comparison.png (ground truth row, then a row per snapshot) and comparison.json; returns the zero-map floor."""
    truth = data_derivatives(image)
    floor = zero_map_metrics(truth)
    scale = DisplayScale.of(truth)
    rows = [("ground truth", image.pixels, truth, None)] + [
        (f"{s.model}, step {s.step}", s.reconstruction, s.maps, s.metrics) for s in snapshots
    ]
    plot_derivative_grid(
        run_dir / "comparison.png",
        [
            (
                label,
                pixels,
                colorize(maps.gradient_magnitude(), "magma", 0, scale.gradient),
                colorize(maps.mean_laplacian(), "RdBu_r", -scale.laplacian, scale.laplacian),
                metrics,
            )
            for label, pixels, maps, metrics in rows
        ],
    )
    write_json(
        run_dir / "comparison.json",
        {
            "rows": [{"model": s.model, "step": s.step, **s.metrics} for s in snapshots],
            "zero_map": floor,
            "psnr_convention": "image: data range 1; derivative maps: peak = range of the Sobel / Laplace map",
        },
    )
    return floor
