"""`sirenkit fit volume`, and `sirenkit render` for volume checkpoints."""

from __future__ import annotations

import argparse
from pathlib import Path

from sirenkit.cli.common import add_run_options, fit_defaults, prepare_outputs, resolve_device, run_fit
from sirenkit.configargs import add_config_options, config_from_args
from sirenkit.errors import InputError
from sirenkit.fields import FIELD_BUILDERS, FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs.metrics import format_metric
from sirenkit.recipes.volume import VOLUME_BATCH, VOLUME_FIT
from sirenkit.store import Representation

VOLUME_FORMATS = {".npy": "NPY", ".png": "PNG"}
"""What `render` writes of a volume: the whole grid (.npy, source units) or its middle slices (.png)."""


def register(fit_kinds: argparse._SubParsersAction, commands: argparse._SubParsersAction) -> None:
    volume = fit_kinds.add_parser("volume", help="fit a 3-D grid of values (.npy, multi-page .tif)")
    volume.add_argument("path", type=Path, help="the volume: .npy (D, H, W) or (D, H, W, C), or a multi-page TIFF")
    add_run_options(
        volume,
        "folder for model.safetensors, reconstruction.npy, slices.png, curve.png, metrics.jsonl, summary.json",
        batch=VOLUME_BATCH,
        batch_help="random voxels per step, 0 for all",
    )
    add_config_options(volume, FieldConfig, skip=("in_dim", "out_dim"), choices={"model": list(FIELD_BUILDERS)})
    add_config_options(volume, FitConfig, defaults=fit_defaults(VOLUME_FIT))
    volume.set_defaults(run=run_fit_volume)


def run_fit_volume(args: argparse.Namespace) -> None:
    from sirenkit.recipes.volume import fit_volume
    from sirenkit.signals.volume import load_volume

    field_config = config_from_args(FieldConfig, args, in_dim=3, out_dim=1)
    fit_config = config_from_args(FitConfig, args)
    volume = load_volume(args.path)
    outcome = run_fit(
        args,
        {"path": args.path},
        lambda settings: fit_volume(volume, field_config, fit_config, batch=args.batch or None, **settings),
    )
    s = outcome.summary()
    depth, height, width = volume.shape
    print(
        f"{s['model']}: PSNR {format_metric(s['psnr_db'], '.2f', ' dB')} over {width}x{height}x{depth} voxels "
        f"after {s['steps']} steps in {s['seconds']:.1f} s -> {args.out}"
    )


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
