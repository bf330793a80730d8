"""Collections: many small images fitted as batched fields against one at a time, side by side.

    python benchmarks/collection_fit.py [--crops 512] [--loop-crops 64] [--steps 1000] [--batch 128] [--precision auto]
                                        [--workers N] [--device cpu]

RGB 32×32 crops cut on a regular grid from the Kodak images in ../shared/data/images/kodak, each
fitted by a SIREN of width 32 with 2 hidden layers (`FieldConfig(width=32, depth=2)`) for --steps
Adam steps of --batch random pixels (0: every pixel), lr 1e-3 with cosine decay
(`IMAGE_FIT`'s schedule), seed 0, three ways in this one process:
(1) batched: `sirenkit fit image FOLDER`'s path (`recipes.collection.fit_collection`, groups of 256)
    on the --crops crops saved as PNG files, timed from the call to the last file written (each
    member's model, reconstruction and summary, the manifest, the packed export);
(2) sirenkit one at a time: `recipes.image.fit_image` per crop, no files written, on the first
    --loop-crops crops;
(3) siren-pytorch one at a time (the `bench` extra): `SirenNet(2, 32, 3, num_layers=3, w0_initial=30)`,
    the same optimizer, schedule and steps in a plain loop, fp32, on the same crops as (2);
(4) with --workers N: (1) again with its groups as Ray tasks on a local Ray instance of N CPUs
    (`--workers N`; the `ray` extra), timed from the call, Ray's start and stop included, and
    printed as its overhead over (1). --loop-crops 0 leaves out (2) and (3).
Printed per way: crops, seconds, crops per second, median PSNR (RGB in [0, 1] over the crop);
then the throughput ratios and the PSNR differences on the crops all ways fitted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from machine import describe_machine

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
KODAK = SHARED / "images" / "kodak"
SIDE = 32


def kodak_crops(count: int) -> list[np.ndarray]:
    """`count` (32, 32, 3) uint8 crops: every image's grid of non-overlapping 32×32 cells, in a
    fixed spread-out order, taken round-robin over the images."""
    import imageio.v3 as iio

    images = [iio.imread(path) for path in sorted(KODAK.glob("*.png"))]
    if not images:
        raise SystemExit(f"no Kodak images in {KODAK}")
    cells = []
    for image in images:
        rows, cols = image.shape[0] // SIDE, image.shape[1] // SIDE
        order = np.random.default_rng(0).permutation(rows * cols)
        cells.append(
            [image[r * SIDE : (r + 1) * SIDE, c * SIDE : (c + 1) * SIDE] for r, c in (divmod(i, cols) for i in order)]
        )
    crops = [cells[k % len(images)][k // len(images)] for k in range(count)]
    return [np.ascontiguousarray(crop[..., :3]) for crop in crops]


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    mse = float(np.mean((reference.astype(np.float64) - estimate.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def batched(
    crops: list[np.ndarray], field_config, fit_config, batch: int | None, device: str, workers: int | None = None
) -> tuple[float, list[float]]:
    """Seconds and PSNR per crop of one collection fit of the crops saved as PNG files (its groups
    as Ray tasks on a local Ray instance of `workers` CPUs, started and stopped within the time)."""
    import imageio.v3 as iio

    from sirenkit.recipes.collection import Manifest, fit_collection
    from sirenkit.recipes.image import ImageKind
    from sirenkit.signals import load_image

    with tempfile.TemporaryDirectory() as folder:
        sources = []
        for k, crop in enumerate(crops):
            sources.append(Path(folder) / "crops" / f"crop{k:04d}.png")
            sources[-1].parent.mkdir(exist_ok=True)
            iio.imwrite(sources[-1], crop)
        begin = time.perf_counter()
        fit_collection(
            sources,
            ImageKind,
            load_image,
            field_config,
            fit_config,
            run_dir=Path(folder) / "run",
            batch=batch,
            quiet=True,
            device=device,
            workers=workers,
        )
        seconds = time.perf_counter() - begin
        rows = Manifest.read(Path(folder) / "run" / "manifest.jsonl").rows
        return seconds, [rows[str(source)].measures["psnr_db"] for source in sources]


def one_at_a_time(
    crops: list[np.ndarray], field_config, fit_config, batch: int | None, device: str
) -> tuple[float, list[float]]:
    from sirenkit.recipes.image import fit_image
    from sirenkit.signals import image_from_array

    begin = time.perf_counter()
    scores = [
        fit_image(image_from_array(crop), field_config, fit_config, batch=batch, device=device, quiet=True).psnr
        for crop in crops
    ]
    return time.perf_counter() - begin, scores


def siren_pytorch(crops: list[np.ndarray], fit_config, batch: int | None, device: str) -> tuple[float, list[float]]:
    import torch
    from siren_pytorch import SirenNet

    from sirenkit.signals import grid_coordinates

    coords = grid_coordinates((SIDE, SIDE), device=device)
    sampler = torch.Generator().manual_seed(fit_config.seed)
    begin = time.perf_counter()
    scores = []
    for crop in crops:
        torch.manual_seed(fit_config.seed)
        target = (torch.from_numpy(crop.reshape(-1, 3) / 255.0).float() * 2 - 1).to(device)
        net = SirenNet(dim_in=2, dim_hidden=32, dim_out=3, num_layers=3, w0=30.0, w0_initial=30.0).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=fit_config.lr)
        for step in range(1, fit_config.steps + 1):
            for group in optimizer.param_groups:
                group["lr"] = fit_config.lr_at(step)
            optimizer.zero_grad()
            index = slice(None) if batch is None else torch.randint(SIDE * SIDE, (batch,), generator=sampler)
            loss = ((net(coords[index]) - target[index]) ** 2).mean()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            estimate = ((net(coords).clamp(-1, 1) + 1) / 2).cpu().numpy()
        scores.append(psnr(crop.reshape(-1, 3) / 255.0, estimate))
    return time.perf_counter() - begin, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=512, help="crops fitted batched (default: 512)")
    parser.add_argument("--loop-crops", type=int, default=64, help="crops fitted one at a time, each way (default: 64)")
    parser.add_argument("--steps", type=int, default=1000, help="steps per crop (default: 1000)")
    parser.add_argument(
        "--precision", default="auto", choices=("auto", "fp32", "bf16"), help="sirenkit's (default: auto)"
    )
    parser.add_argument("--batch", type=int, default=128, help="random pixels per step, 0 for all (default: 128)")
    parser.add_argument("--skip-siren-pytorch", action="store_true", help="leave out way (3)")
    parser.add_argument("--workers", type=int, help="also fit the crops batched as Ray tasks on this many CPUs")
    parser.add_argument("--device", default="cpu", help="where every way runs: cpu or cuda (default: cpu)")
    args = parser.parse_args()

    from sirenkit.fields import FieldConfig
    from sirenkit.recipes.image import IMAGE_FIT

    field_config = FieldConfig(width=32, depth=2)
    fit_config = replace(IMAGE_FIT, steps=args.steps, precision=args.precision, checkpoint_every=0, retain_memory=True)
    crops = kodak_crops(max(args.crops, args.loop_crops))
    batch = args.batch or None
    print(describe_machine())
    if args.device != "cpu":
        import torch

        print(f"device {args.device}: {torch.cuda.get_device_name(args.device)}")
    print(
        f"{args.crops} RGB {SIDE}x{SIDE} Kodak crops, SIREN width 32 x 2 hidden layers, {args.steps} steps of "
        f"{'every pixel' if batch is None else f'{batch} random pixels'}, "
        f"lr {fit_config.lr:g} cosine, sirenkit precision {args.precision}, siren-pytorch fp32"
    )
    results = {"batched": batched(crops[: args.crops], field_config, fit_config, batch, args.device)}
    if args.workers:
        results[f"Ray, {args.workers} workers"] = batched(
            crops[: args.crops], field_config, fit_config, batch, args.workers
        )
        ray_seconds, local_seconds = results[f"Ray, {args.workers} workers"][0], results["batched"][0]
        print(f"  Ray overhead over batched in this process: {100 * (ray_seconds / local_seconds - 1):+.1f}%")
    if args.loop_crops:
        results["one at a time"] = one_at_a_time(crops[: args.loop_crops], field_config, fit_config, batch, args.device)
    if args.loop_crops and not args.skip_siren_pytorch:
        results["siren-pytorch"] = siren_pytorch(crops[: args.loop_crops], fit_config, batch, args.device)
    print(f"  {'way':>14s} {'crops':>6s} {'seconds':>8s} {'crops/s':>8s} {'median PSNR (dB)':>17s}")
    rate = {}
    for way, (seconds, scores) in results.items():
        rate[way] = len(scores) / seconds
        print(f"  {way:>14s} {len(scores):6d} {seconds:8.1f} {rate[way]:8.2f} {statistics.median(scores):17.2f}")
    shared = min(len(scores) for _, scores in results.values())
    ours = results["batched"][1][:shared]
    for way in results:
        if way == "batched":
            continue
        theirs = results[way][1][:shared]
        print(
            f"  batched vs {way}: throughput x{rate['batched'] / rate[way]:.1f}; median PSNR on the {shared} shared crops "
            f"{statistics.median(ours):.2f} vs {statistics.median(theirs):.2f} dB "
            f"(largest per-crop difference {max(abs(a - b) for a, b in zip(ours, theirs)):.2f} dB)"
        )


if __name__ == "__main__":
    main()
