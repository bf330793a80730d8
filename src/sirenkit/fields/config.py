"""Typed configuration of a field and the registry that builds one from it by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

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
        for name in ("omega0", "omega0_hidden", "ff_scale"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FieldConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"unknown field settings {sorted(unknown)}")
        return cls(**data)


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
