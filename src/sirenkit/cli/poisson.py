"""`sirenkit poisson` (an image from its gradients or Laplacian alone) and `sirenkit blend` (gradient-domain fusion)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sirenkit.cli.common import add_run_options, fit_defaults, run_fit
from sirenkit.configargs import add_config_options, attribute_docs, config_from_args
from sirenkit.fields import FIELD_BUILDERS, FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs.metrics import format_metric
from sirenkit.problems.gradient_domain import ANCHORS, BLEND_ANCHORS, SOURCES
from sirenkit.recipes.gradient_domain import POISSON_FIT, BlendConfig, PoissonConfig

RUN_FILES = "model.safetensors, {image}, supervision_*.png, network_*.png, curve.png, metrics.jsonl, summary.json"


def register(commands: argparse._SubParsersAction) -> None:
    poisson = commands.add_parser(
        "poisson", help="reconstruct an image from its gradients or its Laplacian alone (the network never sees it)"
    )
    poisson.add_argument("path", type=Path, help="the image file")
    poisson.add_argument(
        "--from",
        dest="source",
        choices=SOURCES,
        default="gradient",
        help=f"{attribute_docs(PoissonConfig)['source']} (default: gradient)",
    )
    add_run_options(poisson, "folder for " + RUN_FILES.format(image="reconstruction.png"))
    add_config_options(poisson, PoissonConfig, skip=("source",), choices={"anchor": list(ANCHORS)})
    _add_fit_options(poisson)
    poisson.set_defaults(run=run_poisson)

    blend = commands.add_parser("blend", help="fuse two images through their gradients (Poisson image editing)")
    blend.add_argument("a", type=Path, help="image A (the background for --mode paste)")
    blend.add_argument("b", type=Path, help="image B, of A's size and channels")
    blend.add_argument("--mask", type=Path, help="image of A's size, white where to blend (needed for paste)")
    add_run_options(blend, "folder for " + RUN_FILES.format(image="blend.png"))
    add_config_options(blend, BlendConfig, choices={"anchor": list(BLEND_ANCHORS)})
    _add_fit_options(blend)
    blend.set_defaults(run=run_blend)


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--downscale",
        type=int,
        default=1,
        help="box-average the input images (and mask) by this integer factor first (default: 1)",
    )
    add_config_options(parser, FieldConfig, skip=("in_dim", "out_dim"), choices={"model": list(FIELD_BUILDERS)})
    add_config_options(parser, FitConfig, defaults=fit_defaults(POISSON_FIT))


def run_poisson(args: argparse.Namespace) -> None:
    from sirenkit.recipes.gradient_domain import reconstruct_image
    from sirenkit.signals import load_image

    poisson = config_from_args(PoissonConfig, args)
    field_config = config_from_args(FieldConfig, args, in_dim=2, out_dim=1)
    fit_config = config_from_args(FitConfig, args)
    image = load_image(args.path).downscale(args.downscale)
    outcome = run_fit(
        args,
        {"path": args.path},
        lambda settings: reconstruct_image(image, field_config, fit_config, poisson, batch=args.batch, **settings),
    )
    s = outcome.summary()
    print(
        f"{s['model']} from the {s['source']} (anchor {s['anchor']}): PSNR {format_metric(s['psnr_db'], '.2f', ' dB')} "
        f"({format_metric(s['psnr_aligned_db'], '.2f', ' dB')} after the best constant), channel mean error "
        f"{', '.join(f'{255 * e:.2f}' for e in s['channel_mean_error'])} /255 after {s['steps']} steps "
        f"in {s['seconds']:.1f} s -> {args.out}"
    )


def run_blend(args: argparse.Namespace) -> None:
    from sirenkit.recipes.gradient_domain import blend_images, check_blend_inputs, mask_from_image
    from sirenkit.signals import load_image

    blend = config_from_args(BlendConfig, args)
    field_config = config_from_args(FieldConfig, args, in_dim=2, out_dim=1)
    fit_config = config_from_args(FitConfig, args)
    a, b = (load_image(path).downscale(args.downscale) for path in (args.a, args.b))
    mask = mask_from_image(load_image(args.mask).downscale(args.downscale)) if args.mask else None
    check_blend_inputs(a, b, mask, blend)
    outcome = run_fit(
        args,
        {"a": args.a, "b": args.b, "mask": args.mask},
        lambda settings: blend_images(a, b, field_config, fit_config, blend, mask=mask, batch=args.batch, **settings),
    )
    s = outcome.summary()
    print(
        f"{s['model']} blend ({s['mode']}, anchor {s['anchor']}) after {s['steps']} steps in {s['seconds']:.1f} s -> {args.out / 'blend.png'}"
    )
