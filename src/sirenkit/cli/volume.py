"""`sirenkit fit volume`, and `sirenkit render` for volume checkpoints."""

from __future__ import annotations

import argparse

from sirenkit.cli.common import prepare_outputs, resolve_device
from sirenkit.cli.kinds import KindCommand, Tiling
from sirenkit.errors import InputError
from sirenkit.recipes.volume import VOLUME_BATCH, VOLUME_FIT, VolumeKind
from sirenkit.store import Representation

VOLUME_FORMATS = {".npy": "NPY", ".png": "PNG"}
"""What `render` writes of a volume: the whole grid (.npy, source units) or its middle slices (.png)."""


def load(args: argparse.Namespace):
    from sirenkit.signals.volume import load_volume

    return load_volume(args.path)


def parse_volume_size(text: str) -> tuple[int, int, int]:
    """'WxHxD' → (depth, height, width)."""
    try:
        width, height, depth = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InputError(
            f"--size of a volume must look like 256x256x128 (width x height x depth), got {text!r}"
        ) from None
    return depth, height, width


def render_volume_file(args: argparse.Namespace, representation: Representation) -> None:
    """`sirenkit render` of a volume checkpoint: the grid at --size WxHxD as .npy (source units), or its
    middle slices as .png."""
    from sirenkit.outputs.files import output_format, write_npy
    from sirenkit.recipes.volume import render_request, render_size, render_volume, write_slices
    from sirenkit.resources import require

    depth, height, width = render_size(representation, parse_volume_size(args.size) if args.size else None)
    out = args.out or args.checkpoint.parent / f"render_{width}x{height}x{depth}.npy"
    format_ = output_format(out, VOLUME_FORMATS, "volume")
    require(render_request((depth, height, width), representation.config.out_dim))
    prepare_outputs([out], [args.checkpoint])
    values = render_volume(representation, (depth, height, width), device=resolve_device(args.device))
    if format_ == "NPY":
        write_npy(out, values)
    else:
        write_slices(out, values, representation.signal["low"], representation.signal["high"])
    print(f"wrote {out} ({width}x{height}x{depth}{', middle slices' if format_ == 'PNG' else ''})")


COMMAND = KindCommand(
    name="volume",
    help="fit a 3-D grid of values (.npy, multi-page .tif)",
    path_help="the volume: .npy (D, H, W) or (D, H, W, C), or a multi-page TIFF",
    files="model.safetensors, reconstruction.npy, slices.png, curve.png, metrics.jsonl, summary.json",
    fit=VOLUME_FIT,
    batch=VOLUME_BATCH,
    batch_help="random voxels per step, 0 for all",
    load=load,
    kind=lambda args: VolumeKind(),
    render=render_volume_file,
    render_formats=VOLUME_FORMATS,
    tiling=Tiling(shape=lambda volume: volume.shape, crop=lambda volume, start, size: volume.crop(start, size)),
)
