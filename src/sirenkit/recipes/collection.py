"""Collections: many signals of one kind fitted as batched fields, recorded in a manifest.

sources → members (name, content hash) → groups → one `BatchedField` fit per group → each
member's outputs, as a lone fit writes them → manifest rows → packed export.

Grouping rule: members whose field settings (after the kind adapts them to the signal) and whose
per-step batches have the same shapes are fitted together, in the sources' order, at most
`group_size` at a time. Images of one size group together, and so do images of any sizes whose
pixels all outnumber --batch (each then draws --batch pixels a step); a full-batch fit groups
signals of one size only. Every member starts from the field `fit_config.seed` gives and draws its
points as a lone fit with that seed would, so member k of a group ends as its lone fit would (to
float tolerance; `fields.batched` and `problems.batched` state why).

A run folder of a collection holds:
- collection.json: what the collection is of, checked on a resume as a single fit's checkpoint is:
  its identity (the collection as given, every option), its fit and field settings;
- manifest.jsonl: one row per source (`ManifestRow`), rewritten atomically as members finish; a
  source's row and its name are written the first time the source is seen ("pending") and the
  name is kept for good;
- signals/NAME/: what a lone fit of the member writes (model.safetensors, the kind's files) but
  its training curve: the group's metrics hold the steps;
- groups/ID/: each group's checkpoint, metrics (loss terms summed over its members) and model;
- packed.safetensors and packed.json: every fitted member's weights stacked per layer, and the
  index of its rows (`write_packed`; packed-2, ... when members differ in architecture), written
  once every member has been tried: packed.json is the run's product (`COLLECTION_LAYOUT`).
A resumed run skips the members the manifest marks done with the same content, retries the
others, and continues a group from its checkpoint when the group has the same members. A member
is fitted from the bytes its recorded hash is of (a file that changed after it was read is an
error row until the next resume), and finished work is never undone: a done row is replaced only
by a newer fit of its source, never by an error.
"""

from __future__ import annotations

import functools
import hashlib
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from sirenkit.engine import require_ray, shards
from sirenkit.errors import InputError, describe_os_error
from sirenkit.fields import FieldConfig
from sirenkit.fields.batched import build_batched_field, stack_fields
from sirenkit.fields.config import finite_number
from sirenkit.fit import FitConfig, FitResult, check_same_settings, fit, notice
from sirenkit.outputs import write_json
from sirenkit.problems.base import draw
from sirenkit.problems.batched import BatchedProblem
from sirenkit.recipes.kind import Kind, Outcome, check_batch
from sirenkit.resources import Request, require
from sirenkit.run_folder import CHECKPOINT_NAME, MODEL_NAME, RunLayout
from sirenkit.signals.collection import is_safe_name, member_names
from sirenkit.store import (
    Representation,
    atomic_write,
    file_digest,
    json_document,
    load_representation,
    save_representation,
    strict_json,
)

MANIFEST_NAME = "manifest.jsonl"
RECORD_NAME = "collection.json"
PACKED_INDEX = "packed.json"
COLLECTION_LAYOUT = RunLayout(
    product=PACKED_INDEX,
    resumes_from=RECORD_NAME,
    progress=("signals/*/" + MODEL_NAME, "groups/*/" + CHECKPOINT_NAME),
    saved="the signals fitted so far and the checkpoints of unfinished groups",
)
"""A collection's run folder (`run_folder.RunLayout`): finished once its packed export is written."""
RECORD_FORMAT = "sirenkit.collection/1"
MAX_ROW_BYTES = 1 << 16
"""The longest line a manifest may hold (a row is a few hundred bytes)."""
GROUP_SIZE = 256
"""Members fitted together at most, by default (the memory check scales with it)."""
PACKED_FORMAT = "sirenkit.packed/1"
FIT_SUMMARY_KEYS = frozenset({"model", "steps", "seconds", "parameters", "weight_bytes"})
"""Entries of a member's summary that describe the fit rather than measure the signal."""


