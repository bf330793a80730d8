"""`sirenkit solve PROBLEM --out RUN`: a built-in PDE (`problems.pde`) solved by a SIREN.

Each problem is a subcommand whose options are its parameters, with the built-in's defaults (its
function's signature), besides the options of every solve: how the problem is posed
(`PDEOptions`), the field and the training (`recipes.pde.SOLVE_FIELD`, `SOLVE_FIT`) and the run.
"""

from __future__ import annotations

import argparse
import inspect
from dataclasses import asdict

from sirenkit.cli.common import Parser, add_run_options, fit_defaults, run_fit
from sirenkit.configargs import add_config_options, config_from_args
from sirenkit.errors import InputError
from sirenkit.fields import FIELD_BUILDERS, FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.problems.pde import INTERIOR_POINTS, PDES, PDEOptions
from sirenkit.recipes.pde import ERROR_EVERY, SOLVE_FIELD, SOLVE_FIT

RUN_FILES = "model.safetensors, solution.png, error.png, curve.png, metrics.jsonl, summary.json"
PARAMETER_HELP = {
    "low": "the box's low corner, one number per axis (time last)",
    "high": "the box's high corner, one number per axis (time last)",
    "frequency": "m in the exact solution Π sin(π m x_i)",
    "wavenumber": "k, in radians per unit of length",
    "diffusivity": "a in u_t = a Δu",
    "speed": "c in u_tt = c² Δu",
    "width": "the initial pulse's standard deviation, in units of length",
    "source": "the source's position, one number per axis",
    "source_width": "the Gaussian source's standard deviation, in units of length",
    "pml": "the perfectly matched layer's thickness, in units of length",
    "pml_strength": "a0 in the layer's stretch 1 + i·a0·(depth / thickness)²",
}


def register(commands: argparse._SubParsersAction) -> None:
    solve = commands.add_parser(
        "solve", help="solve a built-in PDE (Poisson, Helmholtz, heat, wave, point source) with a SIREN"
    )
    problems = solve.add_subparsers(dest="problem", required=True, parser_class=Parser)
    for name, make in PDES.items():
        parser = problems.add_parser(name.replace("_", "-"), help=(make.__doc__ or "").splitlines()[0])
        for parameter in problem_parameters(name):
            flag = parameter_flag(parameter.name)
            many = isinstance(parameter.default, tuple)
            parser.add_argument(
                flag,
                dest=option_dest(flag),
                metavar=parameter.name.upper(),
                type=float,
                nargs="+" if many else None,
                default=list(parameter.default) if many else parameter.default,
                help=f"{PARAMETER_HELP.get(parameter.name, parameter.name)} (default: {parameter.default})",
            )
        add_run_options(
            parser, "folder for " + RUN_FILES, batch=INTERIOR_POINTS, batch_help="points inside the box per step"
        )
        parser.add_argument(
            "--hard",
            action="store_true",
            help="hold the boundary and initial conditions exactly by an output transform instead of penalizing them",
        )
        parser.add_argument(
            "--weight",
            action="append",
            default=[],
            metavar="NAME=W",
            help="weight of a constraint (equation, boundary, initial_value, initial_velocity, source); repeatable",
        )
        parser.add_argument(
            "--collocation",
            type=int,
            help="train on this many interior points drawn once (conditions: a quarter as many) instead of fresh ones",
        )
        parser.add_argument(
            "--refine-every",
            type=int,
            default=0,
            help="with --collocation: every this many steps, add points where the residual is largest (default: 0, never)",
        )
        parser.add_argument(
            "--error-every",
            type=int,
            default=ERROR_EVERY,
            help=f"steps between error measurements (default: {ERROR_EVERY})",
        )
        add_config_options(
            parser,
            FieldConfig,
            skip=("in_dim", "out_dim"),
            defaults=asdict(SOLVE_FIELD),
            choices={"model": list(FIELD_BUILDERS)},
        )
        add_config_options(parser, FitConfig, defaults=fit_defaults(SOLVE_FIT))
        parser.set_defaults(run=run_solve, problem=name)


def problem_parameters(name: str) -> list[inspect.Parameter]:
    """The parameters of the built-in problem `name` (its function's, less `options`): its options."""
    return [p for p in inspect.signature(PDES[name]).parameters.values() if p.name != "options"]


def parameter_flag(name: str) -> str:
    """The option of a problem's parameter: --NAME with dashes, except --pulse-width for the wave's
    width (--width is the network's)."""
    return "--pulse-width" if name == "width" else "--" + name.replace("_", "-")


def option_dest(flag: str) -> str:
    """Where argparse keeps an option (--pulse-width → pulse_width), which is also how the run's
    identity records it and how a refused resume names it again (`fit`: "--" + dest with dashes)."""
    return flag.removeprefix("--").replace("-", "_")


def parse_weights(items: list[str]) -> dict[str, float]:
    """NAME=W pairs as a dict; InputError for one that is not."""
    weights = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--weight {item!r}: give NAME=NUMBER, for instance boundary=10") from None
    return weights


def run_solve(args: argparse.Namespace) -> None:
    from sirenkit.recipes.pde import make_pde, solve

    try:
        options = PDEOptions(
            hard=args.hard,
            weights=parse_weights(args.weight),
            points=args.batch,
            collocation=args.collocation,
            seed=args.seed,
            refine_every=args.refine_every,
        )
    except ValueError as error:
        raise InputError(str(error)) from None
    parameters = {p.name: getattr(args, option_dest(parameter_flag(p.name))) for p in problem_parameters(args.problem)}
    pde = make_pde(args.problem, options, **parameters)
    field_config = config_from_args(FieldConfig, args, in_dim=len(pde.low), out_dim=1)
    fit_config = config_from_args(FitConfig, args)
    outcome = run_fit(
        args, {}, lambda settings: solve(pde, field_config, fit_config, error_every=args.error_every, **settings)
    )
    print(f"{outcome.headline()} -> {args.out}")
