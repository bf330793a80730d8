"""Poisson image reconstruction on the 256×256 camera: SIREN, tanh and ReLU-PE, from gradients and
from the Laplacian, beside the SIREN paper's table (Sitzmann et al. 2020, table in sec. 4.1).

    python benchmarks/poisson.py [--steps 2000] [--minutes M] [--batch B] [--models siren,tanh,relu-pe]
                                 [--anchored-models siren] [--lr 1e-4] [--schedule constant]
                                 [--psnr-every N]

Each network (the paper's: 3 hidden layers × 256, ω0 = 30) is fitted to the Sobel gradients or
the 5-point Laplacian of `skimage.data.camera()` resized to 256×256 (anti-aliased), with Adam on
every pixel (or `--batch` random pixels) at every step, for `--steps` or `--minutes` of wall
time, whichever ends first: without anchor (the paper's setting), and for the
`--anchored-models` also with sirenkit's default anchor (the image's mean from gradients, its
border and mean from the Laplacian). The network never sees the image otherwise. Unlike the
paper, the Laplacian is also supervised between the pixels (see `problems.gradient_domain`), in
both runs.

Cost: every step evaluates the field's gradient or Laplacian at 65,536 points, so at full size
this is a GPU benchmark (--device cuda); the s/fit column prints what each fit took.

PSNR: pixel values in [0, 1], data range 1, against the image. Without anchor the constant is
free, so the table gives the PSNR after adding the best constant ("aligned") beside the PSNR as
rendered. Each source's "Fourier" row is the classical solution of the same supervision
(`signals.integrate_gradient`, Frankot–Chellappa least squares; `signals.solve_poisson` with a
Neumann border): the best a band-limited field does with those targets, so how far a network
is from it is how far its fit is from converged. The Sobel filter's smoothing caps it from
gradients; `--steps 0` prints the Fourier rows without training. `--psnr-every N` also prints
each fit's aligned PSNR every N steps (its rendering counts in s/fit): a fit to the pixels alone
can pass its best and fall back (see `problems.gradient_domain`). `--size` and `--crop` shrink
the problem for a smoke run (e.g. --size 64 --steps 5).
"""

from __future__ import annotations

import argparse
import math

PAPER = {
    "gradient": {"tanh": 25.79, "relu-pe": 26.35, "siren": 32.91},
    "laplacian": {"tanh": 7.11, "relu-pe": 11.14, "siren": 14.95},
}
"""PSNR in dB of the SIREN paper's Poisson table (from gradients / from the Laplacian)."""


def camera(size: int, crop: int | None):
    import numpy as np
    import skimage.data
    import skimage.transform

    from sirenkit.signals import image_from_array

    pixels = skimage.transform.resize(skimage.data.camera() / 255.0, (size, size), anti_aliasing=True)
    image = image_from_array(pixels.astype(np.float32))
    return image.center_crop(crop, crop) if crop else image


def fourier_psnr(image, source: str) -> float:
    """Aligned PSNR of the classical Fourier solution from `image`'s own supervision (see the module docstring)."""
    from sirenkit.recipes.gradient_domain import compare
    from sirenkit.signals import discrete_laplacian, integrate_gradient, sobel_gradient, solve_poisson, to_signed

    values = to_signed(image.pixels)
    if source == "gradient":
        solution = integrate_gradient(sobel_gradient(values))
    else:
        solution = solve_poisson(discrete_laplacian(values))
    return compare(image.pixels, (solution + 1) / 2)[1]


