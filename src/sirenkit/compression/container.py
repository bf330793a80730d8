"""The compressed file: a representation as quantized, entropy-coded weights.

Layout (every byte counts toward the file's rate):

    "SKZ"  version (1 byte)  CRC-32 of the body (4 bytes, big-endian)  brotli(body)

and the body, before brotli, is

    header length (2 bytes, big-endian)  header (UTF-8 JSON)  scales  symbols

The header names the kind (the registry's name, as a checkpoint records it), the signal's numeric
metadata (its shape, channels, bit depth, sample rate: whatever numbers the kind records, no text),
the field settings that differ from `FieldConfig`'s defaults, and one [levels, per_channel] code
per tensor in `state_dict` order; the tensors' names and shapes follow from the field settings.
The scales are float32, little-endian. Each tensor's integers are offset by its levels to be
non-negative and stored in one byte plane (levels up to 127) or two, high plane first, so that
brotli (a kept entropy coder: LZ77 with context-modelled Huffman codes) sees the nearly constant
high bytes of a wide code together. Decoding is a pure function of the bytes: the same file gives the same weights.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, fields
from numbers import Real
from typing import Any

import brotli
import numpy as np
import torch

from sirenkit.compression.quantization import TensorCode, dequantize, named_tensors, quantize
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field
from sirenkit.store import Representation

MAGIC = b"SKZ"
VERSION = 1
PREFIX = len(MAGIC) + 1 + 4
BROTLI_QUALITY = 11
BROTLI_WINDOW = 24


@dataclass
class Quantized:
    """A field's tensors as integers and scales, with the codes that made them."""

    config: FieldConfig
    signal: dict[str, Any]
    codes: list[TensorCode]
    integers: list[torch.Tensor]
    scales: list[torch.Tensor]
    """Each tensor's scales as `quantization.scales` shapes them: (rows, 1) or (1,)."""

    @classmethod
    def of(cls, representation: Representation, codes: list[TensorCode]) -> Quantized:
        """Quantize every tensor of the representation's field by its code (`named_tensors` order),
        on the CPU."""
        tensors = named_tensors(representation.field)
        pairs = [quantize(t.detach().cpu(), code) for (_, t), code in zip(tensors, codes, strict=True)]
        return cls(
            representation.config,
            representation.signal,
            list(codes),
            [q for q, _ in pairs],
            [s for _, s in pairs],
        )

    def representation(self) -> Representation:
        """The field with every tensor read back as q·s, on the CPU in float32."""
        field_ = build_field(self.config)
        names = [name for name, _ in named_tensors(field_)]
        field_.load_state_dict(
            {name: dequantize(q, s) for name, q, s in zip(names, self.integers, self.scales, strict=True)}
        )
        return Representation(field_, self.config, dict(self.signal))


def signal_numbers(signal: dict[str, Any]) -> dict[str, Any]:
    """The kind and the numeric entries of a checkpoint's signal metadata: what a compressed file
    keeps (the source path and descriptive text are left out)."""
    return {key: value for key, value in signal.items() if key == "kind" or _numeric(value)}


def _numeric(value: Any) -> bool:
    if isinstance(value, list):
        return all(_numeric(v) for v in value)
    return isinstance(value, Real) and not isinstance(value, bool)


def encode(quantized: Quantized) -> bytes:
    """The compressed file's bytes."""
    defaults = FieldConfig()
    settings = {
        f.name: getattr(quantized.config, f.name)
        for f in fields(FieldConfig)
        if getattr(quantized.config, f.name) != getattr(defaults, f.name)
    }
    header = {
        "signal": signal_numbers(quantized.signal),
        "field": settings,
        "codes": [[code.levels, int(code.per_channel)] for code in quantized.codes],
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    scales = b"".join(s.numpy().astype("<f4").tobytes() for s in quantized.scales)
    symbols = b"".join(_planes(q, code) for q, code in zip(quantized.integers, quantized.codes, strict=True))
    body = len(text).to_bytes(2, "big") + text + scales + symbols
    compressed = brotli.compress(body, quality=BROTLI_QUALITY, lgwin=BROTLI_WINDOW)
    return MAGIC + bytes([VERSION]) + zlib.crc32(body).to_bytes(4, "big") + compressed


def plane_count(code: TensorCode) -> int:
    """Bytes per integer of `code`: one for levels up to 127, else two."""
    return 1 if 2 * code.levels < 256 else 2


def _planes(q: torch.Tensor, code: TensorCode) -> bytes:
    """q + levels as `plane_count` byte planes, high plane first."""
    values = (q.reshape(-1).numpy().astype(np.int64) + code.levels).astype(np.uint32)
    count = plane_count(code)
    return b"".join(((values >> (8 * k)) & 0xFF).astype(np.uint8).tobytes() for k in reversed(range(count)))


def decode(data: bytes, name: str = "the file") -> Quantized:
    """Read a compressed file's bytes; InputError naming `name` for a file that is foreign,
    of another version, truncated or corrupt."""
    if data[: len(MAGIC)] != MAGIC:
        raise InputError(f"{name} is not a sirenkit compressed file")
    if len(data) < PREFIX:
        raise InputError(f"{name} is truncated")
    if data[len(MAGIC)] != VERSION:
        raise InputError(
            f"{name} is a sirenkit compressed file of version {data[len(MAGIC)]}; this sirenkit reads version {VERSION}"
        )
    try:
        body = brotli.decompress(data[PREFIX:])
    except brotli.error:
        raise InputError(f"{name} is truncated or corrupt (its compressed data does not decode)") from None
    if zlib.crc32(body).to_bytes(4, "big") != data[len(MAGIC) + 1 : PREFIX]:
        raise InputError(f"{name} is corrupt (its checksum does not match)")
    try:
        return _parse(body)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise InputError(f"{name} is corrupt ({error})") from None


def _parse(body: bytes) -> Quantized:
    length = int.from_bytes(body[:2], "big")
    header = json.loads(body[2 : 2 + length])
    config = FieldConfig.from_dict(header["field"])
    codes = [TensorCode(int(levels), bool(per_channel)) for levels, per_channel in header["codes"]]
    tensors = named_tensors(build_field(config))
    if len(codes) != len(tensors):
        raise ValueError(f"{len(codes)} codes for {len(tensors)} tensors")
    offset = 2 + length
    scales = []
    for (_, tensor), code in zip(tensors, codes):
        count = code.scale_count(tensor.shape)
        scale = torch.from_numpy(np.frombuffer(body, "<f4", count, offset).astype(np.float32))
        scales.append(scale.reshape(code.scale_shape(tensor.shape)))
        offset += 4 * count
    integers = []
    for (_, tensor), code in zip(tensors, codes):
        count, planes = tensor.numel(), plane_count(code)
        raw = np.frombuffer(body, np.uint8, count * planes, offset).reshape(planes, count).astype(np.int64)
        offset += count * planes
        values = np.zeros(count, np.int64)
        for plane in raw:
            values = (values << 8) | plane
        integers.append(torch.from_numpy(values - code.levels).to(torch.int32).reshape(tensor.shape))
    if offset != len(body):
        raise ValueError(f"{len(body) - offset} bytes left over after the last tensor")
    if any((q.abs() > code.levels).any() for q, code in zip(integers, codes)):
        raise ValueError("an integer is out of its code's range")
    if not all(torch.isfinite(s).all() for s in scales):
        raise ValueError("a scale is not finite")
    return Quantized(config, header["signal"], codes, integers, scales)
