"""`sirenkit compress SIGNAL --out FILE` and `sirenkit decompress FILE --out OUT`.

A compressed file (`compression.container`) holds a quantized representation of any registered
kind; the kinds the codec takes today are those in `COMPRESSIBLE`, and `decompress` renders a
file with its kind's renderer (the one `sirenkit render` uses).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sirenkit.cli import image
from sirenkit.cli.common import RunStopped, add_device_option, prepare_outputs, resolve_device
from sirenkit.cli.kinds import KindCommand
from sirenkit.configargs import add_config_options, config_from_args
from sirenkit.errors import InputError, readable_file
from sirenkit.fit import FitInterrupted

COMPRESSIBLE: dict[str, KindCommand] = {"image": image.COMMAND}
"""The kinds `sirenkit compress` takes, by name, with the command that loads and renders them."""


def register(commands: argparse._SubParsersAction) -> None:
    from sirenkit.recipes.compress import CompressConfig

    compress = commands.add_parser(
        "compress",
        help="store an image as a small file: a quantized, entropy-coded SIREN (by bits per pixel or PSNR)",
    )
    compress.add_argument("path", type=Path, help="the image file")
    compress.add_argument("--out", type=Path, required=True, help="the compressed file to write")
    target = compress.add_mutually_exclusive_group(required=True)
    target.add_argument("--bpp", type=float, help="bits per pixel of the whole file, at most")
    target.add_argument("--psnr", type=float, help="the smallest file found that reaches this PSNR in dB")
    add_config_options(compress, CompressConfig)
    compress.add_argument("--seed", type=int, default=0, help="seed of the initialization and sampling (default: 0)")
    compress.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    compress.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_option(compress)
    compress.set_defaults(run=run_compress)

    decompress = commands.add_parser("decompress", help="decode a file written by `sirenkit compress`")
    decompress.add_argument("file", type=Path, help="a file written by `sirenkit compress`")
    decompress.add_argument(
        "--out", type=Path, required=True, help="the file to write; an image: .png, .jpg, .jpeg or .webp"
    )
    decompress.add_argument("--size", help="WxH, e.g. 1536x1024 (default: the source's size)")
    decompress.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_device_option(decompress)
    decompress.set_defaults(run=run_decompress)


def command_for(path: Path) -> KindCommand:
    """The compressible kind whose file suffixes `path` has (a suffix no kind claims is left to
    the image reader); InputError for a signal of a kind the codec does not take yet."""
    from sirenkit.signals.collection import KIND_SUFFIXES

    suffix = path.suffix.lower()
    for name, command in COMPRESSIBLE.items():
        if suffix in KIND_SUFFIXES[name]:
            return command
    claimed = [name for name, suffixes in KIND_SUFFIXES.items() if suffix in suffixes]
    if claimed:
        takes = ", ".join(COMPRESSIBLE)
        raise InputError(f"{path} is {claimed[0]}; sirenkit compress takes {takes} signals today")
    return COMPRESSIBLE["image"]


def refuse_existing(out: Path, overwrite: bool) -> None:
    """InputError when `out` exists and --overwrite was not given."""
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; sirenkit does not replace it without --overwrite")


def run_compress(args: argparse.Namespace) -> None:
    from sirenkit.recipes.compress import CompressConfig, compress_at_rate, search_rate
    from sirenkit.store import atomic_write

    settings = config_from_args(CompressConfig, args)
    command = command_for(readable_file(args.path))
    refuse_existing(args.out, args.overwrite)
    prepare_outputs([args.out], [args.path])
    signal, kind = command.load(args), command.kind(args)
    options = {"device": resolve_device(args.device), "quiet": args.quiet, "seed": args.seed}
    try:
        if args.bpp is not None:
            compressed = compress_at_rate(kind, signal, args.bpp, settings, **options)
        else:
            compressed = search_rate(kind, signal, args.psnr, settings, **options)
    except FitInterrupted as stop:  # a compression keeps no checkpoint: the fit stopped and saved nothing
        raise RunStopped(
            stop.exit_code, f"interrupted at training step {stop.step}; {args.out} was not written"
        ) from None
    atomic_write(args.out, lambda tmp: tmp.write_bytes(compressed.data))
    summary = compressed.summary()
    stages = ", ".join(f"{stage} {measures['psnr']:.2f}" for stage, measures in summary["stages"].items())
    print(
        f"wrote {args.out}: {summary['bytes']} bytes, {summary['bpp']:.4f} bpp, PSNR {summary['psnr']:.2f} dB "
        f"(SIREN {summary['width']}x{summary['depth']}, {summary['bits_per_weight']:.2f} bits per weight; "
        f"PSNR after each stage: {stages} dB)"
    )


def run_decompress(args: argparse.Namespace) -> None:
    from sirenkit.outputs.files import output_format
    from sirenkit.recipes.compress import decompress
    from sirenkit.recipes.kind import kind_name

    representation = decompress(readable_file(args.file).read_bytes(), str(args.file))
    command = COMPRESSIBLE[kind_name(representation, *COMPRESSIBLE)]
    output_format(args.out, command.render_formats, command.name)
    refuse_existing(args.out, args.overwrite)
    command.render(argparse.Namespace(**vars(args), checkpoint=args.file), representation)
