"""Saving and loading representations and training state: safetensors + JSON metadata, never pickle.

A representation file (`model.safetensors`) holds the field's tensors and, in the safetensors
header, a JSON document {"format", "field": FieldConfig, "signal": {...}} describing how to
rebuild the field and what signal it represents; for a `BatchedField` of K fields it also holds
"count": K, and each tensor has a leading K axis (the packed export of a collection). A
training-state file adds the optimizer's tensors, the sampler's random state and the step, so
that a killed run resumes exactly.
Every file is written to a temporary name in the same folder and renamed into place.

Reading trusts nothing in a file and allocates nothing its bytes do not back: the JSON is bounded
in depth (`json_document`), the field settings are typed and bounded (`FieldConfig.from_dict`),
the tensors a configuration and count imply are derived on the meta device and compared, by
name, shape and dtype, with those the file holds before the field is built around them, and the
signal metadata, tile layout and optimizer state are checked entry by entry. Any fault is one
InputError line naming the path.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save_file

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, MLPField, build_field
from sirenkit.fields.batched import BatchedField, stack_fields
from sirenkit.fields.config import finite_number
from sirenkit.fields.tiled import TiledField

FORMAT = "sirenkit.representation/1"
TRAIN_FORMAT = "sirenkit.train-state/1"


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary path beside `path`, then rename it into place.

    A reader never sees a half-written file, and an existing file is replaced only on success.
    The file gets the permissions a plain `open` would give it (0666 less the umask). Any OS
    failure (disk full, read-only, permission denied), whichever library met it, is raised as
    an OSError naming `path`, never the temporary name, and the temporary file is removed.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise _naming(error, path) from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) or os_error_code(error) is not None:
            raise _naming(error, path) from None
        raise


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex (what a run records of its input files, to check a resume)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def current_umask() -> int:
    """The process's file-creation mask (read from /proc where it can be, so nothing is changed)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def os_error_code(error: BaseException) -> int | None:
    """The errno of an OS failure, also when a library reports it in its own exception type
    (safetensors: "... (os error 28)"); None when `error` is not an OS failure."""
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno
    match = re.search(r"os error (\d+)", str(error))
    return int(match.group(1)) if match else None


def _naming(error: BaseException, path: Path) -> OSError:
    code = os_error_code(error)
    reason = os.strerror(code) if code is not None else str(error)
    return OSError(code, reason, str(path))


def strict_json(document: dict[str, Any], indent: int | None = None) -> str:
    """`document` as strict JSON text (RFC 8259: no NaN or Infinity, which strict readers refuse).

    A non-finite number becomes null, and the document's "undefined" object records why under
    the number's key path (a reason the document already gives there is kept).
    """
    clean, reasons = finite_json(document)
    if reasons:
        clean["undefined"] = {**reasons, **clean.get("undefined", {})}
    return json.dumps(clean, indent=indent, allow_nan=False)


def finite_json(value: Any, where: str = "") -> tuple[Any, dict[str, str]]:
    """`value` with each non-finite float replaced by None, and {key path: reason} for each."""
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            reason = "NaN: undefined for this signal"
        else:
            reason = "+Infinity: an exact match (PSNR, SNR)" if value > 0 else "-Infinity: unbounded below"
        return None, {where or "value": reason}
    if isinstance(value, dict):
        pairs = [(key, finite_json(item, f"{where}.{key}" if where else str(key))) for key, item in value.items()]
        return {key: item for key, (item, _) in pairs}, {k: v for _, (_, r) in pairs for k, v in r.items()}
    if isinstance(value, (list, tuple)):
        parts = [finite_json(item, f"{where}[{index}]") for index, item in enumerate(value)]
        return [item for item, _ in parts], {k: v for _, r in parts for k, v in r.items()}
    return value, {}


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}


@dataclass
class Representation:
    """A fitted field with its configuration and the metadata of the signal it represents."""

    field: MLPField | BatchedField | TiledField
    config: FieldConfig
    signal: dict[str, Any] = field(default_factory=dict)


