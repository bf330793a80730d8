"""`sirenkit fit KIND` and `sirenkit render` for every kind, each built from one `KindCommand`.

A kind's command module (`cli/image.py`, ...) describes its command as a `KindCommand`: the words
of its help, the options its signal and its `Kind` take, and its renderer. `add_fit_command` turns
that into `sirenkit fit KIND` (the recipe's defaults become the options' defaults),
`run_fit_command` runs it through the one fit path (`recipes.kind.fit_signal`) in a locked run
folder, and `add_render_command` makes one `render` command for every kind that renders.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sirenkit.cli.common import add_device_option, add_run_options, fit_defaults, run_fit, run_identity
from sirenkit.configargs import add_config_options, config_from_args
from sirenkit.errors import InputError
from sirenkit.fields import FIELD_BUILDERS, FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.recipes.collection import GROUP_SIZE
from sirenkit.recipes.kind import Kind
from sirenkit.recipes.tiles import TILE_OVERLAP
from sirenkit.store import Representation

Renderer = Callable[[argparse.Namespace, Representation], None]


@dataclass(frozen=True)
class Tiling:
    """How a kind's signal is cut into tiles (`recipes.tiles.fit_tiles`): its grid `shape` and
    `crop(signal, start, size)`."""

    shape: Callable[[Any], tuple[int, ...]]
    crop: Callable[[Any, tuple[int, ...], tuple[int, ...]], Any]


@dataclass(frozen=True)
class KindCommand:
    """What the command line knows of one kind of signal.

    `name` is the kind's registered name (`recipes.kind.KINDS`) and its fit subcommand; `files`
    lists what a run folder receives; `fit` and `batch` are the recipe's defaults (`batch` None:
    every sample; `--batch 0` asks for every sample, unless `kind(args)` refuses it as sdf's does); `load(args)` reads the signal and
    `kind(args)` builds the `Kind` from the parsed options, which `options(parser)` adds besides
    the field, training and run options (`field_skip`: `FieldConfig` fields the kind sets itself).
    `render(args, representation)` writes a render of a checkpoint in one of `render_formats`
    (suffix → format name). With a `tiling`, `--tiles SIZE` fits the signal as overlapping tiles.
    """

    name: str
    help: str
    path_help: str
    files: str
    fit: FitConfig
    batch: int | None
    batch_help: str
    load: Callable[[argparse.Namespace], Any]
    kind: Callable[[argparse.Namespace], Kind]
    options: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    field_skip: tuple[str, ...] = ("in_dim", "out_dim")
    render: Renderer | None = None
    render_formats: Mapping[str, str] = field(default_factory=dict)
    tiling: Tiling | None = None


def add_fit_command(fit_kinds: argparse._SubParsersAction, command: KindCommand) -> None:
    """`sirenkit fit NAME PATH --out RUN [options]` for one kind."""
    parser = fit_kinds.add_parser(command.name, help=command.help)
    parser.add_argument(
        "path",
        type=Path,
        help=f"{command.path_help}; or a collection: a folder, a glob pattern (quoted) or a .txt list of files",
    )
    add_run_options(parser, f"folder for {command.files}", batch=command.batch, batch_help=command.batch_help)
    parser.add_argument(
        "--group-size",
        type=int,
        default=GROUP_SIZE,
        help=f"signals of a collection, or tiles, fitted together at most as one batched field (default: {GROUP_SIZE})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="a collection or --tiles: fit the groups as Ray tasks on a local Ray instance of this many CPUs "
        "(needs sirenkit[ray])",
    )
    parser.add_argument(
        "--ray-address", help="a collection or --tiles: fit the groups as Ray tasks on the Ray cluster at this address"
    )
    if command.tiling is not None:
        parser.add_argument(
            "--tiles",
            type=int,
            default=0,
            help="fit as overlapping tiles of this many samples per side, each a field of the given size, "
            "blended into one (default: 0, one field)",
        )
        parser.add_argument(
            "--tile-overlap",
            type=int,
            default=TILE_OVERLAP,
            help=f"samples neighbouring tiles share (default: {TILE_OVERLAP})",
        )
    command.options(parser)
    add_config_options(parser, FieldConfig, skip=command.field_skip, choices={"model": list(FIELD_BUILDERS)})
    add_config_options(parser, FitConfig, defaults=fit_defaults(command.fit))
    parser.set_defaults(run=lambda args: run_fit_command(command, args))


def run_fit_command(command: KindCommand, args: argparse.Namespace) -> None:
    """Load the signal, fit it in `args.out` and print the outcome's headline; a collection
    (`signals.collection.is_collection`) goes to `run_collection_command`."""
    from sirenkit.recipes.kind import fit_signal
    from sirenkit.recipes.tiles import TILES_LAYOUT, fit_tiles
    from sirenkit.run_folder import FIT_LAYOUT
    from sirenkit.signals.collection import is_collection

    if is_collection(args.path):
        if getattr(args, "tiles", 0):
            raise InputError(f"--tiles fits one large signal; {args.path} is a collection")
        run_collection_command(command, args)
        return
    tiles = getattr(args, "tiles", 0)
    if not tiles and (args.workers is not None or args.ray_address is not None):
        raise InputError(f"--workers and --ray-address fit collections or --tiles; {args.path} is one file")
    field_config = config_from_args(FieldConfig, args)  # the kind sets its inputs and outputs
    fit_config = config_from_args(FitConfig, args)
    kind = command.kind(args)
    signal = command.load(args)
    batch = None if args.batch == 0 else args.batch
    if tiles:
        tiling = command.tiling
        layout = TILES_LAYOUT

        def recipe(settings: dict[str, Any]) -> Any:
            return fit_tiles(
                kind,
                signal,
                tiling.shape(signal),
                tiling.crop,
                field_config,
                fit_config,
                tile=tiles,
                overlap=args.tile_overlap,
                batch=batch,
                group_size=args.group_size,
                workers=args.workers,
                ray_address=args.ray_address,
                **settings,
            )
    else:
        layout = FIT_LAYOUT

        def recipe(settings: dict[str, Any]) -> Any:
            return fit_signal(kind, signal, field_config, fit_config, batch=batch, **settings)

    outcome = run_fit(args, {"path": args.path}, recipe, layout=layout)
    print(f"{outcome.headline()} -> {args.out}")


def run_collection_command(command: KindCommand, args: argparse.Namespace) -> None:
    """Fit every file of the collection `args.path` in `args.out` (`recipes.collection.fit_collection`)
    and print the outcome's headline; the kind's options apply to every member. The collection's
    identity is the collection as given (a folder, pattern or list, made absolute) and every
    option; its list file, like its members, is an input, and a pattern may not reach into --out."""
    from sirenkit.recipes.collection import COLLECTION_LAYOUT, fit_collection
    from sirenkit.signals.collection import check_one_kind, collection_sources, pattern_reaches

    field_config = config_from_args(FieldConfig, args)
    fit_config = config_from_args(FitConfig, args)
    sources = collection_sources(args.path)
    check_one_kind(sources, command.name)
    batch = None if args.batch == 0 else args.batch
    command.kind(args)  # the kind's own checks of the options (sdf refuses --batch 0), before any work
    if not args.path.is_dir() and args.path.suffix.lower() != ".txt" and pattern_reaches(args.path, args.out):
        raise InputError(
            f"the pattern {args.path} reaches into the output folder {args.out}, whose files it would then "
            "take for signals; choose an --out outside it, or a narrower pattern"
        )
    listing = [args.path] if args.path.is_file() else []
    identity = {**run_identity(args, {"path": None}), "collection": str(args.path.absolute())}

    def member_args(source: Path) -> argparse.Namespace:
        return argparse.Namespace(**{**vars(args), "path": source})

    outcome = run_fit(
        args,
        {"path": None},  # each member's content is recorded by the manifest and its group
        lambda settings: fit_collection(
            sources,
            lambda source: command.kind(member_args(source)),
            lambda source: command.load(member_args(source)),
            field_config,
            fit_config,
            batch=batch,
            group_size=args.group_size,
            workers=args.workers,
            ray_address=args.ray_address,
            **settings,
        ),
        reads=[*listing, *sources],
        layout=COLLECTION_LAYOUT,
        identity=identity,
    )
    print(f"{outcome.headline()} -> {args.out}")


def add_render_command(commands: argparse._SubParsersAction, kinds: Sequence[KindCommand]) -> None:
    """`sirenkit render CHECKPOINT [--size ...] [--out FILE]` for every kind in `kinds` that renders."""
    renderers = {command.name: command for command in kinds if command.render is not None}
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
    render.set_defaults(run=lambda args: run_render(args, renderers))


def run_render(args: argparse.Namespace, renderers: Mapping[str, KindCommand]) -> None:
    """Render a checkpoint with its kind's renderer; an unknown --out suffix is refused before the
    checkpoint is read, a checkpoint of a kind that does not render after."""
    from sirenkit.outputs.files import output_format
    from sirenkit.recipes.kind import kind_name
    from sirenkit.store import load_representation

    if args.out is not None:
        every_format = {
            suffix: name for command in renderers.values() for suffix, name in command.render_formats.items()
        }
        output_format(args.out, every_format, "render")
    representation = load_representation(args.checkpoint)
    command = renderers[kind_name(representation, *renderers)]
    command.render(args, representation)
