"""`sirenkit derivatives` (a checkpoint's gradient and Laplacian against the data) and `sirenkit compare image`."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sirenkit.calculus import METHODS
from sirenkit.cli.common import (
    Parser,
    add_device_option,
    add_overwrite_option,
    fit_defaults,
    parse_size,
    prepare_outputs,
    resolve_device,
    run_fit,
)
from sirenkit.configargs import add_config_options, config_from_args
from sirenkit.errors import InputError
from sirenkit.fields import FIELD_BUILDERS, FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs.metrics import format_metric
from sirenkit.recipes.derivative_maps import COMPARE_FIT

COMPARE_MODELS = "siren,relu,tanh,relu-pe"
TABLE_COLUMNS = (
    ("image dB", "psnr_db", 9, ".2f"),
    ("grad dB", "gradient_psnr_db", 8, ".2f"),
    ("lap dB", "laplacian_psnr_db", 7, ".2f"),
    ("grad rel", "gradient_relative_error", 9, ".3f"),
    ("lap rel", "laplacian_relative_error", 8, ".3f"),
)
"""`compare image`'s table: (heading, metric key, width, format) per column."""


def register(commands: argparse._SubParsersAction) -> None:
    derivatives = commands.add_parser(
        "derivatives", help="a fitted image's gradient and Laplacian against the Sobel and Laplace filters of the data"
    )
    derivatives.add_argument("checkpoint", type=Path, help="a model.safetensors written by `sirenkit fit image`")
    derivatives.add_argument("--image", type=Path, help="the source image (default: the file recorded at fit time)")
    derivatives.add_argument("--size", help="size WxH of the network's maps (default: the source size)")
    derivatives.add_argument("--method", choices=METHODS, default="auto", help="calculus path (default: auto)")
    derivatives.add_argument("--out", type=Path, help="output folder (default: beside the checkpoint)")
    add_device_option(derivatives)
    derivatives.set_defaults(run=run_derivatives)

    compare = commands.add_parser("compare", help="fit several models and compare their derivatives")
    kinds = compare.add_subparsers(dest="kind", required=True, parser_class=Parser)
    image = kinds.add_parser("image", help="SIREN against baselines: image, gradient and Laplacian per model")
    image.add_argument("path", type=Path, help="the image file")
    image.add_argument("--models", default=COMPARE_MODELS, help=f"comma-separated models (default: {COMPARE_MODELS})")
    image.add_argument("--snapshots", help="comma-separated steps to show (default: the last step)")
    image.add_argument("--out", type=Path, required=True, help="folder for comparison.png and comparison.json")
    image.add_argument("--batch", type=int, default=None, help="pixels drawn per step (default: all)")
    add_overwrite_option(image)
    add_device_option(image)
    image.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_options(image, FieldConfig, skip=("in_dim", "out_dim", "model"))
    add_config_options(image, FitConfig, defaults=fit_defaults(COMPARE_FIT))
    image.set_defaults(run=run_compare_image)


def run_derivatives(args: argparse.Namespace) -> None:
    from sirenkit.recipes.derivative_maps import DERIVATIVE_FILES, derivatives_report
    from sirenkit.recipes.kind import kind_name
    from sirenkit.signals import load_image
    from sirenkit.store import load_representation

    representation = load_representation(args.checkpoint)
    kind_name(representation, "image", path=args.checkpoint)
    source = args.image or representation.signal.get("source")
    if source is None:
        raise InputError("this checkpoint does not record its source image: pass it with --image")
    size = parse_size(args.size) if args.size else None
    image = load_image(source)
    run_dir = args.out or args.checkpoint.parent
    with _removed_if_refused(run_dir):
        prepare_outputs([run_dir / name for name in DERIVATIVE_FILES], [args.checkpoint, source])
        metrics = derivatives_report(
            representation, image, run_dir, size=size, method=args.method, device=resolve_device(args.device)
        )
    print(
        f"gradient: PSNR {format_metric(metrics['gradient_psnr_db'], '.2f', ' dB')}, "
        f"relative error {format_metric(metrics['gradient_relative_error'], '.3f')}; "
        f"Laplacian: PSNR {format_metric(metrics['laplacian_psnr_db'], '.2f', ' dB')}, "
        f"relative error {format_metric(metrics['laplacian_relative_error'], '.3f')} -> {run_dir}"
    )


@contextmanager
def _removed_if_refused(folder: Path) -> Iterator[None]:
    """Run the body; if it raises, remove `folder` and the parents made for it, those it left
    empty: a refused run leaves no folder it created."""
    made = list(itertools.takewhile(lambda path: not path.exists(), (folder, *folder.parents)))
    try:
        yield
    except BaseException:
        for path in made:  # deepest first
            try:
                path.rmdir()
            except OSError:  # not made after all, or holds a file
                break
        raise


def _table_row(label: str, step: str, metrics: dict[str, float]) -> str:
    """One row of the comparison table: a blank cell for a column the row lacks (the zero map has no
    image PSNR), "undefined" for a metric the image does not define."""
    cells = [
        f"{format_metric(metrics[key], spec) if key in metrics else '':>{width}s}"
        for _, key, width, spec in TABLE_COLUMNS
    ]
    return f"{label:10s} {step:>6s} " + " ".join(cells)


def _int_list(text: str, what: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{what} must be comma-separated integers, got {text!r}") from None


def run_compare_image(args: argparse.Namespace) -> None:
    from sirenkit.recipes.derivative_maps import compare_models, write_comparison
    from sirenkit.signals import load_image

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in FIELD_BUILDERS]
    if not models or unknown:
        raise InputError(
            f"unknown model(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(FIELD_BUILDERS)}"
        )
    fit_config = config_from_args(FitConfig, args)
    snapshots = _int_list(args.snapshots, "--snapshots") if args.snapshots else [fit_config.steps]
    field_config = config_from_args(FieldConfig, args, in_dim=2, out_dim=1)
    image = load_image(args.path)

    def compare(settings: dict) -> tuple[list, dict]:
        taken = compare_models(
            image,
            models,
            fit_config,
            snapshots,
            field_config=field_config,
            batch=args.batch,
            device=settings["device"],
            quiet=settings["quiet"],
        )
        return taken, write_comparison(settings["run_dir"], image, taken)

    taken, floor = run_fit(args, {"path": args.path}, compare)
    print(f"{'model':10s} {'step':>6s} " + " ".join(f"{name:>{width}s}" for name, _, width, _ in TABLE_COLUMNS))
    for s in taken:
        print(_table_row(s.model, str(s.step), s.metrics))
    print(_table_row("zero map", "", floor) + "   (what a map of zeros scores: the floor)")
    print(f"-> {args.out / 'comparison.png'}")