def _field_meta(rep: Representation) -> dict[str, Any]:
    """The header entries that rebuild the field: its config, K for a batched field, and the tile
    layout too for a tiled one."""
    if isinstance(rep.field, TiledField):
        return {"field": rep.config.to_dict(), "count": rep.field.tiles.count, "tiles": rep.field.layout()}
    count = {"count": rep.field.count} if isinstance(rep.field, BatchedField) else {}
    return {"field": rep.config.to_dict(), **count}


def save_representation(path: str | Path, rep: Representation) -> None:
    """Write the field's tensors and metadata to one safetensors file, atomically."""
    meta = {"format": FORMAT, **_field_meta(rep), "signal": rep.signal}
    tensors = _contiguous(rep.field.state_dict())
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"sirenkit": json.dumps(meta)}))


def _read(path: str | Path, expected_format: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and sirenkit metadata of a safetensors file of `expected_format`. Its tensors take
    no more memory than the file's bytes (safetensors checks every tensor against them)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    try:
        data = path.read_bytes()  # one read: a file replaced meanwhile (a checkpoint) is seen whole, old or new
        tensors = load(data)
        header = _metadata(data)
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(f"{path} is not a readable safetensors file ({error})") from None
    except KeyError as error:  # safetensors.torch has no torch dtype for it
        raise InputError(f"{path} holds a tensor of dtype {error.args[0]}, which torch does not read") from None
    if "sirenkit" not in header:
        raise InputError(f"{path} is not a sirenkit checkpoint (no sirenkit metadata)")
    meta = json_document(header["sirenkit"], f"{path}: its sirenkit metadata")
    if not isinstance(meta, dict):
        raise InputError(f"{path} is not a sirenkit checkpoint (its sirenkit metadata is not a mapping)")
    if meta.get("format") != expected_format:
        raise InputError(f"{path} has format {_brief(meta.get('format'))}, expected {expected_format!r}")
    return tensors, meta


def _metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of a safetensors file's bytes (its header: 8 bytes of length, then JSON),
    once `load` has checked them."""
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length]).get("__metadata__") or {}


MAX_JSON_DEPTH = 32
"""The deepest nesting of lists and mappings a file's JSON may have: sirenkit's own documents nest
a few levels, and this bound keeps every reader of them far from Python's recursion limit."""


def json_document(text: str | bytes, what: str) -> Any:
    """`text` parsed as JSON; InputError saying `what` it is when it is not JSON (or not UTF-8) or
    nests deeper than MAX_JSON_DEPTH."""
    try:
        document = json.loads(text)
    except RecursionError:
        raise InputError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, a number of too many digits
        raise InputError(f"{what} is not JSON ({error})") from None
    if json_depth(document) > MAX_JSON_DEPTH:
        raise InputError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    return document


def json_depth(document: Any) -> int:
    """How deeply lists and mappings nest in a parsed JSON document (0 for a plain value), found
    without recursion."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            pending.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


# ---- signal metadata -------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """What one entry of a signal's metadata must be: a test, and the words a message says it in."""

    test: Callable[[Any], bool]
    says: str


MAX_COUNT = 2**53
"""The largest whole number a signal's metadata may hold (a size, a count, a rate): past it
float64 arithmetic on it is no longer exact, and no such signal could be held."""


def _whole(value: Any, low: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_COUNT


def _list_of(value: Any, count: int, test: Callable[[Any], bool]) -> bool:
    return isinstance(value, list) and len(value) == count and all(test(item) for item in value)


def _sizes(count: int) -> Entry:
    return Entry(lambda v: _list_of(v, count, _whole), f"a list of {count} whole numbers from 1 to 2^53")


def _extents(count: int) -> Entry:
    return Entry(
        lambda v: _list_of(v, count, lambda x: finite_number(x) and x >= 0),
        f"a list of {count} finite numbers at least 0",
    )


def _normalization(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and _list_of(value.get("center"), 3, finite_number)
        and POSITIVE.test(value.get("scale"))
    )


WHOLE = Entry(_whole, "a whole number from 1 to 2^53")
POSITIVE = Entry(lambda v: finite_number(v) and v > 0, "a positive finite number")
FINITE = Entry(finite_number, "a finite number")
TEXT = Entry(lambda v: isinstance(v, str), "text")
MAPPING = Entry(lambda v: isinstance(v, dict), "a mapping")
NORMALIZATION = Entry(_normalization, 'a mapping of "center" (3 finite numbers) and "scale" (a positive finite number)')

SIGNAL_ENTRIES: dict[str, dict[str, Entry]] = {
    "image": {"shape": _sizes(2), "channels": WHOLE},
    "audio": {"rate": WHOLE, "frames": WHOLE, "channels": WHOLE},
    "video": {"shape": _sizes(3), "channels": WHOLE, "fps": POSITIVE, "extents": _extents(3)},
    "volume": {"shape": _sizes(3), "channels": WHOLE, "low": FINITE, "high": FINITE},
    "sdf": {"normalization": NORMALIZATION},
    "pde": {"problem": TEXT, "parameters": MAPPING},
    "collection": {"member_kind": TEXT, "index": TEXT},
}
"""The entries each kind's readers take from a checkpoint's signal metadata, and what each must be."""
COMMON_ENTRIES = {"kind": TEXT, "source": TEXT}
"""Entries any signal's metadata may have: its kind, and the file it came from."""


def check_signal(signal: Any, complete: bool = False) -> dict[str, Any]:
    """`signal` when it is signal metadata sirenkit can read: a mapping whose every entry named in
    COMMON_ENTRIES, or in SIGNAL_ENTRIES for its kind, is what the table says (other entries are
    kept as they are); with `complete`, every entry of its kind must be there too. InputError,
    one line naming the first entry that is not, otherwise."""
    if not isinstance(signal, dict):
        raise InputError(f"the signal metadata must be a mapping, got {type(signal).__name__}")
    kind = signal.get("kind")
    entries = {**COMMON_ENTRIES, **SIGNAL_ENTRIES.get(kind if isinstance(kind, str) else "", {})}
    for key, entry in entries.items():
        if key in signal and not entry.test(signal[key]):
            raise InputError(f"the signal metadata's {key} must be {entry.says}, got {_brief(signal[key])}")
        if complete and key not in signal and key not in COMMON_ENTRIES:
            raise InputError(f"the signal metadata of this {kind} checkpoint has no {key}")
    return signal


def _brief(value: Any) -> str:
    """A value as a one-line message shows it: its JSON, cut short."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _signal(meta: dict[str, Any], path: str | Path) -> dict[str, Any]:
    try:
        return check_signal(meta.get("signal", {}))
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


# ---- the field -------------------------------------------------------------------------------


def _field_from(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any], path: str | Path
) -> tuple[MLPField | BatchedField | TiledField, FieldConfig]:
    """The field a file's metadata describes, holding the file's tensors. Nothing is allocated
    before the tensors are found to be those the metadata implies (`implied_tensors`): the field is
    built on the meta device and then given the tensors themselves."""
    try:
        config = FieldConfig.from_dict(meta.get("field", {}))
    except InputError as error:
        raise InputError(f"{path}: bad field configuration ({error})") from None
    count = meta.get("count")
    if count is not None and not (isinstance(count, int) and not isinstance(count, bool) and count >= 1):
        raise InputError(f"{path}: bad field count {_brief(count)}")
    with torch.device("meta"):
        single = build_field(config)
    prefix = "tiles." if "tiles" in meta else ""  # a TiledField's state is its tiles'
    implied = {prefix + name: shape for name, shape in implied_tensors(single, count).items()}
    mismatch = tensor_mismatch(tensors, implied)
    if mismatch is not None:
        raise InputError(f"{path}: weights do not match the field configuration ({mismatch})")
    field_ = single if count is None else stack_fields([single] * count)
    field_.load_state_dict({name[len(prefix) :]: t for name, t in tensors.items()}, strict=True, assign=True)
    if prefix:
        return _tiled(field_, meta["tiles"], config.in_dim, path), config
    return field_, config


def implied_tensors(single: MLPField, count: int | None = None) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Name → (shape, dtype) of every tensor in the state of `single`, or of `count` fields like it
    stacked (a `BatchedField`: each shape with a leading K); `single` may live on the meta device."""
    lead = () if count is None else (count,)
    return {name: (lead + tuple(t.shape), t.dtype) for name, t in single.state_dict().items()}


def tensor_mismatch(
    tensors: dict[str, torch.Tensor], implied: dict[str, tuple[tuple[int, ...], torch.dtype]]
) -> str | None:
    """How `tensors` differ from the names, shapes and dtypes `implied`; None when they do not."""
    differences = (("missing", set(implied) - set(tensors)), ("unexpected", set(tensors) - set(implied)))
    parts = [f"{word} {', '.join(sorted(names)[:3])}" for word, names in differences if names]
    if parts:
        return "; ".join(parts)
    for name, (shape, dtype) in implied.items():
        found = tensors[name]
        if tuple(found.shape) != shape or found.dtype != dtype:
            return f"{name} is {_described(tuple(found.shape), found.dtype)}, not {_described(shape, dtype)}"
    return None


def _described(shape: tuple[int, ...], dtype: torch.dtype) -> str:
    return f"{'x'.join(map(str, shape)) or 'a scalar'} {str(dtype).removeprefix('torch.')}"


def _tiled(tiles: MLPField | BatchedField, layout: Any, dims: int, path: str | Path) -> TiledField:
    problem = tile_layout_problem(layout, dims, tiles.count if isinstance(tiles, BatchedField) else None)
    if problem is not None:
        raise InputError(f"{path}: bad tile layout ({problem})")
    try:
        return TiledField(
            tiles,
            tuple(layout["shape"]),
            tuple(layout["tile_shape"]),
            [tuple(start) for start in layout["starts"]],
            layout["overlap"],
            layout.get("extents"),
            layout.get("tile_extents"),
        )
    except ValueError as error:
        raise InputError(f"{path}: bad tile layout ({error})") from None


def tile_layout_problem(layout: Any, dims: int, count: int | None) -> str | None:
    """What is wrong with a tile layout (`TiledField.layout`'s form) for `count` tiles of a field of
    `dims` coordinates, or None: a grid `shape` of `dims` sizes, a `tile_shape` that fits in it, one
    start per tile inside the grid, on as many grid points as there are tiles, a whole `overlap`,
    and `extents` and `tile_extents` (when given) of `dims` finite numbers at least 0."""
    if not isinstance(layout, dict) or not {"shape", "tile_shape", "starts", "overlap"} <= set(layout):
        return "it must be a mapping of shape, tile_shape, starts and overlap"
    if count is None:
        return "tiles need a field count"
    shape, tile, starts = layout["shape"], layout["tile_shape"], layout["starts"]
    if not (_sizes(dims).test(shape) and _sizes(dims).test(tile) and all(t <= n for t, n in zip(tile, shape))):
        return f"shape and tile_shape must be {dims} sizes each, the tile no larger than the grid"
    if not (isinstance(starts, list) and len(starts) == count and all(_inside(start, tile, shape) for start in starts)):
        return f"starts must be {count} lists of {dims} whole numbers placing each tile inside the grid"
    if math.prod(len({start[axis] for start in starts}) for axis in range(dims)) != count:
        return "the tiles' starts must be a grid"
    if not _whole(layout["overlap"], 0):
        return "overlap must be a whole number"
    for key in ("extents", "tile_extents"):
        if layout.get(key) is not None and not _extents(dims).test(layout[key]):
            return f"{key} must be {_extents(dims).says}"
    return None


def _inside(start: Any, tile: list[int], shape: list[int]) -> bool:
    """Whether `start` places a tile of `tile` samples per axis inside a grid of `shape`."""
    return _list_of(start, len(shape), lambda s: _whole(s, 0)) and all(
        s + t <= n for s, t, n in zip(start, tile, shape)
    )


def load_representation(path: str | Path) -> Representation:
    """Read a file written by `save_representation`; InputError if it is missing, corrupt or foreign."""
    tensors, meta = _read(path, FORMAT)
    field_, config = _field_from(tensors, meta, path)
    return Representation(field_, config, _signal(meta, path))


@dataclass
class TrainState:
    """What a resumed run needs: the representation, optimizer state, sampler RNG state and step."""

    representation: Representation
    optimizer: dict[str, Any]
    rng_state: torch.Tensor
    step: int
    extra: dict[str, Any] = field(default_factory=dict)


def save_train_state(path: str | Path, state: TrainState) -> None:
    """Write a resumable checkpoint atomically. Optimizer state, per parameter index and slot name:
    tensors keyed `optimizer.<param>.<name>`, 0-dim tensors as numbers (`optimizer_scalars`),
    Python numbers as themselves (`optimizer_numbers`), and lists of tensors or None (L-BFGS's
    history) as tensors keyed `optimizer.<param>.<name>.<k>` with their layout (`optimizer_lists`)."""
    tensors = {f"field.{k}": v for k, v in state.representation.field.state_dict().items()}
    scalars: dict[str, dict[str, float]] = {}
    numbers: dict[str, dict[str, float | int]] = {}
    lists: dict[str, dict[str, list[bool]]] = {}
    for index, slots in state.optimizer["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value) and value.dim() > 0:
                tensors[f"optimizer.{index}.{name}"] = value
            elif torch.is_tensor(value):
                scalars.setdefault(str(index), {})[name] = float(value)
            elif isinstance(value, (list, tuple)):
                lists.setdefault(str(index), {})[name] = [item is not None for item in value]
                tensors.update({f"optimizer.{index}.{name}.{k}": v for k, v in enumerate(value) if v is not None})
            else:
                numbers.setdefault(str(index), {})[name] = value
    tensors["rng_state"] = state.rng_state
    meta = {
        "format": TRAIN_FORMAT,
        **_field_meta(state.representation),
        "signal": state.representation.signal,
        "param_groups": state.optimizer["param_groups"],
        "optimizer_scalars": scalars,
        "optimizer_numbers": numbers,
        "optimizer_lists": lists,
        "step": state.step,
        "extra": state.extra,
    }
    tensors = _contiguous(tensors)
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"sirenkit": json.dumps(meta)}))