@dataclass
class ManifestRow:
    """One source of a collection: `status` is "done" (fitted; `measures` holds the kind's numbers
    from its summary.json), "error" (`error` says why: unreadable, not a signal of this kind) or
    "pending" (seen, not yet fitted). `name` is the folder of its outputs under signals/.
    `seconds` is the wall time of the member's group, shared by its `group_size` members."""

    source: str
    name: str
    sha256: str | None
    status: str
    measures: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    seconds: float = 0.0
    group: str | None = None
    group_size: int = 0
    error: str | None = None


class Manifest:
    """manifest.jsonl: the rows of a collection by source, each change rewritten atomically, in
    the order of `sources` (rows of other sources, from an earlier run, after them)."""

    def __init__(self, path: Path, rows: Sequence[ManifestRow] = (), sources: Sequence[str | Path] = ()) -> None:
        self.path = path
        self.rows: dict[str, ManifestRow] = {row.source: row for row in rows}
        self.sources = [str(source) for source in sources]

    @classmethod
    def read(cls, path: Path, sources: Sequence[str | Path] = ()) -> Manifest:
        """The manifest at `path` (rows to be written in the order of `sources`); InputError when a
        line is longer than `MAX_ROW_BYTES` or is not a row (`parse_row`), or two rows share a name."""
        rows = []
        try:
            with open(path, "rb") as handle:
                for number, line in enumerate(iter(lambda: handle.readline(MAX_ROW_BYTES + 1), b""), 1):
                    if len(line) > MAX_ROW_BYTES:
                        raise InputError(f"{path}: line {number} is longer than a manifest row can be")
                    if line.strip():
                        rows.append(parse_row(line, f"{path}: line {number}"))
        except OSError as error:
            raise InputError(f"cannot read {path}: {error.strerror or error}") from None
        names = [row.name.casefold() for row in rows]
        if len(set(names)) != len(names):
            raise InputError(f"{path}: two rows share a name; the manifest is damaged")
        return cls(path, rows, sources)

    def done(self, source: str, sha256: str) -> bool:
        """Whether `source` was fitted with this content."""
        row = self.rows.get(source)
        return row is not None and row.status == "done" and row.sha256 == sha256

    def record(self, *rows: ManifestRow) -> list[ManifestRow]:
        """Add or replace the rows of their sources, and rewrite the file; a done row is replaced
        only by a done row (finished work is never undone by a later failure). Returns the rows
        refused that way."""
        refused = []
        for row in rows:
            before = self.rows.get(row.source)
            if before is not None and before.status == "done" and row.status != "done":
                refused.append(row)
            else:
                self.rows[row.source] = row
        self.write()
        return refused

    def write(self) -> None:
        place = {source: index for index, source in enumerate(self.sources)}
        ordered = sorted(self.rows.values(), key=lambda row: place.get(row.source, len(place)))
        self.rows = {row.source: row for row in ordered}
        text = "".join(strict_json(asdict(row)) + "\n" for row in ordered)
        atomic_write(self.path, lambda tmp: tmp.write_text(text))


ROW_TYPES: dict[str, tuple[type, ...]] = {
    "source": (str,),
    "name": (str,),
    "sha256": (str, type(None)),
    "status": (str,),
    "measures": (dict,),
    "steps": (int,),
    "seconds": (int, float),
    "group": (str, type(None)),
    "group_size": (int,),
    "error": (str, type(None)),
}
"""The JSON types of each field of a manifest row."""
STATUSES = ("done", "error", "pending")


