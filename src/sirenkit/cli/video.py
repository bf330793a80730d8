"""`sirenkit fit video`, and `sirenkit render` for video checkpoints."""

from __future__ import annotations

import argparse

from sirenkit.cli.common import parse_size, prepare_outputs, resolve_device
from sirenkit.cli.kinds import KindCommand, Tiling
from sirenkit.outputs.video import VIDEO_FORMATS
from sirenkit.recipes.video import VIDEO_BATCH, VIDEO_FIT, VideoKind
from sirenkit.signals.video import DEFAULT_TIME_EXTENT
from sirenkit.store import Representation


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=None, help="fit at most this many frames (default: all)")
    parser.add_argument("--frame-step", type=int, default=1, help="keep every k-th frame (default: 1)")
    parser.add_argument(
        "--downscale", type=int, default=1, help="box-average frames by this integer factor (default: 1)"
    )
    parser.add_argument(
        "--time-extent",
        type=float,
        default=DEFAULT_TIME_EXTENT,
        help="the clip spans [-t, t] on the time axis (default: 1, as the official code)",
    )


def load(args: argparse.Namespace):
    from sirenkit.signals import load_video

    return load_video(args.path, max_frames=args.frames, frame_step=args.frame_step, downscale=args.downscale)


def render_video_file(args: argparse.Namespace, representation: Representation) -> None:
    """`sirenkit render` of a video checkpoint: an MP4 of --frames frames of --size at --fps; the
    format and the memory of one frame are checked before rendering."""
    from sirenkit.outputs.files import output_format
    from sirenkit.outputs.video import to_uint8, write_mp4
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


COMMAND = KindCommand(
    name="video",
    help="fit a video (MP4 or any container PyAV reads)",
    path_help="the video file",
    files="model.safetensors, reconstruction.mp4, curve.png, summary.json",
    fit=VIDEO_FIT,
    batch=VIDEO_BATCH,
    batch_help="random voxels per step, 0 for all",
    load=load,
    kind=lambda args: VideoKind(args.time_extent),
    options=add_options,
    render=render_video_file,
    render_formats=VIDEO_FORMATS,
    tiling=Tiling(shape=lambda video: video.shape, crop=lambda video, start, size: video.crop(start, size)),
)
