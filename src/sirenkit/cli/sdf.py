"""`sirenkit fit sdf` (a signed distance field from a point cloud or mesh), `sirenkit mesh` and `sirenkit preview`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sirenkit.cli.common import add_device_option, prepare_outputs, resolve_device
from sirenkit.cli.kinds import KindCommand
from sirenkit.configargs import add_config_options, config_from_args
from sirenkit.errors import InputError
from sirenkit.outputs.mesh import MESH_METHODS
from sirenkit.outputs.sphere_trace import UP_AXES
from sirenkit.problems.sdf import SDFConfig
from sirenkit.recipes.sdf import SDF_FIT, SDFKind
from sirenkit.signals.points import DEFAULT_SURFACE_SAMPLES


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--points",
        type=int,
        default=None,
        help=f"points sampled on a mesh's faces, or kept of a point cloud (default: {DEFAULT_SURFACE_SAMPLES:,} "
        "on a mesh, all of a point cloud)",
    )
    parser.add_argument(
        "--normals",
        choices=("auto", "given", "estimate"),
        default="auto",
        help="auto: the file's (face or nx ny nz) normals, estimated when it has none; given: require them; "
        "estimate: always estimate (PCA + spanning-tree orientation) (default: auto)",
    )
    parser.add_argument("--resolution", type=int, default=256, help="samples per axis of the mesh grid (default: 256)")
    parser.add_argument(
        "--preview-size", type=int, default=256, help="pixels per side of each preview view; 0: none (default: 256)"
    )
    add_up_option(parser)
    add_config_options(parser, SDFConfig, skip=("surface_points",))


def load(args: argparse.Namespace):
    from sirenkit.signals.points import load_oriented_points

    return load_oriented_points(args.path, samples=args.points, normals=args.normals, seed=args.seed)


def sdf_kind(args: argparse.Namespace) -> SDFKind:
    """The SDF kind of the parsed options; --batch is the surface points drawn per step."""
    if args.batch < 1:
        raise InputError(f"batch must be at least 1, got {args.batch}")
    weights = config_from_args(SDFConfig, args, surface_points=args.batch)
    return SDFKind(weights, args.resolution, args.preview_size, args.up, source=str(args.path.resolve()))


COMMAND = KindCommand(
    name="sdf",
    help="fit a signed distance field to a point cloud or mesh (.xyz, .ply, .obj, .off, .stl)",
    path_help="the surface: .xyz (x y z [nx ny nz]) or a mesh / point cloud file",
    files="model.safetensors, mesh.ply, preview.png, curve.png, summary.json",
    fit=SDF_FIT,
    batch=SDFConfig.surface_points,
    batch_help="surface points drawn per step",
    load=load,
    kind=sdf_kind,
    options=add_options,
)


def register(commands: argparse._SubParsersAction) -> None:
    """`sirenkit mesh` and `sirenkit preview` of a fitted SDF."""
    mesh = commands.add_parser("mesh", help="extract the zero level set of a fitted SDF as a mesh (.ply or .obj)")
    mesh.add_argument("checkpoint", type=Path, help="a model.safetensors written by `sirenkit fit sdf`")
    mesh.add_argument("--resolution", type=int, default=512, help="samples per axis of the grid (default: 512)")
    mesh.add_argument(
        "--method",
        choices=MESH_METHODS,
        default="coarse-to-fine",
        help="coarse-to-fine: evaluate near the surface only, memory set by the surface found, not the grid; "
        "dense: the whole grid (default: coarse-to-fine)",
    )
    mesh.add_argument("--out", type=Path, help="output .ply or .obj (default: mesh_RES.ply beside the checkpoint)")
    add_device_option(mesh)
    mesh.set_defaults(run=run_mesh)

    preview = commands.add_parser("preview", help="render shaded views of a fitted SDF (sphere tracing) as a PNG")
    preview.add_argument("checkpoint", type=Path, help="a model.safetensors written by `sirenkit fit sdf`")
    preview.add_argument("--size", type=int, default=256, help="pixels per side of each view (default: 256)")
    add_up_option(preview)
    preview.add_argument("--out", type=Path, help="output .png (default: preview_UP.png beside the checkpoint)")
    add_device_option(preview)
    preview.set_defaults(run=run_preview)


def add_up_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--up",
        choices=UP_AXES,
        default="z",
        help="the shape's vertical axis in the previews: y for y-up meshes such as the bunny and Spot (default: z)",
    )


def run_mesh(args: argparse.Namespace) -> None:
    from sirenkit.outputs.mesh import MESH_FORMATS, write_mesh
    from sirenkit.recipes.sdf import mesh_of
    from sirenkit.resources import mesh_request, require
    from sirenkit.store import load_representation

    out = args.out or args.checkpoint.parent / f"mesh_{args.resolution}.ply"
    if out.suffix.lower() not in MESH_FORMATS:
        raise InputError(f"--out must end in .ply or .obj, got {out.name}")
    require(mesh_request(args.resolution, args.method))
    representation = load_representation(args.checkpoint)
    prepare_outputs([out], [args.checkpoint])
    begin = time.perf_counter()
    mesh = mesh_of(representation, args.resolution, method=args.method, device=resolve_device(args.device))
    seconds = time.perf_counter() - begin
    write_mesh(out, mesh)
    print(
        f"wrote {out} ({len(mesh.vertices):,} vertices, {len(mesh.faces):,} faces; "
        f"{args.resolution}³ {args.method} in {seconds:.1f} s)"
    )


def run_preview(args: argparse.Namespace) -> None:
    from sirenkit.outputs import write_png
    from sirenkit.outputs.sphere_trace import render_preview
    from sirenkit.recipes.sdf import normalization_of
    from sirenkit.resources import preview_request, require
    from sirenkit.store import load_representation

    out = args.out or args.checkpoint.parent / f"preview_{args.up}.png"
    if out.suffix.lower() != ".png":
        raise InputError(f"--out must end in .png, got {out.name}")
    if args.size < 1:
        raise InputError(f"size must be at least 1, got {args.size}")
    require(preview_request(args.size))
    representation = load_representation(args.checkpoint)
    normalization_of(representation)  # a shape's checkpoint, or one clear error
    prepare_outputs([out], [args.checkpoint])
    image = render_preview(representation.field, size=args.size, up=args.up, device=resolve_device(args.device))
    write_png(out, image)
    print(f"wrote {out} ({image.shape[1]}x{image.shape[0]})")
