"""Shared pieces of the command line: the parser class, devices, output folders, common options,
and `run_fit`, which runs every fit command in its locked run folder."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import torch

from sirenkit.errors import InputError, describe_os_error
from sirenkit.fit import FitConfig, FitInterrupted, TrainingDiverged
from sirenkit.run_folder import FIT_LAYOUT, RunFolder, RunLayout, real_path
from sirenkit.store import file_digest

Outcome = TypeVar("Outcome")
NOT_SETTINGS = frozenset(
    {"out", "resume", "overwrite", "quiet", "device", "compile", "run", "command", "kind"}
    | {"group_size", "workers", "ray_address"}
)
"""Parsed options that say where and how a run is shown, kept or run, not what it computes (a
collection's members end the same whatever their groups and wherever they run)."""


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


def prepare_outputs(outputs: list[Path], inputs: list[Path | str | None]) -> None:
    """Refuse, before any work, an output that is one of the inputs (by path or as the same file
    under another name); then create the outputs' folders and check that they are writable."""
    for out in outputs:
        for given in inputs:
            if given is not None and _same_file(out, Path(given)):
                raise InputError(
                    f"{out} is the input {given}; sirenkit never writes over its inputs: choose another --out"
                )
    for folder in dict.fromkeys(out.parent for out in outputs):
        prepare_run_dir(folder)


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return a.samefile(b)
    return real_path(a) == real_path(b)


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


def fit_defaults(config: FitConfig) -> dict[str, Any]:
    """A recipe's training settings as option defaults, with the allocator tuning the command line
    turns on (`FitConfig.retain_memory`: process-wide, so off in the library)."""
    return {**asdict(config), "retain_memory": True}


def add_run_options(
    parser: argparse.ArgumentParser,
    out_help: str,
    *,
    batch: int | None = None,
    batch_help: str = "samples drawn per step",
) -> None:
    """--out, --device, --batch (default `batch`; None: all), --resume, --overwrite and --quiet."""
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    add_device_option(parser)
    parser.add_argument(
        "--batch", type=int, default=batch, help=f"{batch_help} (default: {'all' if batch is None else batch})"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint (same input and settings)"
    )
    add_overwrite_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_overwrite_option(parser: argparse.ArgumentParser) -> None:
    """--overwrite: replace the run in --out, which stays as it was until the new run has its model."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace what --out holds; it stays until the new run has trained its model",
    )


def run_identity(args: argparse.Namespace, inputs: dict[str, Path | None]) -> dict[str, Any]:
    """What a run is of, for `fit` to check a resume against: each input file's content hash, by
    its option (so a moved file still resumes), and every option that changes the result.
    `inputs` maps option names (argparse dests) to the files they name."""
    options = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in vars(args).items()
        if key not in NOT_SETTINGS and key not in inputs
    }
    present = {name: path for name, path in inputs.items() if path is not None}
    return {
        "inputs": {name: file_digest(path) for name, path in present.items()},
        "paths": {name: str(path) for name, path in present.items()},
        "options": options,
    }


def run_fit(
    args: argparse.Namespace,
    inputs: dict[str, Path | None],
    recipe: Callable[[dict[str, Any]], Outcome],
    *,
    reads: Sequence[Path] = (),
    layout: RunLayout = FIT_LAYOUT,
    identity: dict[str, Any] | None = None,
) -> Outcome:
    """Run a fit recipe in `args.out` held as a `RunFolder` of `layout`: `recipe(settings)` gets the
    keyword arguments every recipe takes (device, run_dir, resume, quiet, identity).

    `inputs` are the files whose content the run's identity records (`run_identity`, unless
    `identity` is given), `reads` further files it reads (neither may lie in the folder).

    What the user is told when it does not end well, always naming only what exists: an interrupt
    or a failure says what it kept and where (a replacement takes the previous run's place only
    once it has its product; before that the previous run is untouched); a run that kept nothing
    says so through the error itself, and its folder is left as it was.
    """
    resume, overwrite = getattr(args, "resume", False), getattr(args, "overwrite", False)
    paths = [path for path in inputs.values() if path is not None] + list(reads)
    identity = run_identity(args, inputs) if identity is None else identity
    with RunFolder(args.out, resume=resume, overwrite=overwrite, inputs=paths, layout=layout) as folder:
        settings = {
            "device": resolve_device(args.device),
            "run_dir": folder.work,
            "resume": resume,
            "quiet": args.quiet,
            "identity": identity,
        }
        try:
            outcome = recipe(settings)
        except FitInterrupted as stop:
            where = f"interrupted at step {stop.step} of {stop.steps}"
            if not folder.saved_work():
                raise RunStopped(stop.exit_code, f"{where}; nothing was written") from None
            raise RunStopped(stop.exit_code, f"{where}; {_unfinished(folder, args.out)}") from None
        except TrainingDiverged as error:
            untouched = f"; the previous run in {folder.path} is untouched" if folder.replacing else ""
            raise InputError(f"{error}{untouched}") from None
        except KeyboardInterrupt as stop:
            if not folder.saved_work():
                raise
            raise RunStopped(getattr(stop, "exit_code", 130), f"interrupted; {_keep(folder, args.out)}") from None
        except Exception as error:
            if not folder.saved_work():
                raise
            if isinstance(error, OSError):
                reason = describe_os_error(error)
            else:
                reason = str(error) if isinstance(error, InputError) else f"{type(error).__name__}: {error}"
            raise InputError(f"{_oneline(reason)}; {_keep(folder, args.out)}") from None
        folder.commit()
    return outcome


def _keep(folder: RunFolder, out: Path) -> str:
    """Keep what a run that failed or was stopped outside training made, and say what that is: a
    run with its product is finished and takes the previous run's place (`commit`); one without
    waits as it is (`_unfinished`)."""
    if not folder.product_written():
        return _unfinished(folder, out)
    folder.commit()
    return f"training had ended and {out / folder.layout.product} is saved"


def _unfinished(folder: RunFolder, out: Path) -> str:
    """Where an unfinished run's work is and how to go on; a replacement never takes the previous
    run's place unfinished."""
    if folder.replacing:
        return (
            f"kept in {folder.work}: {folder.layout.saved}, beside the previous run in {out}, "
            "which is untouched (continue with --resume --overwrite)"
        )
    return f"kept in {out}: {folder.layout.saved} (continue with --resume)"


class RunStopped(Exception):  # noqa: N818 (a stop the user asked for, not an error)
    """A run that ended on the user's signal, with what to tell them and the exit code."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _oneline(text: str) -> str:
    return " ".join(text.split())
