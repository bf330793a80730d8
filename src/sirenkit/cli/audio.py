"""`sirenkit fit audio`, and `sirenkit render` for audio checkpoints."""

from __future__ import annotations

import argparse

from sirenkit.cli.common import prepare_outputs, resolve_device
from sirenkit.cli.kinds import KindCommand, Tiling
from sirenkit.outputs.audio import AUDIO_FORMATS
from sirenkit.recipes.audio import AUDIO_BATCH, AUDIO_FIT, AudioKind
from sirenkit.store import Representation


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=float, default=0.0, help="fit from this many seconds in (default: 0)")
    parser.add_argument("--seconds", type=float, default=None, help="fit this many seconds (default: to the end)")
    parser.add_argument(
        "--omega0",
        dest="first_omega0",
        type=float,
        default=None,
        help="first-layer ω0 (default: 3000 up to 7 s of sound, 858 rad/s × seconds per unit of time past it, at most a fifth of the Nyquist rate)",
    )


def load(args: argparse.Namespace):
    from sirenkit.signals import load_audio

    return load_audio(args.path).excerpt(args.start, args.seconds)


def render_audio_file(args: argparse.Namespace, representation: Representation) -> None:
    """`sirenkit render` of an audio checkpoint: 16-bit WAV or FLAC (by --out's suffix) at --rate
    (default: the source rate); the format and the memory are checked before rendering."""
    from sirenkit.outputs.audio import audio_format, write_audio
    from sirenkit.recipes.audio import render_audio, render_length
    from sirenkit.resources import audio_render_request, require

    frames, rate = render_length(representation, args.rate)
    channels = representation.config.out_dim
    out = args.out or args.checkpoint.parent / f"render_{rate}Hz.wav"
    audio_format(out, rate, channels)
    require(audio_render_request(frames, channels))
    prepare_outputs([out], [args.checkpoint])
    samples, rate = render_audio(representation, rate, device=resolve_device(args.device))
    write_audio(out, samples, rate)
    print(f"wrote {out} ({samples.shape[0]} samples at {rate} Hz, {samples.shape[1]} channel(s))")


COMMAND = KindCommand(
    name="audio",
    help="fit a sound clip (WAV, FLAC, OGG; any channels and rate)",
    path_help="the audio file",
    files="model.safetensors, reconstruction.wav, audio.png, curve.png, summary.json",
    fit=AUDIO_FIT,
    batch=AUDIO_BATCH,
    batch_help="random samples per step, 0 for all",
    load=load,
    kind=lambda args: AudioKind(args.first_omega0),
    options=add_options,
    field_skip=("in_dim", "out_dim", "omega0"),
    render=render_audio_file,
    render_formats=AUDIO_FORMATS,
    tiling=Tiling(
        shape=lambda audio: (audio.frames,),
        crop=lambda audio, start, size: audio.crop(start[0], size[0]),
    ),
)
