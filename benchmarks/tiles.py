"""Tiles against one network of the same parameter count, on a Kodak image, in one run.

    python benchmarks/tiles.py [--image kodim23.png] [--seconds 120] [--tile 128] [--width 64] [--depth 2]

The image (768×512 RGB) is fitted twice with `sirenkit fit image`'s defaults (`IMAGE_FIT`:
Adam 1e-3, cosine over the budget, precision auto; `IMAGE_BATCH` random pixels a step), each for
the same wall-clock budget --seconds:
(1) tiles: `recipes.tiles.fit_tiles`, tiles of --tile pixels overlapping by 8, each a SIREN of
    --width × --depth, every tile drawing IMAGE_BATCH pixels of its own a step;
(2) one SIREN of --depth hidden layers whose width gives the same parameter count as all tiles
    together, IMAGE_BATCH pixels a step.
Printed: parameters, steps, seconds, the PSNR of the whole image at the end (RGB in [0, 1]) and
the first second at which the training batch's PSNR passed 30, 35 and 40 dB.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

from machine import describe_machine

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MILESTONES = (30.0, 35.0, 40.0)


def parameters(width: int, depth: int, in_dim: int = 2, out_dim: int = 3) -> int:
    """Parameters of a SIREN: in→width, depth × width→width, width→out, with biases."""
    return (in_dim + 1) * width + depth * (width + 1) * width + (width + 1) * out_dim


def matching_width(total: int, depth: int) -> int:
    """The width whose SIREN of `depth` hidden layers has about `total` parameters."""
    a, b = depth, 2 + 1 + depth + 3  # depth·w² + (in + 1 + depth + out)·w + out ≈ total
    return max(1, round((-b + math.sqrt(b * b + 4 * a * (total - 3))) / (2 * a)))


def milestones(history: list[dict[str, float]]) -> str:
    found = []
    for level in MILESTONES:
        first = next((row["seconds"] for row in history if row.get("psnr", 0) >= level), None)
        found.append(f"{level:.0f} dB: {'-' if first is None else f'{first:.0f} s'}")
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="kodim23.png", help="a file of ../shared/data/images/kodak")
    parser.add_argument("--seconds", type=float, default=120.0, help="wall-clock budget of each fit (default: 120)")
    parser.add_argument("--tile", type=int, default=128, help="tile side in pixels (default: 128)")
    parser.add_argument("--width", type=int, default=64, help="width of each tile's SIREN (default: 64)")
    parser.add_argument("--depth", type=int, default=2, help="hidden layers of every SIREN (default: 2)")
    args = parser.parse_args()

    from sirenkit.fields import FieldConfig
    from sirenkit.fields.tiled import tile_grid
    from sirenkit.recipes.image import IMAGE_BATCH, IMAGE_FIT, ImageKind, fit_image
    from sirenkit.recipes.tiles import fit_tiles
    from sirenkit.signals import load_image

    image = load_image(SHARED / "images" / "kodak" / args.image)
    _, starts = tile_grid(image.shape, args.tile, 8)
    total = len(starts) * parameters(args.width, args.depth)
    single_width = matching_width(total, args.depth)
    config = replace(IMAGE_FIT, steps=10**7, max_seconds=args.seconds, checkpoint_every=0, retain_memory=True)
    print(describe_machine())
    print(
        f"{args.image} {image.shape[1]}x{image.shape[0]}, {args.seconds:g} s each, `fit image` defaults "
        f"(lr {config.lr:g} cosine over the budget, {IMAGE_BATCH} random pixels a step per field)"
    )
    tiled = fit_tiles(
        ImageKind(),
        image,
        image.shape,
        lambda im, start, size: im.crop(start[0], start[1], size[0], size[1]),
        FieldConfig(width=args.width, depth=args.depth),
        config,
        tile=args.tile,
        batch=IMAGE_BATCH,
        quiet=True,
    )
    single = fit_image(image, FieldConfig(width=single_width, depth=args.depth), config, quiet=True)
    rows = [
        (f"{len(starts)} tiles of {args.tile}px, width {args.width}", tiled),
        (f"one SIREN, width {single_width}", single),
    ]
    for name, outcome in rows:
        count = outcome.summary()["parameters"]
        print(
            f"  {name:>32s}: {count:,} parameters, {outcome.result.steps} steps in {outcome.result.seconds:.0f} s, "
            f"PSNR {outcome.psnr:.2f} dB; training batch first past {milestones(outcome.result.history)}"
        )


if __name__ == "__main__":
    main()