def parse_row(line: bytes, where: str) -> ManifestRow:
    """One manifest line as a `ManifestRow`, every field's type checked (a safe name, a known
    status, finite numbers); InputError naming `where` otherwise."""
    document = json_document(line, where)
    if not isinstance(document, dict):
        raise InputError(f"{where} is not a manifest row (not a JSON object)")
    required = {f.name for f in fields(ManifestRow) if f.default is MISSING and f.default_factory is MISSING}
    problems = [f"no {key}" for key in sorted(required - set(document))]
    problems += [f"unknown field {key!r}" for key in document if key not in ROW_TYPES]
    problems += [
        f"{key} is not {' or '.join(t.__name__ for t in ROW_TYPES[key])}"
        for key, value in document.items()
        if key in ROW_TYPES and (not isinstance(value, ROW_TYPES[key]) or isinstance(value, bool))
    ]
    if not problems:
        if not is_safe_name(document["name"]):
            problems.append(f"the name {document['name'][:40]!r} is not a plain folder name")
        if document["status"] not in STATUSES:
            problems.append(f"unknown status {document['status'][:20]!r}")
        measures = document.get("measures", {})
        if not all(_finite_number(value) for value in measures.values()):
            problems.append("a measure is not a number")
        if not all(_finite_number(document.get(key, 0)) for key in ("steps", "seconds", "group_size")):
            problems.append("a count is not finite")
    if problems:
        raise InputError(f"{where} is not a manifest row ({'; '.join(problems)})")
    return ManifestRow(**document)


def _finite_number(value: Any) -> bool:
    return value is None or finite_number(value)


@dataclass
class Member:
    """A signal of the collection: its name (its folder under signals/), file and content hash."""

    name: str
    source: Path
    sha256: str


@dataclass
class CollectionOutcome:
    """What a collection run did: the manifest and the packed exports written."""

    manifest: Manifest
    packed: list[Path]
    fitted: int
    """Members fitted by this call (the manifest also holds earlier ones)."""

    def summary(self) -> dict[str, Any]:
        rows = list(self.manifest.rows.values())
        return {
            "signals": len(rows),
            "done": sum(row.status == "done" for row in rows),
            "errors": sum(row.status == "error" for row in rows),
            "fitted_now": self.fitted,
            "packed": [path.name for path in self.packed],
        }

    def headline(self) -> str:
        """One line: counts, the median of each measure over the done members, and the errors."""
        rows = list(self.manifest.rows.values())
        done = [row for row in rows if row.status == "done"]
        names = dict.fromkeys(name for row in done for name in row.measures)
        medians = [
            f"median {name} {statistics.median(values):.4g}"
            for name in names
            if (values := [row.measures[name] for row in done if row.measures.get(name) is not None])
        ]
        errors = sum(row.status == "error" for row in rows)
        parts = [f"{len(done)} of {len(rows)} signals fitted ({self.fitted} in this run)", *medians]
        if errors:
            parts.append(f"{errors} error(s), see {self.manifest.path.name}")
        return "collection: " + ", ".join(parts)