def load_train_state(path: str | Path) -> TrainState:
    """Read a file written by `save_train_state`; InputError if it is missing, corrupt or foreign,
    or its optimizer state, random state, step or extra entries are not of that layout."""
    tensors, meta = _read(path, TRAIN_FORMAT)
    field_tensors = {k[len("field.") :]: v for k, v in tensors.items() if k.startswith("field.")}
    field_, config = _field_from(field_tensors, meta, path)
    representation = Representation(field_, config, _signal(meta, path))
    try:
        optimizer = _optimizer_state(tensors, meta, len(list(field_.parameters())))
        rng_state = _rng_state(tensors.get("rng_state"))
    except InputError as error:
        raise InputError(f"{path}: bad training state ({error})") from None
    step, extra = meta.get("step"), meta.get("extra", {})
    if not _whole(step, 0):
        raise InputError(f"{path}: bad training state (step must be a whole number, got {_brief(step)})")
    if not isinstance(extra, dict):
        raise InputError(f"{path}: bad training state (extra must be a mapping, got {_brief(extra)})")
    return TrainState(representation, optimizer, rng_state, step, extra)


SLOT_INDEX = re.compile(r"0|[1-9][0-9]{0,17}")
"""How a parameter's index is written in tensor names and metadata keys (below 10^18)."""


