"""Tiles: a Kodak image against one network of the same size, the Bach clip, and the memory of a
very large image, each a part of one run.

    python benchmarks/tiles.py [--parts kodak,bach,memory] [--seconds 120] [--tile 128] [--width 64] [--depth 2]
                               [--bach-seconds 300] [--bach-tile 2048] [--bach-widths 24,64] [--bach-lr 1e-3]
                               [--memory-side 8192] [--memory-steps 50]

kodak: the image (--image, 768×512 RGB) is fitted twice with `sirenkit fit image`'s defaults
(`IMAGE_FIT`: Adam 1e-3, cosine over the budget, precision auto; `IMAGE_BATCH` random pixels a
step), each for the same wall-clock budget --seconds:
(1) tiles: `recipes.tiles.fit_tiles`, tiles of --tile pixels overlapping by 8, each a SIREN of
    --width × --depth, every tile drawing IMAGE_BATCH pixels of its own a step;
(2) one SIREN of --depth hidden layers whose width gives the same parameter count as all tiles
    together, IMAGE_BATCH pixels a step.
Printed: parameters, steps, seconds, the PSNR of the whole image at the end (RGB in [0, 1]) and
the first second at which the training batch's PSNR passed 30, 35 and 40 dB.

bach: the paper's Bach clip (../shared/data/audio/gt_bach.wav, 7 s at 44.1 kHz) fitted for
--bach-seconds each, fp32 with a cosine over the budget (`fit audio`'s settings), two ways:
(1) tiles of --bach-tile samples (overlap 8), each a SIREN of --depth hidden layers of each of
    --bach-widths (24: as many parameters as (2) in all) with the first-layer ω0 its length
    gets, every sample of every tile each step, lr --bach-lr;
(2) one SIREN as `sirenkit fit audio` makes it (3×256, its random batch, lr 1e-4).
Printed: parameters, steps, the MSE of the whole rendered clip (samples in [-1, 1], as the
paper's 1.1e-5), the first second at which the training MSE (for the tiles, the mean over them)
passed 1e-4, 3.5e-5 and 1.1e-5, and the ratio of the two MSEs.

memory: a --memory-side² RGB mosaic of the Kodak images is saved as a PNG and fitted by
`sirenkit fit image MOSAIC --tiles --tile --width --width --batch 1024 --steps --memory-steps` in a
child process (every file written: the model, reconstruction.png, the metrics); printed: its peak
resident memory (the child's ru_maxrss), tiles, parameters, seconds and PSNR.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from machine import describe_machine

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MILESTONES = (30.0, 35.0, 40.0)
BACH_MILESTONES = (1e-4, 3.5e-5, 1.1e-5)
PAPER_BACH_MSE = 1.1e-5


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


def kodak(args: argparse.Namespace) -> None:
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
    print(
        f"kodak: {args.image} {image.shape[1]}x{image.shape[0]}, {args.seconds:g} s each, `fit image` defaults "
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


def bach(args: argparse.Namespace) -> None:
    from sirenkit.fields import FieldConfig
    from sirenkit.recipes.audio import AUDIO_BATCH, AUDIO_FIT, AudioKind, fit_audio
    from sirenkit.recipes.tiles import fit_tiles
    from sirenkit.signals import load_audio

    audio = load_audio(SHARED / "audio" / "gt_bach.wav")
    budget = replace(AUDIO_FIT, steps=10**9, max_seconds=args.bach_seconds, checkpoint_every=0, log_every=10)
    print(
        f"bach: {audio.frames} samples at {audio.rate} Hz, {args.bach_seconds:g} s each, fp32, cosine over the budget: "
        f"tiles of {args.bach_tile} samples, width {'/'.join(map(str, args.bach_widths))} x {args.depth} hidden, "
        "every sample a step, "
        f"lr {args.bach_lr:g}; one SIREN as `fit audio` (3x256, {AUDIO_BATCH} random samples a step, lr {budget.lr:g})"
    )
    ways = []
    for width in args.bach_widths:
        tiled = fit_tiles(
            AudioKind(),
            audio,
            (audio.frames,),
            lambda clip, start, size: clip.crop(start[0], size[0]),
            FieldConfig(width=width, depth=args.depth),
            replace(budget, lr=args.bach_lr),
            tile=args.bach_tile,
            quiet=True,
        )
        count = tiled.result.representation.field.tiles.count
        ways.append((f"{count} tiles, width {width}", tiled, count))
    single = fit_audio(audio, FieldConfig(), budget, batch=AUDIO_BATCH, quiet=True)
    ways.append(("one SIREN, 3x256", single, 1))
    for name, outcome, fields in ways:
        passed = []
        for level in BACH_MILESTONES:
            first = next((row["seconds"] for row in outcome.result.history if row["fit"] / fields <= level), None)
            passed.append(f"{level:.2g}: {'-' if first is None else f'{first:.0f} s'}")
        against = "" if outcome is single else f", x{single.mse / outcome.mse:.1f} below one SIREN's"
        print(
            f"  {name:>22s}: {outcome.summary()['parameters']:,} parameters, {outcome.result.steps} steps, MSE of the "
            f"whole clip {outcome.mse:.3g} (x{outcome.mse / PAPER_BACH_MSE:.2g} the paper's {PAPER_BACH_MSE:.2g}"
            f"{against}); training MSE first past {', '.join(passed)}"
        )


def kodak_mosaic(side: int):
    """(side, side, 3) uint8: the Kodak images, each turned landscape (512×768), row after row, again and again."""
    import imageio.v3 as iio
    import numpy as np

    images = [iio.imread(path)[..., :3] for path in sorted((SHARED / "images" / "kodak").glob("*.png"))]
    images = [image if image.shape[0] <= image.shape[1] else np.rot90(image) for image in images]
    height, width = images[0].shape[:2]
    mosaic = np.zeros((side, side, 3), np.uint8)
    cells = [(top, left) for top in range(0, side, height) for left in range(0, side, width)]
    for k, (top, left) in enumerate(cells):
        part = images[k % len(images)][: side - top, : side - left]
        mosaic[top : top + part.shape[0], left : left + part.shape[1]] = part
    return mosaic


def memory(args: argparse.Namespace) -> None:
    import imageio.v3 as iio

    from sirenkit.fields.tiled import tile_grid

    side = args.memory_side
    _, starts = tile_grid((side, side), args.tile, 8)
    with tempfile.TemporaryDirectory() as folder:
        source, run = Path(folder) / f"mosaic{side}.png", Path(folder) / "run"
        iio.imwrite(source, kodak_mosaic(side), compress_level=1)
        command = [sys.executable, "-m", "sirenkit", "fit", "image", str(source), "--out", str(run), "--quiet"]
        command += ["--tiles", str(args.tile), "--width", str(args.width), "--depth", str(args.depth)]
        command += ["--batch", "1024", "--steps", str(args.memory_steps)]
        print(f"memory: {side}x{side} Kodak mosaic ({source.stat().st_size / 1e6:.0f} MB PNG): {' '.join(command[2:])}")
        begin = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - begin
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
        summary = json.loads((run / "summary.json").read_text())
    print(
        f"  peak resident memory {peak / 2**30:.2f} GiB; {len(starts)} tiles, {summary['parameters']:,} parameters, "
        f"{summary['steps']} steps, {seconds:.0f} s in all (fit, render, metrics, files), PSNR {summary['psnr_db']:.2f} dB"
    )


PARTS = {"kodak": kodak, "bach": bach, "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="kodak", help=f"comma-separated: {', '.join(PARTS)} (default: kodak)")
    parser.add_argument("--image", default="kodim23.png", help="kodak: a file of ../shared/data/images/kodak")
    parser.add_argument("--seconds", type=float, default=120.0, help="kodak: budget of each fit (default: 120)")
    parser.add_argument("--tile", type=int, default=128, help="kodak, memory: tile side in pixels (default: 128)")
    parser.add_argument("--width", type=int, default=64, help="kodak, memory: width of each tile's SIREN (default: 64)")
    parser.add_argument("--depth", type=int, default=2, help="hidden layers of every SIREN (default: 2)")
    parser.add_argument("--bach-seconds", type=float, default=300.0, help="bach: budget of each fit (default: 300)")
    parser.add_argument("--bach-tile", type=int, default=2048, help="bach: tile length in samples (default: 2048)")
    parser.add_argument(
        "--bach-widths",
        type=lambda text: [int(w) for w in text.split(",")],
        default=[24, 64],
        help="bach: widths of the tiles' SIRENs, one tiled fit each (default: 24,64)",
    )
    parser.add_argument("--bach-lr", type=float, default=1e-3, help="bach: learning rate (default: 1e-3)")
    parser.add_argument("--memory-side", type=int, default=8192, help="memory: side of the mosaic (default: 8192)")
    parser.add_argument("--memory-steps", type=int, default=50, help="memory: steps of every tile (default: 50)")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if not set(parts) <= set(PARTS):
        parser.error(f"unknown part in --parts {args.parts}")
    print(describe_machine())
    for part in parts:
        PARTS[part](args)


if __name__ == "__main__":
    main()
