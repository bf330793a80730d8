"""A run folder: where one fit writes its model, checkpoint, log and outputs, held by one process.

Rules (issue "nothing a user made is ever lost"):
- one owner: an OS-level advisory lock (`filelock`) on `.sirenkit.lock` for the run's whole
  life; the OS releases it when the process dies, so a killed run never leaves the folder locked.
  `.sirenkit.owner` names the process that holds it, for the message a second process gets;
- no surprise replacement: a new run refuses a folder that holds any file; `overwrite` runs in
  `.replacing/` inside it and `commit` moves the new files into place only when the new run has
  its product (`RunLayout`: a fit's model, a collection's packed export, written once every
  member is finished), so an aborted or failed replacement leaves the previous run as it was;
- the lock covers every folder inside the run folder: an --out inside another run's folder is
  refused, and so is replacing a folder inside which another run is in progress;
- inputs are never outputs: an input file inside the folder is refused before any work.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from sirenkit.errors import InputError

LOCK_NAME = ".sirenkit.lock"
OWNER_NAME = ".sirenkit.owner"
REPLACING_NAME = ".replacing"
CHECKPOINT_NAME = "checkpoint.safetensors"
MODEL_NAME = "model.safetensors"
METRICS_NAME = "metrics.jsonl"
BOOKKEEPING = (LOCK_NAME, OWNER_NAME, REPLACING_NAME)


@dataclass(frozen=True)
class RunLayout:
    """The files that matter to a kind of run.

    `product` is the file whose writing means the run is finished and worth more than any run it
    replaces (a fit's model; a collection's packed index, written after every member); `resumes_from`
    the file a resume continues; `progress` glob patterns (relative to the folder) of the files that
    hold work worth keeping before the product exists (checkpoints, finished members), which `saved`
    names in messages. A run that stops with none of them leaves nothing behind.
    """

    product: str = MODEL_NAME
    resumes_from: str = CHECKPOINT_NAME
    progress: tuple[str, ...] = (CHECKPOINT_NAME,)
    saved: str = "its checkpoint"


FIT_LAYOUT = RunLayout()
"""The layout of one signal's fit."""


def run_files(folder: Path) -> list[str]:
    """Names of what a folder holds besides the run folder's own bookkeeping, sorted."""
    if not folder.is_dir():
        return []
    return sorted(entry.name for entry in folder.iterdir() if entry.name not in BOOKKEEPING)


def real_path(path: Path) -> Path:
    """`path` with every symbolic link followed, made absolute; a link that loops or leads nowhere
    stays as far as it resolves (never an error, as `Path.resolve` raises on a loop)."""
    return Path(os.path.realpath(path))


