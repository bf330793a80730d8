"""Uniform quantization of a field's tensors, and its straight-through form for training.

A tensor t is stored as integers q in [−L, L] and float32 scales s, and read back as q·s. L, the
code's `levels`, is any whole number up to 32767 (b-bit integers are L = 2^(b−1) − 1), so a rate
can be met finely. The scale is the largest |t| over the tensor, or over each output row of a
weight (`per_channel`), divided by L, so the extreme value is kept exactly and zero stays zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

MAX_LEVELS = 2**15 - 1


@dataclass(frozen=True)
class TensorCode:
    """How one tensor is quantized: integers in [−levels, levels], one scale per tensor or per
    output row."""

    levels: int
    per_channel: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.levels <= MAX_LEVELS:
            raise ValueError(f"levels must be in [1, {MAX_LEVELS}], got {self.levels}")

    @classmethod
    def of_bits(cls, bits: int, per_channel: bool = False) -> TensorCode:
        """The code of signed `bits`-bit integers: levels 2^(bits−1) − 1."""
        return cls(2 ** (bits - 1) - 1, per_channel)

    def scale_shape(self, shape: torch.Size | tuple[int, ...]) -> tuple[int, ...]:
        """The shape of a tensor's scales under this code: (rows, 1) per channel for a matrix,
        else (1,)."""
        return (shape[0], 1) if self.per_channel and len(shape) == 2 else (1,)

    def scale_count(self, shape: torch.Size | tuple[int, ...]) -> int:
        """How many scales a tensor of `shape` has under this code."""
        return math.prod(self.scale_shape(shape))


def scales(tensor: Tensor, code: TensorCode) -> Tensor:
    """The float32 scales of `tensor`, of shape `code.scale_shape(tensor.shape)`."""
    magnitude = tensor.detach().abs().float()
    shape = code.scale_shape(tensor.shape)
    largest = magnitude.amax(dim=1, keepdim=True) if len(shape) == 2 else magnitude.amax().reshape(shape)
    return torch.where(largest > 0, largest / code.levels, torch.ones_like(largest))


def quantize(tensor: Tensor, code: TensorCode) -> tuple[Tensor, Tensor]:
    """(q, s): int32 integers of `tensor`'s shape and its float32 `scales`."""
    scale = scales(tensor, code)
    q = torch.round(tensor.detach().float() / scale).clamp_(-code.levels, code.levels)
    return q.to(torch.int32), scale


def dequantize(q: Tensor, scale: Tensor) -> Tensor:
    """q·s in float32 (the same product on every run: one rounding per value)."""
    return q.float() * scale


def fake_quantize(tensor: Tensor, code: TensorCode) -> Tensor:
    """`tensor` rounded as `quantize` would, with the gradient passed straight through (the
    identity's), for quantization-aware training."""
    q, scale = quantize(tensor, code)
    return tensor + (dequantize(q, scale).to(tensor.dtype) - tensor).detach()


class _FakeQuantized(nn.Module):
    """A parametrization: the parameter as its `fake_quantize`d value."""

    def __init__(self, code: TensorCode) -> None:
        super().__init__()
        self.code = code

    def forward(self, tensor: Tensor) -> Tensor:
        return fake_quantize(tensor, self.code)


def named_tensors(field_: nn.Module) -> list[tuple[str, Tensor]]:
    """The field's tensors in `state_dict` order: the order a compressed file stores them in."""
    return list(field_.state_dict().items())


def add_fake_quantization(field_: nn.Module, codes: list[TensorCode]) -> None:
    """Make every parameter of `field_` read as its quantized value (`codes` in `named_tensors`
    order), so that training sees the rounding; `remove_fake_quantization` undoes it."""
    for (name, _), code in zip(named_tensors(field_), codes, strict=True):
        module_name, _, attribute = name.rpartition(".")
        parametrize.register_parametrization(field_.get_submodule(module_name), attribute, _FakeQuantized(code))


def remove_fake_quantization(field_: nn.Module) -> None:
    """Undo `add_fake_quantization`, keeping the trained float values (not their rounding)."""
    for module in list(field_.modules()):
        if parametrize.is_parametrized(module):
            for attribute in list(module.parametrizations):
                parametrize.remove_parametrizations(module, attribute, leave_parametrized=False)
