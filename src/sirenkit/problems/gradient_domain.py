"""Gradient-domain problems: an image from its gradients or its Laplacian, and gradient-domain fusion.

The field never sees the image: one constraint asks its gradient (or Laplacian) to match
finite-difference targets of the image. That fixes the answer only up to a constant per channel
(from gradients) or a harmonic function (from the Laplacian). An *anchor* pins the rest, and an
anchor is just more constraints, each with its own domain and weight:

- `mean`: the batch mean of Φ equals the image's per-channel mean (on the supervised domain,
  sharing its sample and its evaluation of the field),
- `border`: Φ equals the image on the pixels of the image border (a point set of its own),
- `border+mean`: both,
- `points`: Φ equals the image at a few pixels drawn at random,
- `outside`: Φ equals the image outside a mask (fusion: A is kept as it is where nothing is
  blended, as in Pérez et al. 2003's seamless cloning),
- `none`: no anchor (the SIREN paper's setting, sec. 4.1).

Rules:

- `DEFAULT_ANCHOR` is `mean` from gradients (it fixes the one free constant per channel) and
  `border+mean` from the Laplacian: the border makes the Dirichlet problem well posed, and the
  mean pins the smooth, nearly harmonic error that a Laplacian loss penalizes least and the
  border alone leaves loose.
- Gradients are supervised on the pixels only: interpolated Sobel gradients are not the
  gradients of the image, so targets between the pixels would teach the field detail the image
  does not have. On the pixels a fit can still pass its best and slide back, matching the
  targets ever more closely with detail between the pixels that they do not pin down.
- Laplacians are supervised between the pixels too (a jittered `Grid`, targets interpolated):
  on the pixels alone, a field that adds a x² and a ripple −(2a/ω²)·cos(ωx) of the pixels'
  frequency ω has the same Laplacian at every pixel, the ripple costs almost nothing, and SIREN
  takes that loophole.

`signals.integrate_gradient` and `signals.solve_poisson` give the classical Fourier solutions
these fits are measured against (`python benchmarks/poisson.py --steps 0 --models siren
--anchored-models ""` prints their PSNR; figures in the README, "Problems on derivatives").

Units: values are the [-1, 1]-normalized image; gradients are per unit of coordinate and
Laplacians per unit of coordinate squared (`signals.sobel_gradient`, `discrete_laplacian`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from sirenkit.problems.base import Constraint, Problem
from sirenkit.problems.domains import Grid, PointSet, border_mask, restrict
from sirenkit.signals import discrete_laplacian, grid_coordinates, sobel_gradient

Source = Literal["gradient", "laplacian"]
Anchor = Literal["mean", "border", "border+mean", "points", "outside", "none"]
BlendMode = Literal["average", "max", "paste"]
SOURCES: tuple[Source, ...] = ("gradient", "laplacian")
ANCHORS: tuple[Anchor, ...] = ("mean", "border", "border+mean", "points", "none")
BLEND_ANCHORS: tuple[Anchor, ...] = (*ANCHORS, "outside")
BLEND_MODES: tuple[BlendMode, ...] = ("average", "max", "paste")
DEFAULT_ANCHOR: dict[Source, Anchor] = {"gradient": "mean", "laplacian": "border+mean"}


def derivative_constraint(samples: PointSet | Grid, source: Source, *, points: int | None = None) -> Constraint:
    """∇Φ = a(x) (shape (n, c, d)) or ΔΦ = a(x) (shape (n, c)), with a = samples.data[source].

    The weight is 1 / mean(a²): the loss is the squared error relative to the target's energy
    (1 for a constant field), so one anchor weight suits both sources and every image size.
    """
    target = samples.data[source]
    energy = float(target.square().mean())
    weight = 1.0 / energy if energy > 0 else 1.0
    return Constraint(
        source,
        samples,
        lambda ev: getattr(ev, source) - ev.data[source],
        needs=frozenset({source}),
        weight=weight,
        points=points,
    )


def mean_constraint(domain: PointSet | Grid, *, points: int | None, weight: float) -> Constraint:
    """The per-channel mean of Φ over each sample of `domain` equals the domain's datum "mean"
    ((N, c): the target mean, the same at every point; `mean_datum`).

    With random batches the batch mean is an unbiased estimate of the domain's mean, so the
    expected penalty is smallest exactly at the right constant. The target travels with the
    samples, so a batch of several problems' samples carries each one's own.
    """
    return Constraint(
        "mean", domain, lambda ev: ev.value.mean(-2) - ev.data["mean"].mean(-2), weight=weight, points=points
    )


def mean_datum(mean: Tensor, count: int) -> Tensor:
    """The datum "mean" of a domain of `count` points for a target mean (c,): (count, c), a view."""
    return mean.float().expand(count, mean.shape[-1])


def value_constraint(name: str, samples: PointSet, *, weight: float) -> Constraint:
    """Φ = samples.data["value"] (shape (n, c)) at every point of `samples`, each step."""
    return Constraint(name, samples, lambda ev: ev.value - ev.data["value"], weight=weight)


def anchor_constraints(
    anchor: Anchor,
    image: PointSet,
    shape: tuple[int, int],
    supervised: PointSet | Grid,
    *,
    points: int | None,
    weight: float,
    count: int,
    generator: torch.Generator,
    inside: Tensor | None = None,
) -> list[Constraint]:
    """The constraints that pin the free part of a gradient-domain problem; see the module docstring.

    `image` holds every pixel (row-major over `shape`) with data "value" (N, c). The mean
    anchor reads its target from the datum "mean" of `supervised` (`mean_datum`). `count` is
    the number of pixels for `points`; `points` is the supervised batch size, shared by `mean`.
    `inside` (N,) booleans is the mask that `outside` keeps clear of.
    """
    if anchor not in BLEND_ANCHORS:
        raise ValueError(f"unknown anchor {anchor!r}; choose one of {', '.join(BLEND_ANCHORS)}")
    if anchor == "outside" and (inside is None or bool(inside.all())):
        raise ValueError("the outside anchor needs a mask that leaves some pixels out")
    constraints = []
    for part in anchor.split("+"):
        if part == "mean":
            if "mean" not in supervised.data:
                raise ValueError('the mean anchor needs the datum "mean" on the supervised samples (mean_datum)')
            constraints.append(mean_constraint(supervised, points=points, weight=weight))
        elif part == "border":
            constraints.append(value_constraint("border", restrict(image, border_mask(shape)), weight=weight))
        elif part == "points":
            index = torch.randperm(image.x.shape[0], generator=generator)[:count]
            pixels = PointSet(image.x[index], {"value": image.data["value"][index]})
            constraints.append(value_constraint("points", pixels, weight=weight))
        elif part == "outside":
            constraints.append(value_constraint("outside", restrict(image, ~inside), weight=weight))
    return constraints


def derivative_targets(values: np.ndarray, source: Source) -> Tensor:
    """Finite-difference targets of an (H, W, C) image in [-1, 1]: (H·W, C, 2) gradients or (H·W, C) Laplacians."""
    h, w, c = values.shape
    if source == "gradient":
        return torch.from_numpy(sobel_gradient(values)).float().reshape(h * w, c, 2)
    return torch.from_numpy(discrete_laplacian(values)).float().reshape(h * w, c)


def combine_gradients(a: Tensor, b: Tensor, mode: BlendMode, inside: Tensor | None = None) -> Tensor:
    """Fuse two gradient fields of shape (N, c, d): `average`, `max` (per point, the one of larger
    magnitude over all channels, Pérez et al. 2003's mixed gradients) or `paste` (b's).

    With `inside` (N,) booleans, the fusion happens only there and a's gradients are kept elsewhere;
    `paste` needs it.
    """
    if mode == "average":
        fused = (a + b) / 2
    elif mode == "max":
        larger = a.square().sum((1, 2)) >= b.square().sum((1, 2))
        fused = torch.where(larger[:, None, None], a, b)
    elif mode == "paste":
        if inside is None:
            raise ValueError("paste needs a mask saying where b goes")
        fused = b
    else:
        raise ValueError(f"unknown blend mode {mode!r}; choose one of {', '.join(BLEND_MODES)}")
    return fused if inside is None else torch.where(inside[:, None, None], fused, a)


def gradient_domain_problem(
    values: np.ndarray,
    supervision: Tensor,
    source: Source,
    anchor: Anchor,
    *,
    points: int | None = None,
    anchor_weight: float = 1.0,
    anchor_count: int = 16,
    generator: torch.Generator | None = None,
    mean: Tensor | None = None,
    inside: Tensor | None = None,
) -> Problem:
    """Φ on the pixel grid of `values` (H, W, C) in [-1, 1] supervised only by `supervision`
    ((H·W, C, 2) gradients or (H·W, C) Laplacians), with the anchor read from `values`.

    `points` points are drawn per step (None: one per pixel; Laplacians between the pixels,
    see the module docstring). `inside` (H·W,) booleans: the mask of a fusion, for the
    `outside` anchor. Constraint names: the source, then the anchor's ("mean", "border",
    "points", "outside").
    """
    shape = values.shape[:2]
    image = PointSet(grid_coordinates(shape), {"value": torch.from_numpy(values.reshape(-1, values.shape[2])).float()})
    data = {source: supervision}
    if "mean" in anchor.split("+"):
        data["mean"] = mean_datum(image.data["value"].mean(0) if mean is None else mean, image.x.shape[0])
    supervised = Grid(shape, data, jitter=source == "laplacian")
    anchors = anchor_constraints(
        anchor,
        image,
        shape,
        supervised,
        points=points,
        weight=anchor_weight,
        count=anchor_count,
        generator=generator or torch.Generator().manual_seed(0),
        inside=inside,
    )
    return Problem([derivative_constraint(supervised, source, points=points), *anchors])


def reconstruction_problem(values: np.ndarray, source: Source, anchor: Anchor, **options) -> Problem:
    """Reconstruct the (H, W, C) image `values` in [-1, 1] from its own gradients or Laplacian.

    Options as in `gradient_domain_problem`.
    """
    return gradient_domain_problem(values, derivative_targets(values, source), source, anchor, **options)