def _file_stamp(path: Path) -> tuple[int, int] | None:
    """(inode, mtime in ns) of a file, None when absent: an atomic replace changes the inode."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


class RunFolder:
    """The output folder of one fit, locked for the life of a `with` block; `layout` says which of
    its files are the run's product, its resume point and its progress (`RunLayout`).

    `work` is where the fit writes: the folder itself, or `.replacing/` inside it for a run that
    replaces an existing one (`overwrite=True`) until `commit`. `resume=True` continues the
    checkpoint in the folder (with `overwrite` too: an interrupted replacement's, if one waits in
    `.replacing/`). `inputs` are the files the run reads; none may lie inside the folder.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        inputs: Sequence[str | Path] = (),
        layout: RunLayout = FIT_LAYOUT,
    ) -> None:
        self.path = Path(path)
        self.layout = layout
        self.resume = resume
        self.overwrite = overwrite
        self.inputs = [Path(p) for p in inputs]
        self.work = self.path
        self._lock: FileLock | None = None
        self._fresh = False
        self._created = False
        self._product_before: tuple[int, int] | None = None
        self._progress_before: dict[Path, tuple[int, int] | None] = {}

    @property
    def replacing(self) -> bool:
        """Whether this run writes beside a previous run it will replace on `commit`."""
        return self.work != self.path

    def __enter__(self) -> RunFolder:
        self._refuse_inputs_inside()
        self._refuse_inside_another_run()
        self._created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(f"cannot write to output folder {self.path}: {error.strerror or error}") from None
        self._acquire()
        try:
            self.work = self._choose_work()
            self._product_before = _file_stamp(self.work / self.layout.product)
            self._progress_before = self._progress_stamps()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        discarded = False
        try:
            if exc_type is not None and self._fresh and not self.saved_work():
                self._discard()
                discarded = True
        finally:
            self._release()
        if discarded and self._created:  # the folder this run made holds nothing but its lock
            (self.path / LOCK_NAME).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.path.rmdir()

    def saved_work(self) -> bool:
        """Whether this run wrote work worth keeping: its product, or a file of its `progress` that
        is new or changed since the folder was opened (a resume refused at once wrote none)."""
        return self.product_written() or bool(self._progress_stamps().items() - self._progress_before.items())

    def _progress_stamps(self) -> dict[Path, tuple[int, int] | None]:
        return {path: _file_stamp(path) for pattern in self.layout.progress for path in self.work.glob(pattern)}

    def _discard(self) -> None:
        """Remove what a new run that failed before it saved any work wrote (nothing of a user's)."""
        if self.replacing:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = self.path
            return
        for name in run_files(self.path):
            target = self.path / name
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)

    def product_written(self) -> bool:
        """Whether this run has written its product (the file is new since the folder was opened)."""
        stamp = _file_stamp(self.work / self.layout.product)
        return stamp is not None and stamp != self._product_before

    def commit(self) -> None:
        """Put a replacing run's files in place of the previous run's (no-op for a run in place).

        The previous files move aside into `.replacing/.previous` first and are deleted last, so
        the folder never holds a mix of the two runs' files for longer than the renames take.
        """
        if not self.replacing:
            return
        previous = self.work / ".previous"
        previous.mkdir()
        for name in run_files(self.path):
            os.replace(self.path / name, previous / name)
        for name in run_files(self.work):
            if name != previous.name:
                os.replace(self.work / name, self.path / name)
        shutil.rmtree(self.work)
        self.work = self.path

    def _refuse_inputs_inside(self) -> None:
        folder = real_path(self.path)
        for path in self.inputs:
            if folder in real_path(path).parents:
                raise InputError(
                    f"{path} lies inside the output folder {self.path}, which a run writes to; choose another --out"
                )

    def _refuse_inside_another_run(self) -> None:
        """An --out inside another run's folder would write among that run's files (a collection's
        member, a tile group): refused, whether that run is in progress or finished."""
        for parent in [*self.path.parents, *real_path(self.path).parents]:  # as typed first, then through links
            if (parent / LOCK_NAME).is_file():
                raise InputError(
                    f"{self.path} lies inside the run folder {parent}, whose files belong to that run; "
                    "choose an --out outside it"
                )

    def _refuse_replacing_a_run_in_progress(self) -> None:
        """Replacing this folder moves everything in it: refused while a run inside it holds its lock."""
        for lock_path in self.path.rglob(LOCK_NAME):
            if lock_path.parent == self.path:
                continue
            lock = FileLock(lock_path, timeout=0)
            try:
                lock.acquire()
            except Timeout:
                raise InputError(
                    f"{lock_path.parent} inside {self.path} is in use by another sirenkit run; "
                    "wait for it to end before replacing the folder"
                ) from None
            except OSError:
                continue
            lock.release()

    def _acquire(self) -> None:
        lock = FileLock(self.path / LOCK_NAME, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise InputError(
                f"{self.path} is in use by another sirenkit run{self._owner()}; wait for it to end or choose another --out"
            ) from None
        except OSError as error:
            raise InputError(f"cannot write to output folder {self.path}: {error.strerror or error}") from None
        self._lock = lock
        owner = json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")})
        try:
            (self.path / OWNER_NAME).write_text(owner + "\n")
        except OSError as error:
            self._release()
            raise InputError(f"cannot write to output folder {self.path}: {error.strerror or error}") from None

    def _owner(self) -> str:
        try:
            owner = json.loads((self.path / OWNER_NAME).read_text())
            return f" (process {int(owner['pid'])}, started {owner['started']})"
        except (OSError, ValueError, KeyError, TypeError):
            return ""

    def _release(self) -> None:
        if self._lock is not None:
            (self.path / OWNER_NAME).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def _choose_work(self) -> Path:
        replacing = self.path / REPLACING_NAME
        resumes_from = self.layout.resumes_from
        if self.resume:
            if self.overwrite and (replacing / resumes_from).is_file():
                return replacing
            if (self.path / resumes_from).is_file():
                return self.path
            what = "checkpoint" if resumes_from == CHECKPOINT_NAME else resumes_from
            raise InputError(f"{self.path} holds no {what} to resume; start the run without --resume")
        existing = run_files(self.path)
        if existing and not self.overwrite:
            shown = ", ".join(existing[:4]) + (", ..." if len(existing) > 4 else "")
            raise InputError(
                f"{self.path} already holds files ({shown}); continue its run with --resume, "
                "replace it with --overwrite, or choose another --out"
            )
        if existing:
            self._refuse_replacing_a_run_in_progress()
        shutil.rmtree(replacing, ignore_errors=True)
        self._fresh = True
        if not existing:
            return self.path
        replacing.mkdir()
        return replacing
