"""Compression: rate–distortion of `sirenkit compress` on the Kodak images against JPEG, WebP and COIN.

    python benchmarks/compression.py [--images DIR] [--rates 0.05,0.1,0.2,0.3,0.6,1.2]
                                     [--seconds 60] [--batch 8192] [--device cpu] [--jobs 1]
                                     [--results results.json] [--plot docs/compression_rd.png]
                                     [--crop docs/compression_crop.png]
    python benchmarks/compression.py --replot results.json [more.json ...] [--time-decode] [--coders]
                                     [--plot ...] [--crop ...]

For every image and rate, `recipes.compress.compress_at_rate` makes a file of at most that many
bits per pixel (`--seconds` of training each, on `--device`); the file is decoded on the CPU
(`recipes.compress.decompress`, then `recipes.image.render_image`, timed), rounded to 8 bits as
`sirenkit decompress` writes it, and measured: PSNR on RGB in [0, 1] against the original. Every
byte of the file counts. The peers, per image: JPEG (Pillow, quality 1 to 95, optimize=True, so
optimized Huffman tables) and WebP (Pillow, quality 0 to 100, method 6). COIN (Dupont et al.
2021, "COIN: COmpression with Implicit Neural representations", Fig. 4, Kodak average): its
published bpp → dB points.

Printed: the machine; per rate, the mean bpp and PSNR of sirenkit, JPEG and WebP at sirenkit's
rate on each image (interpolated in log bpp, then averaged), COIN's curve at the mean bpp and the
margin over it; per rate, the mean PSNR after each stage of the codec (float fit, rounding,
fine-tuned rounding); per image, the least margin over JPEG at JPEG's own qualities of at most 0.3 bpp
(sirenkit interpolated in log bpp at JPEG's rate; a JPEG file past sirenkit's largest, yet of
lower PSNR, is beaten by that smaller file, at that margin), and how many of those JPEG points
sirenkit's files leave out; or, for an image with no such point within sirenkit's rates (a
one-rate run), JPEG interpolated at sirenkit's own files; encode and decode times. The two
targets: above COIN's curve at every rate; above JPEG at every JPEG point of at most 0.3 bpp on
every image (within the range of rates sirenkit was run at). `--time-decode` decodes every file again on this
machine's CPU and times it; `--coders` codes the files' bodies with brotli, zstd (the `bench`
extra), xz and zlib and prints each against the order-0 entropy.

`--replot` with several results files reports them as one: each run's settings (training
seconds, jobs, the commit it ran at) are printed and numbered, every row and image says which
runs its files come from, and a file listed later replaces an earlier one's encoding of the
same image at the same rate (list them oldest first to keep the newest encoding of each).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from machine import describe_machine
from sirenkit.outputs.metrics import image_psnr

HERE = Path(__file__).resolve().parent
KODAK = HERE.parent.parent / "shared" / "data" / "images" / "kodak"
COIN = [(0.0368, 22.41), (0.0736, 23.21), (0.160, 24.64), (0.307, 26.41), (0.611, 28.41), (1.209, 30.64)]
"""COIN's published Kodak average (bpp, PSNR dB)."""
RATES = [0.05, 0.1, 0.2, 0.3, 0.6, 1.2]
JPEG_QUALITIES = list(range(1, 96))
WEBP_QUALITIES = list(range(0, 101, 2))
JPEG_TARGET_BPP = 0.3


def peer_curve(pixels: np.ndarray, codec: str) -> list[tuple[float, float]]:
    """(bpp, PSNR) of Pillow's JPEG or WebP at every quality of the sweep."""
    from PIL import Image

    image = Image.fromarray(np.round(pixels * 255).astype(np.uint8))
    points = []
    for quality in JPEG_QUALITIES if codec == "jpeg" else WEBP_QUALITIES:
        buffer = io.BytesIO()
        if codec == "jpeg":
            image.save(buffer, "JPEG", quality=quality, optimize=True)
        else:
            image.save(buffer, "WEBP", quality=quality, method=6)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), np.float64) / 255
        points.append((8 * buffer.tell() / (pixels.shape[0] * pixels.shape[1]), image_psnr(pixels, decoded)))
    return sorted(points)


