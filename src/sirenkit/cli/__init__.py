"""The `sirenkit` command line: parses options into typed configs and calls the library.

Each kind of signal describes its `fit` command and its renderer in its own module (`cli/image.py`,
..., a `KindCommand`, listed in `KIND_COMMANDS`); the commands that are not a kind's fit or render
(`derivatives`, `mesh`, `preview`, `poisson`, `blend`, `solve`,
`compress`, `decompress`) register themselves from `COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from sirenkit.calculus import COMPILE_MODES, CompileMode
from sirenkit.cli import audio, compress, derivatives, image, poisson, sdf, solve, video, volume
from sirenkit.cli.common import Parser, RunStopped
from sirenkit.cli.kinds import add_fit_command, add_render_command
from sirenkit.errors import InputError, describe_os_error

KIND_COMMANDS = [image.COMMAND, audio.COMMAND, video.COMMAND, volume.COMMAND, sdf.COMMAND]
COMMAND_MODULES = [derivatives, sdf, poisson, solve, compress]
COMPILE_VARIABLE = "SIRENKIT_COMPILE"
"""The environment variable that sets `FitConfig.compile` for every fit command."""


def build_parser() -> Parser:
    parser = Parser(prog="sirenkit", description="Sinusoidal implicit neural representations (SIREN).")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    fit = commands.add_parser("fit", help="fit a representation to a signal")
    fit_kinds = fit.add_subparsers(dest="kind", required=True, parser_class=Parser)
    for command in KIND_COMMANDS:
        add_fit_command(fit_kinds, command)
    add_render_command(commands, KIND_COMMANDS)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr, like the command line's errors (no source location)."""
    print(f"sirenkit: warning: {message}", file=sys.stderr)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every write in progress is undone and every lock released."""

    exit_code = 128 + signal.SIGTERM


def _terminate(number: int, frame: Any) -> None:
    raise Terminated


def compile_mode(environ: Mapping[str, str]) -> CompileMode:
    """SIRENKIT_COMPILE as one of COMPILE_MODES (unset or empty: auto); InputError otherwise."""
    mode = environ.get(COMPILE_VARIABLE, "").strip().lower() or "auto"
    if mode not in COMPILE_MODES:
        raise InputError(f"{COMPILE_VARIABLE}={mode}: choose one of {', '.join(COMPILE_MODES)}")
    return mode


def main(argv: list[str] | None = None) -> int:
    """Run one command; bad input ends with one line on stderr and exit code 2, an interrupt with
    what was saved and 130 (SIGINT) or 143 (SIGTERM). While it runs, warnings show as one line on
    stderr (`print_warning`); the display is restored when it returns."""
    with warnings.catch_warnings():
        warnings.showwarning = print_warning
        return _run(build_parser().parse_args(argv))


def _run(args: argparse.Namespace) -> int:
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        args.compile = compile_mode(os.environ)  # for FitConfig; a bad value is refused before any work
        args.run(args)
    except RunStopped as stop:
        print(f"sirenkit: {stop}", file=sys.stderr)
        return stop.exit_code
    except InputError as error:
        print(f"sirenkit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print("sirenkit: interrupted; nothing was written or changed", file=sys.stderr)
        return getattr(stop, "exit_code", 130)
    except OSError as error:
        print(f"sirenkit: error: {describe_os_error(error)}", file=sys.stderr)
        return 2
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0