def fit_collection(
    sources: Sequence[Path],
    kind_of: Callable[[Path], Kind],
    load: Callable[[Path], Any],
    field_config: FieldConfig,
    fit_config: FitConfig,
    *,
    run_dir: str | Path,
    batch: int | None = None,
    group_size: int = GROUP_SIZE,
    device: torch.device | str = "cpu",
    resume: bool = False,
    quiet: bool = False,
    identity: dict | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
) -> CollectionOutcome:
    """Fit every source as the kind `kind_of(source)` says, in groups of batched fields.

    `load(source)` reads one signal (InputError or OSError: the source becomes an error row and
    the rest go on; InputError, before anything is written, when no source can be fitted).
    `batch`, `device`, `quiet` are as in `recipes.kind.fit_signal`; `identity` (what the
    collection is of, as `fit.fit` checks it on a resume: the command line gives the collection as
    typed and every option) is recorded in collection.json with the settings, and extended per
    group by its members' hashes. `resume` continues the run in `run_dir` after checking that
    record (see the module docstring). Groups run one after another in this process, or with
    `workers` / `ray_address` as Ray tasks (`engine.shards`: a task whose worker dies runs again
    and continues from its group's checkpoint); only this process writes the manifest, a row as
    its group ends.
    """
    if group_size < 1:
        raise InputError(f"group-size must be at least 1, got {group_size}")
    check_batch(batch)
    if workers is not None or ray_address is not None:
        require_ray(workers, ray_address)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "format": RECORD_FORMAT,
        "identity": identity or {},
        "fit": asdict(fit_config),
        "field": field_config.to_dict(),
    }
    resuming = resume and (run_dir / RECORD_NAME).is_file()
    if resuming:
        check_same_record(run_dir, record)
    manifest_path = run_dir / MANIFEST_NAME
    manifest = (
        Manifest.read(manifest_path, sources)
        if resuming and manifest_path.is_file()
        else Manifest(manifest_path, sources=sources)
    )
    names = member_names(sources, {row.source: row.name for row in manifest.rows.values()})
    pending: dict[tuple, list[Member]] = {}
    rows = []
    for name, source in zip(names, sources):
        sha256 = None
        try:
            sha256 = file_digest(source)
            if manifest.done(str(source), sha256):
                continue
            key = _group_key(kind_of(source), load(source), field_config, batch, device)
        except (InputError, OSError) as error:
            rows.append(_error_row(Member(name, source, sha256), error))
            continue
        pending.setdefault(key, []).append(Member(name, source, sha256))
        rows.append(ManifestRow(str(source), name, sha256, "pending"))
    if not pending and not any(row.status == "done" for row in manifest.rows.values()):
        errors = [row for row in rows if row.status == "error"]
        raise InputError(
            f"no file of the collection could be fitted ({len(errors)} tried); the first, {errors[0].source}: "
            f"{errors[0].error}"
        )
    atomic_write(run_dir / RECORD_NAME, lambda tmp: tmp.write_text(strict_json(record, indent=2) + "\n"))
    listed = {str(source) for source in sources}
    gone = [
        replace(row, status="error", error="no longer in the collection")
        for row in manifest.rows.values()
        if row.status == "pending" and row.source not in listed
    ]
    _kept_notice(manifest.record(*rows, *gone))
    groups = [
        members[start : start + group_size]
        for members in pending.values()
        for start in range(0, len(members), group_size)
    ]
    fit_group = functools.partial(
        _fit_group,
        kind_of=kind_of,
        load=load,
        field_config=field_config,
        fit_config=fit_config,
        batch=batch,
        device=device,
        run_dir=run_dir,
        quiet=quiet or workers is not None or ray_address is not None,
        identity=identity,
    )
    fitted = 0
    for group_rows in shards(fit_group, groups, workers=workers, address=ray_address):
        _kept_notice(manifest.record(*group_rows))
        fitted += sum(row.status == "done" for row in group_rows)
    return CollectionOutcome(manifest, write_packed(manifest, run_dir), fitted)


def check_same_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Refuse (InputError) a resume of the collection in `run_dir` whose collection.json says it
    is of another collection or was fitted with other settings (`fit.check_same_settings`)."""
    saved = _read_record(run_dir / RECORD_NAME)
    if saved["identity"].get("collection") != record["identity"].get("collection"):
        raise InputError(
            f"--resume: {run_dir} holds the collection {saved['identity'].get('collection')}, "
            f"not {record['identity'].get('collection')}; resume it with that collection, or start anew with --overwrite"
        )
    check_same_settings(run_dir, _settings(saved), _settings(record))


def _read_record(path: Path) -> dict[str, Any]:
    """collection.json, its shape checked; InputError for a file that is not a collection record."""
    try:
        if path.stat().st_size > MAX_ROW_BYTES * 16:
            raise InputError(f"{path} is larger than a collection record can be")
        text = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None
    saved = json_document(text, f"{path} (a collection record)")
    shaped = (
        isinstance(saved, dict)
        and saved.get("format") == RECORD_FORMAT
        and all(isinstance(saved.get(key), dict) for key in ("identity", "fit", "field"))
        and isinstance(saved["identity"].get("options", {}), dict)
    )
    if not shaped:
        raise InputError(f"{path} is not a collection record of this sirenkit")
    return saved


def _settings(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A collection record's settings as `fit.check_same_settings` compares them."""
    return {"options": record["identity"].get("options", {}), "fit": record["fit"], "field": record["field"]}


