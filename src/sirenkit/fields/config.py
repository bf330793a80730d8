"""Typed configuration of a field and the registry that builds one from it by name."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from sirenkit.errors import InputError
from sirenkit.fields.mlp import MLPField


@dataclass(frozen=True)
class FieldConfig:
    """Everything needed to rebuild a field; saved next to its weights."""

    model: str = "siren"
    """Network kind: siren, relu, tanh, relu-pe (ReLU + NeRF positional encoding) or ff (ReLU + Gaussian Fourier features)."""
    in_dim: int = 2
    """Coordinate dimension d (1 audio, 2 image, 3 video or shape)."""
    out_dim: int = 1
    """Output channels (1 gray, 3 RGB, 1 signed distance)."""
    width: int = 256
    """Features per hidden layer."""
    depth: int = 3
    """Hidden width×width layers; depth=3 is the paper's "3 hidden layers": 5 linear layers in all."""
    omega0: float = 30.0
    """SIREN: frequency ω0 of the first sine layer (the paper uses 30; ~3000 for audio)."""
    omega0_hidden: float = 30.0
    """SIREN: frequency ω0 of the hidden sine layers (30 in the paper)."""
    pe_octaves: int | None = None
    """relu-pe: octaves L of the positional encoding; unset, the recipes apply the official code's
    Nyquist rule to the signal (6 for 256 samples per side)."""
    ff_features: int = 256
    """ff: number of random Fourier features (Tancik et al. 2020 use 256)."""
    ff_scale: float = 10.0
    """ff: standard deviation σ of the Gaussian frequencies, in cycles per unit (Tancik: 10)."""

    def __post_init__(self) -> None:
        if self.model not in FIELD_BUILDERS:
            raise InputError(f"unknown model {self.model!r}; choose one of {', '.join(FIELD_BUILDERS)}")
        for name in ("in_dim", "out_dim", "width", "pe_octaves", "ff_features"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.depth < 0:
            raise InputError(f"depth must be at least 0, got {self.depth}")
        for name, largest in LARGEST.items():
            if getattr(self, name) is not None and getattr(self, name) > largest:
                raise InputError(f"{name.replace('_', '-')} must be at most {largest}, got {getattr(self, name)}")
        for name in ("omega0", "omega0_hidden", "ff_scale"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> FieldConfig:
        """The config a file records (`to_dict`'s form, any entry left out taking its default);
        InputError for anything else: not a mapping, an unknown setting, a value of the wrong
        type (a whole number where one is expected, a finite number for the frequencies and
        scales), or one out of range."""
        if not isinstance(data, dict):
            raise InputError(f"field settings must be a mapping, got {type(data).__name__}")
        kinds = {f.name: ANNOTATED[f.type] for f in fields(cls)}
        unknown = set(data) - set(kinds)
        if unknown:
            raise InputError(f"unknown field settings {sorted(unknown)}")
        for name, value in data.items():
            if not _of_type(value, kinds[name]):
                raise InputError(f"field setting {name} must be {kinds[name]}, got {value!r}")
        return cls(**{name: float(value) if kinds[name] == NUMBER else value for name, value in data.items()})


LARGEST = {"in_dim": 16, "pe_octaves": 32, "depth": 1024, "out_dim": 2**24, "width": 2**24, "ff_features": 2**24}
"""The most each size may be, so that what a file states stays buildable: coordinates are few
(sirenkit's signals and problems have 1 to 4, and the positional encoding builds octaves × in_dim
rows one by one); float32 coordinates hold 24 significant bits, so octaves past that see only
rounding; every layer is a module of its own; and with features up to 2^24 every tensor's element
count stays far inside the 64-bit range torch counts in (a width×width layer of 2^24 is already
2^50 bytes). Files are checked against the bytes they hold (`store`, `compression.container`);
these bounds keep that check itself cheap."""

WHOLE, NUMBER, TEXT, WHOLE_OR_NONE = "a whole number", "a finite number", "text", "a whole number or null"
ANNOTATED = {"int": WHOLE, "float": NUMBER, "str": TEXT, "int | None": WHOLE_OR_NONE}
"""What a file's value of a setting must be, by the setting's annotation (`FieldConfig.from_dict`)."""


def _of_type(value: Any, kind: str) -> bool:
    if kind == TEXT:
        return isinstance(value, str)
    if kind == NUMBER:
        return finite_number(value)
    return (kind == WHOLE_OR_NONE and value is None) or (isinstance(value, int) and not isinstance(value, bool))


def finite_number(value: Any) -> bool:
    """Whether a value read from a file is a finite number: a finite float, or an int (not a bool)
    of at most 2^53 in size, so that it converts to a float exactly."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**53


FieldBuilder = Callable[[FieldConfig, torch.Generator], MLPField]
FIELD_BUILDERS: dict[str, FieldBuilder] = {}


def register_field(name: str) -> Callable[[FieldBuilder], FieldBuilder]:
    """Decorator: make a builder available as `--model NAME`."""

    def add(builder: FieldBuilder) -> FieldBuilder:
        FIELD_BUILDERS[name] = builder
        return builder

    return add


def build_field(config: FieldConfig, *, seed: int = 0) -> MLPField:
    """A freshly initialized field; the same config and seed give the same weights."""
    generator = torch.Generator().manual_seed(seed)
    return FIELD_BUILDERS[config.model](config, generator)
