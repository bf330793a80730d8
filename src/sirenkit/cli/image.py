"""`sirenkit fit image` and `sirenkit render`."""

from __future__ import annotations

import argparse
from pathlib import Path

from sirenkit.cli.common import (
    add_device_option,
    add_run_options,
    fit_defaults,
    parse_size,
    prepare_outputs,
    resolve_device,
    run_fit,
)
from sirenkit.configargs import add_config_options, config_from_args
from sirenkit.fields import FIELD_BUILDERS, FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs.metrics import format_metric
from sirenkit.recipes.image import IMAGE_BATCH, IMAGE_FIT
from sirenkit.store import Representation


def register(fit_kinds: argparse._SubParsersAction, commands: argparse._SubParsersAction) -> None:
    image = fit_kinds.add_parser("image", help="fit an image (PNG, JPEG, ...; gray, RGB, RGBA, 16-bit)")
    image.add_argument("path", type=Path, help="the image file")
    add_run_options(
        image,
        "folder for model.safetensors, reconstruction.png, curve.png, metrics.jsonl, summary.json",
        batch=IMAGE_BATCH,
        batch_help="random pixels per step, 0 for all",
    )
    add_config_options(image, FieldConfig, skip=("in_dim", "out_dim"), choices={"model": list(FIELD_BUILDERS)})
    add_config_options(image, FitConfig, defaults=fit_defaults(IMAGE_FIT))
    image.set_defaults(run=run_fit_image)

    render = commands.add_parser(
        "render", help="render a fitted image, sound, video or volume at any size, rate or frame count"
    )
    render.add_argument("checkpoint", type=Path, help="a model.safetensors written by `sirenkit fit`")
    render.add_argument(
        "--size", help="image or video frame size WxH, e.g. 2048x2048, or volume size WxHxD (default: the source size)"
    )
    render.add_argument("--rate", type=int, help="audio: sample rate in Hz (default: the source rate)")
    render.add_argument("--frames", type=int, help="video: frame count over the clip's span (default: the source's)")
    render.add_argument("--fps", type=float, help="video: frame rate (default: keeps the clip's duration)")
    render.add_argument(
        "--out",
        type=Path,
        help="output file: .png, .jpg, .jpeg or .webp for an image, .wav or .flac for audio, .mp4 for video, "
        ".npy (the grid) or .png (middle slices) for a volume "
        "(default: render_WxH.png, render_RATEHz.wav, render_WxHxT.mp4 or render_WxHxD.npy beside the checkpoint)",
    )
    add_device_option(render)
    render.set_defaults(run=run_render)


def run_fit_image(args: argparse.Namespace) -> None:
    from sirenkit.recipes.image import fit_image
    from sirenkit.signals import load_image

    field_config = config_from_args(FieldConfig, args, in_dim=2, out_dim=1)
    fit_config = config_from_args(FitConfig, args)
    image = load_image(args.path)
    outcome = run_fit(
        args,
        {"path": args.path},
        lambda settings: fit_image(
            image, field_config, fit_config, batch=args.batch or None, source=args.path, **settings
        ),
    )
    s = outcome.summary()
    print(
        f"{s['model']}: PSNR {format_metric(s['psnr_db'], '.2f', ' dB')}, SSIM {format_metric(s['ssim'], '.4f')} after {s['steps']} steps in {s['seconds']:.1f} s -> {args.out}"
    )


def run_render(args: argparse.Namespace) -> None:
    """Render a checkpoint of any kind with its kind's renderer (`RENDERERS`)."""
    from sirenkit.cli.audio import render_audio_file
    from sirenkit.cli.video import render_video_file
    from sirenkit.cli.volume import VOLUME_FORMATS, render_volume_file
    from sirenkit.outputs.audio import AUDIO_FORMATS
    from sirenkit.outputs.files import IMAGE_FORMATS, output_format
    from sirenkit.outputs.video import VIDEO_FORMATS
    from sirenkit.recipes.kind import kind_name
    from sirenkit.store import load_representation

    renderers = {
        "image": render_image_file,
        "audio": render_audio_file,
        "video": render_video_file,
        "volume": render_volume_file,
    }
    if args.out is not None:  # an unknown format is refused before the checkpoint is read
        output_format(args.out, {**IMAGE_FORMATS, **AUDIO_FORMATS, **VIDEO_FORMATS, **VOLUME_FORMATS}, "render")
    representation = load_representation(args.checkpoint)
    renderers[kind_name(representation, *renderers)](args, representation)


def render_image_file(args: argparse.Namespace, representation: Representation) -> None:
    """`sirenkit render` of an image checkpoint: PNG, JPEG or WebP (by --out's suffix) of --size.

    The format and the memory are checked before rendering; what the format changes (bit depth,
    alpha) is said in the printed line.
    """
    from sirenkit.outputs.files import IMAGE_FORMATS, output_format, write_image
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