def _error_row(member: Member, error: InputError | OSError) -> ManifestRow:
    reason = describe_os_error(error) if isinstance(error, OSError) else str(error)
    return ManifestRow(str(member.source), member.name, member.sha256, "error", error=reason)


def _kept_notice(refused: Sequence[ManifestRow]) -> None:
    """Say which finished members a failure did not undo (`Manifest.record`)."""
    for row in refused:
        if row.status == "error":
            notice(f"{row.error}; the earlier fit of {row.source} (signals/{row.name}) is kept")


def _group_key(
    kind: Kind, signal: Any, field_config: FieldConfig, batch: int | None, device: torch.device | str
) -> tuple:
    """What members fitted together share: the kind's field settings and the shapes of a step's batches."""
    config = kind.field_config(signal, field_config)
    problem = kind.problem(signal, batch, device)
    generator = torch.Generator().manual_seed(0)
    shapes = []
    for members in problem.sample_groups():
        sample = draw(members[0], generator, "cpu")
        shapes.append((tuple(sample.x.shape), tuple((k, tuple(v.shape)) for k, v in sorted(sample.data.items()))))
    return kind.name, json.dumps(config.to_dict(), sort_keys=True), tuple(shapes)


def _fit_group(
    group: list[Member],
    *,
    kind_of: Callable[[Path], Kind],
    load: Callable[[Path], Any],
    field_config: FieldConfig,
    fit_config: FitConfig,
    batch: int | None,
    device: torch.device | str,
    run_dir: Path,
    quiet: bool,
    identity: dict | None,
) -> list[ManifestRow]:
    """Fit one group as a batched field, write each member's outputs, and return their rows: a
    member that cannot be read now, or whose content is no longer what the collection hashed,
    is an error row and the rest are fitted without it."""
    rows, members, kinds, signals = [], [], [], []
    for member in group:
        try:
            signal = load(member.source)
            if file_digest(member.source) != member.sha256:  # the bytes fitted are the bytes hashed
                raise InputError(f"{member.source} changed while the collection was fitted; fit it with --resume")
            kinds.append(kind_of(member.source))
        except (InputError, OSError) as error:
            rows.append(_error_row(member, error))
            continue
        members.append(member)
        signals.append(signal)
    if not members:
        return rows
    group_id = hashlib.sha256("\n".join(f"{m.source}\t{m.sha256}" for m in members).encode()).hexdigest()[:12]
    group_dir = run_dir / "groups" / group_id
    metadata = {
        "kind": "collection",
        "member_kind": kinds[0].name,
        "members": [{"name": m.name, "source": str(m.source), "sha256": m.sha256} for m in members],
    }
    result = fit_batched(
        kinds,
        signals,
        field_config,
        fit_config,
        metadata,
        batch=batch,
        device=device,
        run_dir=group_dir,
        resume=(group_dir / CHECKPOINT_NAME).is_file(),
        quiet=quiet,
        identity={**(identity or {}), "inputs": {m.name: m.sha256 for m in members}},
    )
    config = result.representation.config
    for k, (member, kind, signal) in enumerate(zip(members, kinds, signals)):
        member_dir = run_dir / "signals" / member.name
        member_dir.mkdir(parents=True, exist_ok=True)
        single = Representation(
            result.representation.field.field(k), config, {"kind": kind.name, **kind.metadata(signal)}
        )
        save_representation(member_dir / MODEL_NAME, single)
        outcome: Outcome = kind.finish(FitResult(single, [], result.seconds, result.steps), signal, device, member_dir)
        measures = {
            key: value
            for key, value in outcome.summary().items()
            if key not in FIT_SUMMARY_KEYS and isinstance(value, int | float) and not isinstance(value, bool)
        }
        rows.append(
            ManifestRow(
                str(member.source),
                member.name,
                member.sha256,
                "done",
                measures,
                result.steps,
                round(result.seconds, 3),
                group_id,
                len(members),
            )
        )
    return rows


