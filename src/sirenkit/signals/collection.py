"""Which files a collection holds: a folder, a glob pattern or a list file, each naming signals."""

from __future__ import annotations

import glob
from collections.abc import Sequence
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
