"""Saving and loading representations and training state: safetensors + JSON metadata, never pickle.

A representation file (`model.safetensors`) holds the field's tensors and, in the safetensors
header, a JSON document {"format", "field": FieldConfig, "signal": {...}} describing how to
rebuild the field and what signal it represents; for a `BatchedField` of K fields it also holds
"count": K, and each tensor has a leading K axis (the packed export of a collection). A
training-state file adds the optimizer's tensors, the sampler's random state and the step, so
that a killed run resumes exactly.
Every file is written to a temporary name in the same folder and renamed into place.
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
from sirenkit.fields.batched import BatchedField, build_batched_field
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
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    try:
        data = path.read_bytes()  # one read: a file replaced meanwhile (a checkpoint) is seen whole, old or new
        tensors = load(data)
        header = _metadata(data)
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(f"{path} is not a readable safetensors file ({error})") from None
    try:
        meta = json.loads(header["sirenkit"])
    except (KeyError, json.JSONDecodeError):
        raise InputError(f"{path} is not a sirenkit checkpoint (no sirenkit metadata)") from None
    if meta.get("format") != expected_format:
        raise InputError(f"{path} has format {meta.get('format')!r}, expected {expected_format!r}")
    return tensors, meta


def _metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of a safetensors file's bytes (its header: 8 bytes of length, then JSON)."""
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length]).get("__metadata__") or {}


def _field_from(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any], path: str | Path
) -> tuple[MLPField | BatchedField | TiledField, FieldConfig]:
    try:
        config = FieldConfig.from_dict(meta.get("field", {}))
    except (InputError, TypeError) as error:
        raise InputError(f"{path}: bad field configuration ({error})") from None
    count = meta.get("count")
    if count is not None and not (isinstance(count, int) and count >= 1):
        raise InputError(f"{path}: bad field count {count!r}")
    field_ = build_field(config) if count is None else build_batched_field(config, [0] * count)
    if "tiles" in meta:
        field_ = _tiled(field_, meta["tiles"], path)
    try:
        field_.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"{path}: weights do not match the field configuration ({first})") from None
    return field_, config


def _tiled(tiles: MLPField | BatchedField, layout: Any, path: str | Path) -> TiledField:
    try:
        return TiledField(
            tiles,
            tuple(layout["shape"]),
            tuple(layout["tile_shape"]),
            [tuple(start) for start in layout["starts"]],
            int(layout["overlap"]),
            layout.get("extents"),
            layout.get("tile_extents"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(f"{path}: bad tile layout ({error})") from None


def load_representation(path: str | Path) -> Representation:
    """Read a file written by `save_representation`; InputError if it is missing, corrupt or foreign."""
    tensors, meta = _read(path, FORMAT)
    field_, config = _field_from(tensors, meta, path)
    return Representation(field_, config, meta.get("signal", {}))


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
    """Read a file written by `save_train_state`; InputError if it is missing, corrupt or foreign."""
    tensors, meta = _read(path, TRAIN_FORMAT)
    field_tensors = {k[len("field.") :]: v for k, v in tensors.items() if k.startswith("field.")}
    field_, config = _field_from(field_tensors, meta, path)
    slots: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer.") and key.count(".") == 2:
            _, index, name = key.split(".", 2)
            slots.setdefault(int(index), {})[name] = value
    for index, values in meta.get("optimizer_scalars", {}).items():
        for name, value in values.items():
            slots.setdefault(int(index), {})[name] = torch.tensor(value)
    for index, values in meta.get("optimizer_numbers", {}).items():
        slots.setdefault(int(index), {}).update(values)
    for index, values in meta.get("optimizer_lists", {}).items():
        for name, present in values.items():
            items = [tensors[f"optimizer.{index}.{name}.{k}"] if there else None for k, there in enumerate(present)]
            slots.setdefault(int(index), {})[name] = items
    optimizer = {"state": slots, "param_groups": meta["param_groups"]}
    representation = Representation(field_, config, meta.get("signal", {}))
    return TrainState(representation, optimizer, tensors["rng_state"], int(meta["step"]), meta.get("extra", {}))
