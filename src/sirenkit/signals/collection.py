"""Which files a collection holds: a folder, a glob pattern or a list file, each naming signals."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

from sirenkit.errors import InputError

GLOB_CHARACTERS = frozenset("*?[")
LIST_SUFFIX = ".txt"


def is_collection(path: str | Path) -> bool:
    """Whether `path` names a collection rather than one signal's file: an existing folder, a
    `.txt` list of files, or a glob pattern that is not itself an existing file."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == LIST_SUFFIX:
        return True
    return not path.exists() and bool(GLOB_CHARACTERS & set(str(path)))


def collection_sources(path: str | Path) -> list[Path]:
    """The files of a collection, in a stated order; InputError when it names none.

    - a folder: the files directly in it (hidden ones and subfolders aside), sorted by name;
    - a `.txt` list: one path per line, in the list's order (blank lines and lines starting with
      '#' skipped; a relative path is relative to the list's folder);
    - a glob pattern (`*`, `?`, `[...]`, `**` across folders): the files it matches, sorted.
    A file named twice is kept once, where it first appears.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(entry for entry in path.iterdir() if entry.is_file() and not entry.name.startswith("."))
        where = f"the folder {path}"
    elif path.suffix.lower() == LIST_SUFFIX:
        files = _listed(path)
        where = f"the list {path}"
    else:
        files = sorted(Path(match) for match in glob.glob(str(path), recursive=True) if Path(match).is_file())
        where = f"the pattern {path}"
    if not files:
        raise InputError(f"{where} names no files")
    return list(dict.fromkeys(files))


def _listed(path: Path) -> list[Path]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the list {path}: {getattr(error, 'strerror', None) or error}") from None
    entries = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return [entry if entry.is_absolute() else path.parent / entry for entry in map(Path, entries)]


def member_names(sources: Sequence[Path]) -> list[str]:
    """A name per source, unique in the collection: the file's stem, with "-2", "-3", ... added to
    a stem met again (in the sources' order). Names are the folders of the members' outputs."""
    names: list[str] = []
    taken: set[str] = set()
    for source in sources:
        stem = source.stem or "signal"
        name, count = stem, 1
        while name in taken:
            count += 1
            name = f"{stem}-{count}"
        taken.add(name)
        names.append(name)
    return names
