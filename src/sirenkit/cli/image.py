"""`sirenkit fit image`, and `sirenkit render` for image checkpoints."""

from __future__ import annotations

import argparse

from sirenkit.cli.common import parse_size, prepare_outputs, resolve_device
from sirenkit.cli.kinds import KindCommand, Tiling
from sirenkit.outputs.files import IMAGE_FORMATS
from sirenkit.recipes.image import IMAGE_BATCH, IMAGE_FIT, ImageKind
from sirenkit.store import Representation


def load(args: argparse.Namespace):
    from sirenkit.signals import load_image

    return load_image(args.path)


def render_image_file(args: argparse.Namespace, representation: Representation) -> None:
    """`sirenkit render` of an image checkpoint: PNG, JPEG or WebP (by --out's suffix) of --size.

    The format and the memory are checked before rendering; what the format changes (bit depth,
    alpha) is said in the printed line.
    """
    from sirenkit.outputs.files import output_format, write_image
    from sirenkit.recipes.image import render_image, render_size
    from sirenkit.resources import image_render_request, require

    height, width = render_size(representation, parse_size(args.size) if args.size else None)
    out = args.out or args.checkpoint.parent / f"render_{width}x{height}.png"
    output_format(out, IMAGE_FORMATS, "image")
    require(image_render_request(height, width, representation.config.out_dim))
    prepare_outputs([out], [args.checkpoint])
    pixels = render_image(representation, (height, width), device=resolve_device(args.device))
    notes = write_image(out, pixels, 16 if representation.signal.get("bit_depth") == 16 else 8)
    print(f"wrote {out} ({width}x{height}{''.join(f'; {note}' for note in notes)})")


COMMAND = KindCommand(
    name="image",
    help="fit an image (PNG, JPEG, ...; gray, RGB, RGBA, 16-bit)",
    path_help="the image file",
    files="model.safetensors, reconstruction.png, curve.png, metrics.jsonl, summary.json",
    fit=IMAGE_FIT,
    batch=IMAGE_BATCH,
    batch_help="random pixels per step, 0 for all",
    load=load,
    kind=lambda args: ImageKind(args.path),
    render=render_image_file,
    render_formats=IMAGE_FORMATS,
    tiling=Tiling(
        shape=lambda image: image.shape,
        crop=lambda image, start, size: image.crop(start[0], start[1], size[0], size[1]),
    ),
)
