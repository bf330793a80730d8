"""Shared pieces of the command line: the parser class, devices, output folders, common options."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import NoReturn

import torch

from sirenkit.errors import InputError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def resolve_device(name: str) -> torch.device:
    """auto → cuda when available, else cpu; cuda when absent is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but PyTorch sees no CUDA device")
    return torch.device(name)


def prepare_run_dir(path: Path) -> Path:
    """Create the output folder and check that it is writable, before any work starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as error:
        raise InputError(f"cannot write to output folder {path}: {error.strerror or error}") from None
    return path


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' → (height, width)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must look like 2048x1024 (width x height), got {text!r}") from None
    if width < 1 or height < 1:
        raise InputError(f"--size must be at least 1x1, got {text!r}")
    return height, width


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """--device auto|cpu|cuda, resolved by `resolve_device`."""
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to compute (default: auto)"
    )


def add_run_options(
    parser: argparse.ArgumentParser,
    out_help: str,
    *,
    batch: int | None = None,
    batch_help: str = "samples drawn per step",
) -> None:
    """--out, --device, --batch (default `batch`; None: all), --resume and --quiet."""
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    add_device_option(parser)
    parser.add_argument(
        "--batch", type=int, default=batch, help=f"{batch_help} (default: {'all' if batch is None else batch})"
    )
    parser.add_argument("--resume", action="store_true", help="continue the killed run in --out from its checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_settings(args: argparse.Namespace, run_dir: Path) -> dict:
    """The keyword arguments every `fit_*` recipe takes from `add_run_options`: device, run folder, resume, quiet."""
    return {"device": resolve_device(args.device), "run_dir": run_dir, "resume": args.resume, "quiet": args.quiet}
