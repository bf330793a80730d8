"""`sirenkit fit audio`, and `sirenkit render` for audio checkpoints."""

from __future__ import annotations

import argparse
from pathlib import Path

from sirenkit.cli.common import add_run_options, fit_defaults, prepare_outputs, resolve_device, run_fit
from sirenkit.configargs import add_config_options, config_from_args
from sirenkit.fields import FIELD_BUILDERS, FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs.metrics import format_metric
from sirenkit.recipes.audio import AUDIO_BATCH, AUDIO_FIT
from sirenkit.store import Representation


def register(fit_kinds: argparse._SubParsersAction, commands: argparse._SubParsersAction) -> None:
    audio = fit_kinds.add_parser("audio", help="fit a sound clip (WAV, FLAC, OGG; any channels and rate)")
    audio.add_argument("path", type=Path, help="the audio file")
    add_run_options(
        audio,
        "folder for model.safetensors, reconstruction.wav, audio.png, curve.png, summary.json",
        batch=AUDIO_BATCH,
        batch_help="random samples per step",
    )
    audio.add_argument("--start", type=float, default=0.0, help="fit from this many seconds in (default: 0)")
    audio.add_argument("--seconds", type=float, default=None, help="fit this many seconds (default: to the end)")
    audio.add_argument(
        "--omega0",
        dest="first_omega0",
        type=float,
        default=None,
        help="first-layer ω0 (default: 858 rad/s × seconds per unit of time, i.e. 3000 for a 7 s clip)",
    )
    add_config_options(
        audio, FieldConfig, skip=("in_dim", "out_dim", "omega0"), choices={"model": list(FIELD_BUILDERS)}
    )
    add_config_options(audio, FitConfig, defaults=fit_defaults(AUDIO_FIT))
    audio.set_defaults(run=run_fit_audio)


def run_fit_audio(args: argparse.Namespace) -> None:
    from sirenkit.recipes.audio import fit_audio
    from sirenkit.signals import load_audio

    field_config = config_from_args(FieldConfig, args, in_dim=1, out_dim=1)
    fit_config = config_from_args(FitConfig, args)
    audio = load_audio(args.path).excerpt(args.start, args.seconds)
    outcome = run_fit(
        args,
        {"path": args.path},
        lambda settings: fit_audio(
            audio, field_config, fit_config, omega0=args.first_omega0, batch=args.batch, **settings
        ),
    )
    s = outcome.summary()
    print(
        f"{s['model']}: MSE {s['mse']:.3g}, SNR {format_metric(s['snr_db'], '.2f', ' dB')} after {s['steps']} steps in {s['seconds']:.1f} s -> {args.out}"
    )


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
