"""`sirenkit fit video`, and `sirenkit render` for video checkpoints."""

from __future__ import annotations

import argparse
from pathlib import Path

from sirenkit.cli.common import add_run_options, fit_defaults, parse_size, prepare_outputs, resolve_device, run_fit
from sirenkit.configargs import add_config_options, config_from_args
from sirenkit.fields import FIELD_BUILDERS, FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs.metrics import format_metric
from sirenkit.recipes.video import VIDEO_BATCH, VIDEO_FIT
from sirenkit.signals.video import DEFAULT_TIME_EXTENT
from sirenkit.store import Representation


def register(fit_kinds: argparse._SubParsersAction, commands: argparse._SubParsersAction) -> None:
    video = fit_kinds.add_parser("video", help="fit a video (MP4 or any container PyAV reads)")
    video.add_argument("path", type=Path, help="the video file")
    add_run_options(
        video,
        "folder for model.safetensors, reconstruction.mp4, curve.png, summary.json",
        batch=VIDEO_BATCH,
        batch_help="random voxels per step",
    )
    video.add_argument("--frames", type=int, default=None, help="fit at most this many frames (default: all)")
    video.add_argument("--frame-step", type=int, default=1, help="keep every k-th frame (default: 1)")
    video.add_argument(
        "--downscale", type=int, default=1, help="box-average frames by this integer factor (default: 1)"
    )
    video.add_argument(
        "--time-extent",
        type=float,
        default=DEFAULT_TIME_EXTENT,
        help="the clip spans [-t, t] on the time axis (default: 1, as the official code)",
    )
    add_config_options(video, FieldConfig, skip=("in_dim", "out_dim"), choices={"model": list(FIELD_BUILDERS)})
    add_config_options(video, FitConfig, defaults=fit_defaults(VIDEO_FIT))
    video.set_defaults(run=run_fit_video)


def run_fit_video(args: argparse.Namespace) -> None:
    from sirenkit.recipes.video import fit_video
    from sirenkit.signals import load_video

    field_config = config_from_args(FieldConfig, args, in_dim=3, out_dim=1)
    fit_config = config_from_args(FitConfig, args)
    video = load_video(args.path, max_frames=args.frames, frame_step=args.frame_step, downscale=args.downscale)
    outcome = run_fit(
        args,
        {"path": args.path},
        lambda settings: fit_video(
            video, field_config, fit_config, batch=args.batch, time_extent=args.time_extent, **settings
        ),
    )
    s = outcome.summary()
    frames, height, width = video.shape
    print(
        f"{s['model']}: mean PSNR {format_metric(s['mean_psnr_db'], '.2f', ' dB')} over {frames} frames of {width}x{height} "
        f"after {s['steps']} steps in {s['seconds']:.1f} s -> {args.out}"
    )


def render_video_file(args: argparse.Namespace, representation: Representation) -> None:
    """`sirenkit render` of a video checkpoint: an MP4 of --frames frames of --size at --fps; the
    format and the memory of one frame are checked before rendering."""
    from sirenkit.outputs.files import output_format
    from sirenkit.outputs.video import VIDEO_FORMATS, to_uint8, write_mp4
    from sirenkit.recipes.video import render_plan, render_video
    from sirenkit.resources import frame_render_request, require

    size = parse_size(args.size) if args.size else None
    plan = render_plan(representation, args.frames, size, args.fps)
    height, width = plan.size
    out = args.out or args.checkpoint.parent / f"render_{width}x{height}x{plan.frames}.mp4"
    output_format(out, VIDEO_FORMATS, "video")
    require(frame_render_request(height, width, representation.config.out_dim))
    prepare_outputs([out], [args.checkpoint])
    frames = (to_uint8(f) for f in render_video(representation, plan, device=resolve_device(args.device)))
    count = write_mp4(out, frames, plan.fps)
    print(f"wrote {out} ({count} frames of {width}x{height} at {plan.fps:g} fps)")