def at_rate(curve: list[tuple[float, float]], bpp: float) -> float | None:
    """The curve's PSNR at `bpp`, linear in log bpp; None outside its range."""
    rates = np.log([b for b, _ in curve])
    if not rates[0] <= np.log(bpp) <= rates[-1]:
        return None
    return float(np.interp(np.log(bpp), rates, [p for _, p in curve]))


def peer_curves(path: Path) -> dict[str, list[tuple[float, float]]]:
    """JPEG's and WebP's curves of one image (run in a worker process)."""
    from sirenkit.signals import load_image

    pixels = load_image(path).pixels
    return {"jpeg": peer_curve(pixels, "jpeg"), "webp": peer_curve(pixels, "webp")}


def encode_one(task: dict) -> dict:
    """Compress one image at one rate and measure the decoded file (run in a worker process); a
    failure is returned as {"error": ...}, so that one file does not lose the others."""
    try:
        return _encode_one(task)
    except Exception as error:  # noqa: BLE001 (reported by run, with the file it belongs to)
        return {"image": Path(task["image"]).stem, "rate": task["rate"], "error": f"{type(error).__name__}: {error}"}


def _encode_one(task: dict) -> dict:
    import torch

    torch.set_num_threads(task["threads"])
    from sirenkit.recipes.compress import COMPRESS, compress_at_rate, decompress
    from sirenkit.recipes.image import ImageKind, render_image
    from sirenkit.signals import load_image

    image = load_image(task["image"])
    settings = replace(COMPRESS, seconds=task["seconds"], batch=task["batch"])
    start = time.perf_counter()
    compressed = compress_at_rate(ImageKind(), image, task["rate"], settings, device=task["device"])
    encode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    decoded = render_image(decompress(compressed.data), device="cpu")
    decode_seconds = time.perf_counter() - start
    decoded = np.round(decoded * 255) / 255
    summary = compressed.summary()
    return {
        "image": Path(task["image"]).stem,
        "rate": task["rate"],
        "bytes": summary["bytes"],
        "bpp": compressed.bpp,
        "psnr": image_psnr(image.pixels, decoded),
        **{key: summary[key] for key in ("width", "depth", "levels", "bits_per_weight")},
        "stages": {stage: measures["psnr"] for stage, measures in compressed.stages.items()},
        "encode_seconds": encode_seconds,
        "decode_seconds": decode_seconds,
        "data": compressed.data.hex(),
    }


def _said(entry: dict) -> dict:
    """Print one line for a finished file (a run cut short still shows what it made)."""
    if "error" not in entry:
        print(
            f"  {entry['image']} at {entry['rate']:g}: {entry['bpp']:.4f} bpp, {entry['psnr']:.2f} dB, "
            f"{entry['encode_seconds']:.1f} s",
            flush=True,
        )
    return entry


