"""Saving and loading representations and training state: safetensors + JSON metadata, never pickle.

A representation file (`model.safetensors`) holds the field's tensors and, in the safetensors
header, a JSON document {"format", "field": FieldConfig, "signal": {...}} describing how to
rebuild the field and what signal it represents. A training-state file adds the optimizer's
tensors, the sampler's random state and the step, so that a killed run resumes exactly.
Every file is written to a temporary name in the same folder and renamed into place.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, MLPField, build_field

FORMAT = "sirenkit.representation/1"
TRAIN_FORMAT = "sirenkit.train-state/1"


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary path beside `path`, then rename it into place.

    A reader never sees a half-written file, and an existing file is replaced only on success.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}


@dataclass
class Representation:
    """A fitted field with its configuration and the metadata of the signal it represents."""

    field: MLPField
    config: FieldConfig
    signal: dict[str, Any] = field(default_factory=dict)


def save_representation(path: str | Path, rep: Representation) -> None:
    """Write the field's tensors and metadata to one safetensors file, atomically."""
    meta = {"format": FORMAT, "field": rep.config.to_dict(), "signal": rep.signal}
    tensors = _contiguous(rep.field.state_dict())
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"sirenkit": json.dumps(meta)}))


def _read(path: str | Path, expected_format: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(f"{path} is not a readable safetensors file ({error})") from None
    try:
        meta = json.loads(header["sirenkit"])
    except (KeyError, json.JSONDecodeError):
        raise InputError(f"{path} is not a sirenkit checkpoint (no sirenkit metadata)") from None
    if meta.get("format") != expected_format:
        raise InputError(f"{path} has format {meta.get('format')!r}, expected {expected_format!r}")
    return tensors, meta


def _field_from(tensors: dict[str, torch.Tensor], config_dict: dict, path: str | Path) -> tuple[MLPField, FieldConfig]:
    try:
        config = FieldConfig.from_dict(config_dict)
    except (InputError, TypeError) as error:
        raise InputError(f"{path}: bad field configuration ({error})") from None
    field_ = build_field(config)
    try:
        field_.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"{path}: weights do not match the field configuration ({first})") from None
    return field_, config


def load_representation(path: str | Path) -> Representation:
    """Read a file written by `save_representation`; InputError if it is missing, corrupt or foreign."""
    tensors, meta = _read(path, FORMAT)
    field_, config = _field_from(tensors, meta.get("field", {}), path)
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
    """Write a resumable checkpoint atomically (optimizer tensors keyed `optimizer.<param>.<name>`)."""
    tensors = {f"field.{k}": v for k, v in state.representation.field.state_dict().items()}
    scalars: dict[str, dict[str, float]] = {}
    for index, slots in state.optimizer["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value) and value.dim() > 0:
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = float(value)
    tensors["rng_state"] = state.rng_state
    meta = {
        "format": TRAIN_FORMAT,
        "field": state.representation.config.to_dict(),
        "signal": state.representation.signal,
        "param_groups": state.optimizer["param_groups"],
        "optimizer_scalars": scalars,
        "step": state.step,
        "extra": state.extra,
    }
    tensors = _contiguous(tensors)
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"sirenkit": json.dumps(meta)}))


def load_train_state(path: str | Path) -> TrainState:
    """Read a file written by `save_train_state`; InputError if it is missing, corrupt or foreign."""
    tensors, meta = _read(path, TRAIN_FORMAT)
    field_tensors = {k[len("field.") :]: v for k, v in tensors.items() if k.startswith("field.")}
    field_, config = _field_from(field_tensors, meta.get("field", {}), path)
    slots: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            slots.setdefault(int(index), {})[name] = value
    for index, values in meta.get("optimizer_scalars", {}).items():
        for name, value in values.items():
            slots.setdefault(int(index), {})[name] = torch.tensor(value)
    optimizer = {"state": slots, "param_groups": meta["param_groups"]}
    representation = Representation(field_, config, meta.get("signal", {}))
    return TrainState(representation, optimizer, tensors["rng_state"], int(meta["step"]), meta.get("extra", {}))
