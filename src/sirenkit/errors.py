"""The one exception type for bad input: the CLI prints its message on one line and exits 2."""

from pathlib import Path


class InputError(ValueError):
    """A user-facing problem with input data, options or files; the message says what to fix."""


def readable_file(path: str | Path) -> Path:
    """`path` as a Path if it names a non-empty file; otherwise InputError saying which it is not."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty")
    return path
