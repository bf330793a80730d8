"""The one exception type for bad input: the CLI prints its message on one line and exits 2."""

from pathlib import Path


class InputError(ValueError):
    """A user-facing problem with input data, options or files; the message says what to fix."""


def readable_file(path: str | Path) -> Path:
    """`path` as a Path if it names a non-empty file; otherwise InputError saying which it is not
    (missing, a directory, empty)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a file")
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty")
    return path


def describe_os_error(error: OSError) -> str:
    """'PATH: reason' for an OS failure (the path as given to the call that failed)."""
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename else reason