def commit() -> str:
    """The git commit this checkout is at, "+changes" when src/ differs from it; "unknown" outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
        if head.returncode != 0:
            return "unknown"
        changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src"], cwd=HERE.parent).returncode
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+changes" if changed else "")


RUN_KEYS = ("machine", "device", "seconds", "batch", "jobs", "threads_per_job", "wall_seconds", "commit")
"""What a results file says about its run as a whole (the rest is per image: peers and encoded)."""


def combine(runs: list[dict]) -> dict:
    """Results files as one: {"runs": [each file's RUN_KEYS], "peers", "encoded"}, each encoded
    entry with the index of its run under "run". A later run's entry for an image and rate
    replaces an earlier run's."""
    settings, peers, encoded = [], {}, {}
    for index, results in enumerate(runs):
        settings.append({key: results.get(key) for key in RUN_KEYS})
        peers.update(results["peers"])
        for entry in results["encoded"]:
            encoded[entry["image"], entry["rate"]] = {**entry, "run": index}
    return {"runs": settings, "peers": peers, "encoded": list(encoded.values())}


def _run_numbers(entries: list[dict]) -> str:
    """The runs (numbered from 1, as the report's header prints them) that `entries` come from."""
    return ",".join(str(index + 1) for index in sorted({e["run"] for e in entries}))


def run(args: argparse.Namespace) -> dict:
    images = sorted(Path(args.images).glob("*.png"))[: args.limit]
    if not images:
        sys.exit(f"no PNG images in {args.images}")
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    tasks = [
        {
            "image": str(path),
            "rate": rate,
            "seconds": args.seconds,
            "batch": args.batch,
            "device": args.device,
            "threads": threads,
        }
        for path in images
        for rate in args.rates
    ]
    code = commit()  # before encoding: what the files are made by, whatever the checkout does meanwhile
    start = time.perf_counter()
    if args.jobs == 1:
        encoded = [_said(encode_one(task)) for task in tasks]
        curves = [peer_curves(path) for path in images]
    else:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            encoding = [pool.submit(encode_one, task) for task in tasks]
            curves = list(pool.map(peer_curves, images))
            encoded = [_said(future.result()) for future in encoding]
    failed = [e for e in encoded if "error" in e]
    for e in failed:
        print(f"FAILED {e['image']} at {e['rate']} bpp: {e['error']}")
    peers = {path.stem: curve for path, curve in zip(images, curves)}
    import torch

    device = torch.cuda.get_device_name() if args.device == "cuda" else args.device
    return {
        "machine": describe_machine(),
        "device": device,
        "seconds": args.seconds,
        "batch": args.batch,
        "jobs": args.jobs,
        "threads_per_job": threads,
        "wall_seconds": time.perf_counter() - start,
        "commit": code,
        "peers": peers,
        "encoded": [e for e in encoded if "error" not in e],
    }


def report(results: dict) -> None:
    """Print the figures of `combine`d results (the module docstring lists them)."""
    encoded, peers, runs = results["encoded"], results["peers"], results["runs"]
    images = sorted(peers)
    rates = sorted({e["rate"] for e in encoded})
    files_of = [[e for e in encoded if e["run"] == index] for index in range(len(runs))]
    for number, (settings, files) in enumerate(zip(runs, files_of), 1):
        print(f"run {number}: {settings['machine']}")
        print(
            f"  sirenkit: {settings['seconds']:g} s of training per file on {settings['device']}, batch "
            f"{settings['batch']}, {settings['jobs']} job(s) of {settings['threads_per_job']} thread(s), commit "
            f"{settings['commit'] or 'unknown'}; {len(files)} file(s) reported of {len({e['image'] for e in files})} "
            f"image(s); all its files in {settings['wall_seconds']:.0f} s"
        )
    many = len(runs) > 1
    print(
        "\nrate   | sirenkit bpp  PSNR  | JPEG   WebP at its rate | COIN at its rate | margin over COIN"
        + (" | runs" if many else "")
    )
    for rate in rates:
        rows = [e for e in encoded if e["rate"] == rate]
        bpp, quality = np.mean([e["bpp"] for e in rows]), np.mean([e["psnr"] for e in rows])
        peer = {codec: [at_rate(peers[e["image"]][codec], e["bpp"]) for e in rows] for codec in ("jpeg", "webp")}
        shown = {c: f"{np.mean(v):6.2f}" if None not in v else "     —" for c, v in peer.items()}
        coin = at_rate(COIN, bpp)
        coin_text = f"{coin:6.2f}" if coin is not None else "     —"
        margin = f"{quality - coin:+.2f} dB" if coin is not None else "—"
        print(
            f"{rate:<6g} | {bpp:.4f} {quality:6.2f} dB | {shown['jpeg']} {shown['webp']}"
            f"           | {coin_text}           | {margin}" + (f" | {_run_numbers(rows)}" if many else "")
        )
    stage_report(encoded, rates)
    print(f"\nper image, sirenkit − JPEG at JPEG's qualities of ≤ {JPEG_TARGET_BPP} bpp (least margin, at what rate):")
    worst, everywhere = [], 0
    for name in images:
        ours = sorted((e["bpp"], e["psnr"]) for e in encoded if e["image"] == name)
        target = [(b, p) for b, p in peers[name]["jpeg"] if b <= JPEG_TARGET_BPP]
        inside = [(at - p, b) for b, p in target if (at := at_rate(ours, b)) is not None]
        if inside:
            top_bpp, top_psnr = ours[-1]  # a JPEG file larger than it and of lower PSNR is beaten by it
            beaten = [(top_psnr - p, b) for b, p in target if b > top_bpp and top_psnr > p]
            margins = inside + beaten
            least = min(margins)
            worst.append(least[0])
            above_to = max((b for _, b in margins if all(m > 0 for m, c in margins if c <= b)), default=None)
            reach = f"above every JPEG point up to {above_to:.3f} bpp" if above_to else "below JPEG's lowest point"
            left = len(target) - len(margins)
            everywhere += least[0] > 0 and not left
            beyond = f", {len(beaten)} past sirenkit's largest file and beaten by it" if beaten else ""
            outside = f"; {left} JPEG point(s) outside sirenkit's files" if left else ""
            runs_text = f"; runs {_run_numbers([e for e in encoded if e['image'] == name])}" if many else ""
            print(
                f"  {name}: least {least[0]:+.2f} dB at {least[1]:.3f} bpp ({len(margins)} JPEG points from "
                f"{min(b for _, b in margins):.3f} bpp{beyond}); {reach}{outside}{runs_text}"
            )
            continue
        jpeg_at_ours = [  # one rate, or too few: JPEG interpolated at sirenkit's own files instead
            (b, p, jpeg)
            for b, p in ours
            if b <= JPEG_TARGET_BPP and (jpeg := at_rate(peers[name]["jpeg"], b)) is not None
        ]
        if jpeg_at_ours:
            worst.append(min(p - jpeg for _, p, jpeg in jpeg_at_ours))
            print(
                f"  {name}: no JPEG point within sirenkit's rates; at sirenkit's own files "
                + ", ".join(
                    f"{b:.4f} bpp {p:.2f} dB, JPEG {jpeg:.2f} dB ({p - jpeg:+.2f} dB)" for b, p, jpeg in jpeg_at_ours
                )
            )
        else:
            print(f"  {name}: no JPEG point of ≤ {JPEG_TARGET_BPP} bpp within sirenkit's rates, nor JPEG at its files")
    if worst:
        print(
            f"  above JPEG on {sum(m > 0 for m in worst)} of {len(worst)} images; at every JPEG point of "
            f"≤ {JPEG_TARGET_BPP} bpp on {everywhere}"
        )
    print()
    for number, (settings, files) in enumerate(zip(runs, files_of), 1):
        if files:
            encode = [e["encode_seconds"] for e in files]
            decode = [e["decode_seconds"] for e in files]
            print(
                f"{f'run {number}: ' if many else ''}encode: {np.mean(encode):.1f} s per file on average "
                f"({settings['seconds']:g} s of it training); decode on the CPU ({settings['threads_per_job']} "
                f"thread(s)): mean {np.mean(decode):.3f} s, max {np.max(decode):.3f} s per 768×512 image"
            )


def stage_report(encoded: list[dict], rates: list[float]) -> None:
    """Per rate, the mean PSNR (before rounding to 8 bits) after each stage of the codec, and how
    often the fine-tuned rounding was the one kept: where the decibels go. Results written before
    the codec reported its stages are skipped."""
    staged = [e for e in encoded if "stages" in e]
    if not staged:
        return
    print("\nrate   | PSNR after the float fit, its rounding, the fine-tuned rounding | fine-tuned kept")
    for rate in rates:
        rows = [e for e in staged if e["rate"] == rate]
        tuned = [e for e in rows if "fine-tuned" in e["stages"]]  # none when the budget had no room after it
        means = {stage: np.mean([e["stages"][stage] for e in rows]) for stage in ("fit", "rounded")}
        tuned_mean = f"{np.mean([e['stages']['fine-tuned'] for e in tuned]):6.2f}" if tuned else "     —"
        kept = sum(e["stages"]["fine-tuned"] > e["stages"]["rounded"] for e in tuned)
        print(f"{rate:<6g} | {means['fit']:6.2f} {means['rounded']:6.2f} {tuned_mean} dB{'':34}| {kept} of {len(rows)}")


def time_decoding(results: dict) -> None:
    """Decode every file of `results` here, on the CPU, and print the mean and largest time per rate."""
    from sirenkit.recipes.compress import decompress
    from sirenkit.recipes.image import render_image

    seconds: dict[float, list[float]] = {}
    for entry in results["encoded"]:
        start = time.perf_counter()
        render_image(decompress(bytes.fromhex(entry["data"])), device="cpu")
        seconds.setdefault(entry["rate"], []).append(time.perf_counter() - start)
    print(f"\ndecode here ({describe_machine()}), seconds per 768×512 image:")
    for rate, times in sorted(seconds.items()):
        print(f"  {rate:g} bpp: mean {np.mean(times):.3f}, largest {np.max(times):.3f} ({len(times)} files)")


def compare_coders(results: dict) -> None:
    """Each file's body (header, scales, integers) coded by brotli (the format's), zstd, xz and
    zlib, against the body's order-0 entropy: total bytes over every file."""
    import lzma
    import zlib

    import brotli

    from sirenkit.compression.container import BROTLI_QUALITY, BROTLI_WINDOW, PREFIX

    try:
        import zstandard
    except ImportError:
        zstandard = None
        print("\nzstandard is not installed (bash install.sh bench): zstd is left out")
    coders = {
        "brotli 11 (the format's)": lambda b: brotli.compress(b, quality=BROTLI_QUALITY, lgwin=BROTLI_WINDOW),
        "xz 9e": lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME),
        "zlib 9": lambda b: zlib.compress(b, 9),
    }
    if zstandard is not None:
        coders["zstd 22"] = lambda b: zstandard.ZstdCompressor(level=22).compress(b)
    bodies = [brotli.decompress(bytes.fromhex(e["data"])[PREFIX:]) for e in results["encoded"]]
    raw = sum(len(b) for b in bodies)
    entropy = sum(_order0_bytes(b) for b in bodies)
    print(f"\nentropy coders on the {len(bodies)} files' bodies ({raw} bytes uncoded, order-0 entropy {entropy:.0f}):")
    for name, code in coders.items():
        total = sum(len(code(b)) for b in bodies)
        print(f"  {name:<26} {total:>9} bytes  {total / entropy:6.3f} × the order-0 entropy")


def _order0_bytes(body: bytes) -> float:
    """The order-0 (byte-frequency) entropy of `body`, in bytes."""
    counts = np.bincount(np.frombuffer(body, np.uint8), minlength=256)
    p = counts[counts > 0] / len(body)
    return float(-(counts[counts > 0] * np.log2(p)).sum() / 8)


def plot(results: dict, path: Path) -> None:
    """The average RD curves: sirenkit's points, JPEG and WebP averaged on a grid of rates, COIN."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    encoded, peers = results["encoded"], results["peers"]
    grid = np.exp(np.linspace(np.log(0.05), np.log(1.3), 40))
    figure, axes = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for codec, style in (("jpeg", "C1"), ("webp", "C2")):
        curves = [[at_rate(peers[name][codec], b) for b in grid] for name in peers]
        mean = [np.mean(v) if None not in v else np.nan for v in zip(*curves)]
        axes.plot(grid, mean, color=style, label=f"{codec.upper()} (Pillow)")
    axes.plot(*zip(*COIN), "k--o", markersize=4, label="COIN (published)")
    rates = sorted({e["rate"] for e in encoded})
    ours = [
        (
            np.mean([e["bpp"] for e in encoded if e["rate"] == r]),
            np.mean([e["psnr"] for e in encoded if e["rate"] == r]),
        )
        for r in rates
    ]
    budgets = ", ".join(sorted({f"{run['seconds']:g} s on {run['device']}" for run in results["runs"]}))
    axes.plot(*zip(*ours), "C0-o", label=f"sirenkit ({budgets} per image)")
    axes.set_xscale("log")
    axes.set_xlabel("bits per pixel (whole file)")
    axes.set_ylabel("PSNR (dB), RGB")
    axes.set_title(f"Kodak, mean of {len(peers)} images")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.savefig(path, dpi=120)
    print(f"wrote {path}")


def crop(results: dict, images: Path, path: Path, rate: float = 0.3, size: int = 256) -> None:
    """The original, sirenkit's file at `rate` and JPEG's largest file no bigger, side by side:
    a `size`×`size` crop from the middle of the image where sirenkit's margin over JPEG is median."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from sirenkit.recipes.compress import decompress
    from sirenkit.recipes.image import render_image
    from sirenkit.signals import load_image

    rows = sorted((e for e in results["encoded"] if e["rate"] == rate), key=lambda e: e["psnr"])
    if not rows:
        print(f"no file at {rate} bpp: no crop")
        return
    entry = rows[len(rows) // 2]
    pixels = load_image(images / f"{entry['image']}.png").pixels
    ours = np.round(render_image(decompress(bytes.fromhex(entry["data"]))) * 255).astype(np.uint8)
    original = Image.fromarray(np.round(pixels * 255).astype(np.uint8))
    jpeg, jpeg_bytes = None, 0
    for quality in JPEG_QUALITIES:
        buffer = io.BytesIO()
        original.save(buffer, "JPEG", quality=quality, optimize=True)
        if buffer.tell() > entry["bytes"]:
            break
        jpeg, jpeg_bytes = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")), buffer.tell()
    h, w = pixels.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    panels = [("original", np.round(pixels * 255).astype(np.uint8))]
    panels.append((f"sirenkit: {entry['bytes']} bytes, {entry['psnr']:.2f} dB", ours))
    if jpeg is not None:
        panels.append((f"JPEG: {jpeg_bytes} bytes, {image_psnr(pixels, jpeg / 255):.2f} dB", jpeg))
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.4), constrained_layout=True)
    for axis, (title, picture) in zip(axes, panels):
        axis.imshow(picture[top : top + size, left : left + size], interpolation="nearest")
        axis.set_title(title, fontsize=10)
        axis.axis("off")
    figure.suptitle(f"{entry['image']}, {size}×{size} crop at {entry['bpp']:.3f} bpp (PSNR over the whole image)")
    figure.savefig(path, dpi=100)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=KODAK, help="folder of PNG images (default: ../shared Kodak)")
    parser.add_argument("--limit", type=int, help="the first this many images only")
    parser.add_argument("--rates", type=lambda t: [float(r) for r in t.split(",")], default=RATES)
    parser.add_argument("--seconds", type=float, help="training seconds per file (default: sirenkit compress's)")
    parser.add_argument("--batch", type=int, help="pixels per step (default: sirenkit compress's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1, help="files encoded at once, each in its own process")
    parser.add_argument("--results", type=Path, help="write every figure and file to this JSON")
    parser.add_argument(
        "--replot", type=Path, nargs="+", help="read --results JSONs (oldest first) instead of encoding"
    )
    parser.add_argument("--plot", type=Path, help="write the RD plot here (PNG)")
    parser.add_argument("--crop", type=Path, help="write the 0.3 bpp crop beside JPEG here (PNG)")
    parser.add_argument("--time-decode", action="store_true", help="decode every file again here and time it")
    parser.add_argument("--coders", action="store_true", help="compare entropy coders on the files' bodies")
    args = parser.parse_args()
    from sirenkit.recipes.compress import COMPRESS

    args.seconds = args.seconds or COMPRESS.seconds
    args.batch = args.batch or COMPRESS.batch
    if args.replot:
        results = combine([json.loads(path.read_text()) for path in args.replot])
    else:
        ran = run(args)
        if args.results:
            args.results.write_text(json.dumps(ran))
        results = combine([ran])
    report(results)
    if args.time_decode:
        time_decoding(results)
    if args.coders:
        compare_coders(results)
    if args.plot:
        plot(results, args.plot)
    if args.crop:
        crop(results, args.images, args.crop)


if __name__ == "__main__":
    main()