def fit_batched(
    kinds: Sequence[Kind],
    signals: Sequence[Any],
    field_config: FieldConfig,
    fit_config: FitConfig,
    metadata: dict[str, Any],
    *,
    batch: int | None,
    device: torch.device | str,
    run_dir: Path | None,
    resume: bool,
    quiet: bool,
    identity: dict | None,
) -> FitResult:
    """Fit K signals (signal k posed kinds[k]'s problem) as one `BatchedField`, each from
    `fit_config.seed`; the result's representation holds the batched field with `metadata`.

    The field settings, the live metrics (on the members' mean loss terms) and the memory check
    (K times one member's) come from member 0: the members share a shape (`_group_key`).
    """
    count = len(signals)
    config = kinds[0].field_config(signals[0], field_config)
    require(*group_requests(kinds[0].requests(signals[0], config, batch, device), count))
    representation = Representation(build_batched_field(config, [fit_config.seed] * count), config, metadata)
    problem = BatchedProblem([kind.problem(signal, batch, device) for kind, signal in zip(kinds, signals)])
    live = kinds[0].live_metrics(signals[0])
    return fit(
        representation,
        problem,
        fit_config,
        device=device,
        run_dir=run_dir,
        resume=resume,
        live_metrics=None
        if live is None
        else lambda row: live({c.name: row[c.name] / count for c in problem.constraints}),
        quiet=quiet,
        identity=identity,
    )


def group_requests(requests: list[Request], count: int) -> list[Request]:
    """A member's memory requests for `count` members at once (an upper bound: the renders run one
    member at a time)."""
    return [
        replace(
            request,
            bytes=request.bytes * count,
            what=f"{request.what}, for {count} signals at once",
            option=f"{request.option} or --group-size",
        )
        for request in requests
    ]


def write_packed(manifest: Manifest, run_dir: Path) -> list[Path]:
    """Stack the weights of every member marked done, one file per architecture, with its index.

    packed.safetensors holds each parameter of the fields stacked along a leading axis, row r
    being the member at rows[r] of packed.json ({"format", "kind", "field", "count", "rows": [{"row",
    "name", "source", "sha256", "measures"}]}); `store.load_representation` reads it back as a
    `BatchedField`. Members of another architecture go to packed-2, packed-3, ... packed.json is
    written last (it marks the export complete), and packed files of an earlier run that this
    export does not rewrite are removed, so the export is never stale.
    """
    by_architecture: dict[str, list[tuple[ManifestRow, Representation]]] = {}
    for row in manifest.rows.values():
        if row.status == "done":
            representation = load_representation(run_dir / "signals" / row.name / MODEL_NAME)
            key = json.dumps(representation.config.to_dict(), sort_keys=True)
            by_architecture.setdefault(key, []).append((row, representation))
    stems = ["packed" if number == 1 else f"packed-{number}" for number in range(1, len(by_architecture) + 1)]
    for stale in [*run_dir.glob("packed-*.safetensors"), *run_dir.glob("packed-*.json")]:
        if stale.name.rsplit(".", 1)[0] not in stems:
            stale.unlink()
    for stem, members in reversed(list(zip(stems, by_architecture.values()))):
        first = members[0][1]
        kind = first.signal.get("kind")
        index = {
            "format": PACKED_FORMAT,
            "kind": kind,
            "field": first.config.to_dict(),
            "count": len(members),
            "rows": [
                {"row": r, "name": row.name, "source": row.source, "sha256": row.sha256, "measures": row.measures}
                for r, (row, _) in enumerate(members)
            ],
        }
        stacked = stack_fields([representation.field for _, representation in members])
        packed = Representation(
            stacked, first.config, {"kind": "collection", "member_kind": kind, "index": f"{stem}.json"}
        )
        save_representation(run_dir / f"{stem}.safetensors", packed)
        write_json(run_dir / f"{stem}.json", index)
    return [run_dir / f"{stem}.safetensors" for stem in stems]
