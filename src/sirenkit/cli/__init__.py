"""The `sirenkit` command line: parses options into typed configs and calls the library.

Each kind of signal registers its commands from its own module (`cli/image.py`, ...).
"""

from __future__ import annotations

import sys
import warnings

from sirenkit.calculus import compile_mode
from sirenkit.cli import audio, derivatives, image, poisson, sdf, video
from sirenkit.cli.common import Parser
from sirenkit.errors import InputError

COMMAND_MODULES = [image, derivatives, audio, video, sdf, poisson]


def build_parser() -> Parser:
    parser = Parser(prog="sirenkit", description="Sinusoidal implicit neural representations (SIREN).")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    fit = commands.add_parser("fit", help="fit a representation to a signal")
    fit_kinds = fit.add_subparsers(dest="kind", required=True, parser_class=Parser)
    for module in COMMAND_MODULES:
        module.register(fit_kinds, commands)
    return parser


def print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr, like the command line's errors (no source location)."""
    print(f"sirenkit: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command; bad input ends with one line on stderr and exit code 2."""
    warnings.showwarning = print_warning
    args = build_parser().parse_args(argv)
    try:
        compile_mode()  # a bad SIRENKIT_COMPILE is refused before anything is written
        args.run(args)
    except InputError as error:
        print(f"sirenkit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sirenkit: interrupted; the last checkpoint is kept (continue with --resume)", file=sys.stderr)
        return 130
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"sirenkit: error: {error.strerror or error}{where}", file=sys.stderr)
        return 2
    return 0
