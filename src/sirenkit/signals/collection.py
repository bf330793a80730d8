"""Which files a collection holds: a folder, a glob pattern or a list file, each naming signals."""

from __future__ import annotations

import fnmatch
import glob
import itertools
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from sirenkit.errors import InputError
from sirenkit.signals.points import POINT_SUFFIXES
from sirenkit.signals.volume import VOLUME_SUFFIXES

GLOB_CHARACTERS = frozenset("*?[")
LIST_SUFFIX = ".txt"
KIND_SUFFIXES = {
    "image": (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"),
    "audio": (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"),
    "video": (".mp4", ".mov", ".avi", ".mkv", ".webm"),
    "volume": VOLUME_SUFFIXES,
    "sdf": POINT_SUFFIXES,
}
"""File suffixes that mark a file as a signal of each kind (some, as .tif, of more than one): a
collection holding files of another kind only is refused (`check_one_kind`). A file of any other
suffix is left to the kind's reader."""


def is_collection(path: str | Path) -> bool:
    """Whether `path` names a collection rather than one signal's file: an existing folder, a
    `.txt` list of files, or a glob pattern that is not itself an existing file."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == LIST_SUFFIX:
        return True
    return not path.exists() and bool(GLOB_CHARACTERS & set(str(path)))


def collection_sources(path: str | Path) -> list[Path]:
    """The files of a collection, in a stated order; InputError when it names none.

    - a folder: the files directly in it (hidden ones and subfolders aside), sorted by name; a
      symbolic link that leads nowhere (dangling, looping) is kept, so that it becomes an error row;
    - a `.txt` list: one path per line, in the list's order (blank lines and lines starting with
      '#' skipped; a relative path is relative to the list's folder);
    - a glob pattern (`*`, `?`, `[...]`, `**` across folders): the files it matches, sorted.
    A file named twice is kept once, where it first appears.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(entry for entry in path.iterdir() if _names_a_file(entry) and not entry.name.startswith("."))
        where = f"the folder {path}"
    elif path.suffix.lower() == LIST_SUFFIX:
        files = _listed(path)
        where = f"the list {path}"
    else:
        files = sorted(Path(match) for match in glob.glob(str(path), recursive=True) if _names_a_file(Path(match)))
        where = f"the pattern {path}"
    if not files:
        raise InputError(f"{where} names no files")
    return list(dict.fromkeys(files))


def _names_a_file(entry: Path) -> bool:
    """A file, or a symbolic link that is not a folder's (a broken one included)."""
    return entry.is_file() or (entry.is_symlink() and not entry.is_dir())


def glob_root(pattern: str | Path) -> Path:
    """The folder a glob pattern searches from: its leading parts that hold no glob character."""
    fixed = list(itertools.takewhile(lambda part: not GLOB_CHARACTERS & set(part), Path(pattern).parts))
    return Path(*fixed) if fixed else Path()


def pattern_reaches(pattern: str | Path, folder: Path) -> bool:
    """Whether the glob `pattern` can match a file inside `folder` (or `folder` itself): the
    pattern's parts after its root match the folder's parts, and the pattern goes deeper, or
    crosses folders with `**`."""
    root = Path(os.path.realpath(glob_root(pattern)))
    folder = Path(os.path.realpath(folder))
    if folder != root and root not in folder.parents:
        return False
    rest = Path(pattern).parts[len(glob_root(pattern).parts) :]
    below = folder.relative_to(root).parts
    for index, part in enumerate(rest):
        if part == "**":
            return True
        if index == len(below):
            return True
        if not fnmatch.fnmatchcase(below[index], part):
            return False
    return False


def check_one_kind(sources: Sequence[Path], kind: str) -> None:
    """InputError when some of `sources` are, by their suffix, signals of another kind only (a
    folder of images holding sound files, say): one line naming them and the kind they are."""
    own = KIND_SUFFIXES.get(kind, ())
    for other, suffixes in KIND_SUFFIXES.items():
        strays = [s for s in sources if s.suffix.lower() in suffixes and s.suffix.lower() not in own]
        if strays:  # never the kind's own: its suffixes are left out
            shown = ", ".join(str(s) for s in strays[:3]) + (", ..." if len(strays) > 3 else "")
            raise InputError(
                f"the collection mixes kinds: {len(strays)} {other} file(s) ({shown}) among {kind} signals; "
                "fit each kind's files with its own command (a glob pattern or a list selects them)"
            )


def _listed(path: Path) -> list[Path]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the list {path}: {getattr(error, 'strerror', None) or error}") from None
    entries = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return [entry if entry.is_absolute() else path.parent / entry for entry in map(Path, entries)]


def member_names(sources: Sequence[Path], known: Mapping[str, str] | None = None) -> list[str]:
    """A name per source, unique in the collection and fixed for good: the name `known` gives the
    source (by `str(source)`: the name it got when first seen), else its file's stem made safe
    (`safe_name`), with "-2", "-3", ... added until it differs from every name taken, case aside
    (in the sources' order). Names are the folders of the members' outputs."""
    known = dict(known or {})
    names: list[str] = []
    taken = {name.casefold() for name in known.values()}
    for source in sources:
        name = known.get(str(source))
        if name is None:
            stem = safe_name(source.stem)
            name, count = stem, 1
            while name.casefold() in taken:
                count += 1
                name = f"{stem}-{count}"
            taken.add(name.casefold())
        names.append(name)
    return names


SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
"""A member's name: a plain folder name of at most 100 characters that is never hidden, `.` or `..`."""


def safe_name(stem: str) -> str:
    """`stem` as a `SAFE_NAME`: characters other than letters, digits, '.', '_' and '-' become '_',
    leading dots are dropped, and what is left is cut to 100 characters ("signal" if nothing is)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip(".")[:100]
    return name or "signal"


def is_safe_name(name: object) -> bool:
    """Whether `name` (read from a manifest) is a `SAFE_NAME`."""
    return isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None