def main() -> None:
    from sirenkit.cli.common import add_device_option, resolve_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="siren,tanh,relu-pe", help="comma-separated (default: siren,tanh,relu-pe)")
    parser.add_argument("--sources", default="gradient,laplacian", help="comma-separated (default: both)")
    parser.add_argument("--steps", type=int, default=2000, help="Adam steps per fit (default: 2000)")
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget per fit (default: none)")
    parser.add_argument(
        "--anchored-models", default="siren", help="comma-separated, also fitted anchored (default: siren)"
    )
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default: 1e-4, the paper's)")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant", help="(default: constant)")
    parser.add_argument("--width", type=int, default=256, help="hidden features (default: 256, the paper's)")
    parser.add_argument("--depth", type=int, default=3, help="hidden layers (default: 3, the paper's)")
    parser.add_argument(
        "--psnr-every", type=int, default=0, help="print the aligned PSNR every N steps (default: never)"
    )
    parser.add_argument("--batch", type=int, default=None, help="pixels per step (default: all)")
    parser.add_argument("--size", type=int, default=256, help="camera resized to size×size (default: 256)")
    parser.add_argument("--crop", type=int, default=None, help="then a centre crop of crop×crop (default: none)")
    add_device_option(parser)
    args = parser.parse_args()

    from sirenkit.fields import FieldConfig
    from sirenkit.fit import FitConfig
    from sirenkit.recipes.gradient_domain import PoissonConfig, compare, reconstruct_image
    from sirenkit.recipes.image import render_image

    image = camera(args.size, args.crop)
    device = resolve_device(args.device)
    budget = None if args.minutes is None else args.minutes * 60
    fit_config = FitConfig(
        steps=args.steps,
        lr=args.lr,
        schedule=args.schedule,
        max_seconds=budget,
        checkpoint_every=0,
        retain_memory=True,
    )
    anchored_models = {m for m in args.anchored_models.split(",") if m}

    def reconstruct(model: str, source: str, anchor: str | None):
        field_config = FieldConfig(model=model, width=args.width, depth=args.depth)
        poisson = PoissonConfig(source=source, anchor=anchor)
        curve = []

        def measure(step, representation):
            if args.psnr_every and step % args.psnr_every == 0:
                curve.append(f"{step}: {compare(image.pixels, render_image(representation, device=device))[1]:.2f}")

        outcome = reconstruct_image(
            image, field_config, fit_config, poisson, batch=args.batch, device=device, quiet=True, on_step=measure
        )
        if curve:
            print(
                f"{source:9s} {model:8s} {poisson.resolved_anchor}: aligned PSNR by step  {'  '.join(curve)}",
                flush=True,
            )
        return outcome

    rows = []
    for source in [s for s in args.sources.split(",") if s]:
        for model in [m for m in args.models.split(",") if m]:
            none = reconstruct(model, source, "none")
            anchored = reconstruct(model, source, None) if model in anchored_models else None
            rows.append((source, model, none, anchored))
            text = "" if anchored is None else f", {anchored.settings['anchor']} {anchored.psnr:6.2f} dB"
            print(f"{source:9s} {model:8s} none {none.psnr:6.2f} dB{text}", flush=True)

    height, width = image.shape
    budget_text = "" if args.minutes is None else f" or {args.minutes:g} min"
    print(
        f"\ncamera {width}x{height}, {args.depth} hidden layers x {args.width}, {args.steps} Adam steps{budget_text} "
        f"at lr {args.lr} ({args.schedule}), batch {args.batch or 'all pixels'}, {device}; PSNR in dB on pixels in [0, 1]"
    )
    header = (
        f"{'from':10s} {'model':8s} {'paper':>6s} {'none':>6s} {'aligned':>8s} {'anchored':>9s} {'anchor':>12s} "
        f"{'steps':>6s} {'s/fit':>6s}"
    )
    print(header)
    print("-" * len(header))
    for index, (source, model, none, anchored) in enumerate(rows):
        if index == 0 or rows[index - 1][0] != source:
            print(f"{source:10s} {'Fourier':8s} {'-':>6s} {'-':>6s} {fourier_psnr(image, source):8.2f}")
        paper = PAPER[source].get(model, math.nan)
        anchored_text = (
            f"{'-':>9s} {'-':>12s}" if anchored is None else f"{anchored.psnr:9.2f} {anchored.settings['anchor']:>12s}"
        )
        print(
            f"{source:10s} {model:8s} {paper:6.2f} {none.psnr:6.2f} {none.psnr_aligned:8.2f} {anchored_text} "
            f"{none.result.steps:6d} {none.result.seconds:6.1f}"
        )
    print(
        "paper: the SIREN paper's table (no anchor); none: no anchor, as rendered; aligned: after the best constant; "
        "steps, s/fit: of the unanchored fit; Fourier: the classical solution of the same targets"
    )


if __name__ == "__main__":
    main()