def _parameter(text: str, parameters: int) -> bool:
    """Whether `text` writes the index of one of `parameters` parameters."""
    return SLOT_INDEX.fullmatch(text) is not None and int(text) < parameters


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any], parameters: int) -> dict[str, Any]:
    """The optimizer's `state_dict` from `save_train_state`'s layout, for a field of `parameters`
    parameters: param_groups that number them 0 … parameters − 1 once each, slots only of those,
    numbers as numbers, and every tensor a list names present; InputError saying what is not."""
    groups = meta.get("param_groups")
    if not (
        isinstance(groups, list) and all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups)
    ):
        raise InputError("param_groups must be a list of mappings, each with its params")
    indices = [index for group in groups for index in group["params"]]
    if not (all(_whole(index, 0) for index in indices) and sorted(indices) == list(range(parameters))):
        raise InputError(f"param_groups must number the field's {parameters} parameters once each")
    slots: dict[int, dict[str, Any]] = {}
    listed = set()
    for index, name, present in _entries(meta, "optimizer_lists", parameters):
        if not (isinstance(present, list) and all(isinstance(there, bool) for there in present)):
            raise InputError(f"optimizer_lists {index}.{name} must be a list of true or false")
        keys = [f"optimizer.{index}.{name}.{k}" if there else None for k, there in enumerate(present)]
        if any(key is not None and key not in tensors for key in keys):
            raise InputError(f"optimizer_lists {index}.{name} names a tensor the file does not hold")
        listed.update(key for key in keys if key is not None)
        slots.setdefault(index, {})[name] = [tensors[key] if key is not None else None for key in keys]
    for key, value in tensors.items():
        if key.startswith("optimizer.") and key not in listed:
            parts = key.split(".")
            if not (len(parts) == 3 and _parameter(parts[1], parameters) and parts[2]):
                raise InputError(f"the tensor {key} is not part of the optimizer's state")
            slots.setdefault(int(parts[1]), {})[parts[2]] = value
    for index, name, value in _entries(meta, "optimizer_scalars", parameters):
        if not isinstance(value, float):
            raise InputError(f"optimizer_scalars {index}.{name} must be a floating-point number")
        slots.setdefault(index, {})[name] = torch.tensor(value)
    for index, name, value in _entries(meta, "optimizer_numbers", parameters):
        if not (value is None or isinstance(value, (int, float)) and not isinstance(value, bool)):
            raise InputError(f"optimizer_numbers {index}.{name} must be a number or null")
        slots.setdefault(index, {})[name] = value
    return {"state": slots, "param_groups": groups}


def _entries(meta: dict[str, Any], key: str, parameters: int) -> list[tuple[int, str, Any]]:
    """(parameter index, slot name, value) of one of `save_train_state`'s optimizer mappings
    {index: {name: value}}; InputError unless it has that form for a field of `parameters` parameters."""
    table = meta.get(key, {})
    if not (isinstance(table, dict) and all(isinstance(slots, dict) for slots in table.values())):
        raise InputError(f"{key} must be a mapping of parameter indices to mappings")
    for index in table:
        if not _parameter(index, parameters):
            raise InputError(f"{key} has an entry for {_brief(index)}, not one of the {parameters} parameters")
    return [(int(index), name, value) for index, slots in table.items() for name, value in slots.items()]


def _rng_state(state: torch.Tensor | None) -> torch.Tensor:
    """`state` when the sampler's random generator (a CPU `torch.Generator`) takes it."""
    if state is None:
        raise InputError("there is no rng_state")
    try:
        torch.Generator().set_state(state)
    except (RuntimeError, TypeError) as error:
        raise InputError(f"rng_state is not a random generator's state ({error})") from None
    return state
