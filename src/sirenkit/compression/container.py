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
It inflates no more than the header implies, and checks the header before it allocates (`decode`).
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, fields
from numbers import Real
from typing import Any

import brotli
import numpy as np
import torch

from sirenkit.compression.quantization import MAX_LEVELS, TensorCode, dequantize, named_tensors, quantize
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field
from sirenkit.resources import Request, require
from sirenkit.store import Representation, check_signal, json_document

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


DECODED_VALUE_BYTES = 16
"""Memory per weight while a file is decoded and its field built, at most: the int32 integer kept
(4 bytes), and either the int32 sum of its byte planes and two int32 temporaries of the join (12),
or later the field's float32 weight and the float32 q·s product it is loaded from (8)."""
BODY_BUFFERS = 3
"""Memory per byte of the body while it is inflated: brotli's output buffer grows by doubling, so
it may hold up to about twice the bytes asked for, and the bytearray they are gathered in one more."""


def decode(data: bytes, name: str = "the file") -> Quantized:
    """Read a compressed file's bytes; InputError naming `name` for a file that is foreign, of
    another version, truncated or corrupt, or whose field would not fit in memory.

    Nothing is inflated or allocated past what the header implies: first the header's length and
    the header, then, once the header is found sound and the memory its field needs is there
    (`resources.require`), the body its tensors need and one byte more, to tell that nothing else
    follows. The checksum is then compared with the body.
    """
    if data[: len(MAGIC)] != MAGIC:
        raise InputError(f"{name} is not a sirenkit compressed file")
    if len(data) < PREFIX:
        raise InputError(f"{name} is truncated")
    if data[len(MAGIC)] != VERSION:
        raise InputError(
            f"{name} is a sirenkit compressed file of version {data[len(MAGIC)]}; this sirenkit reads version {VERSION}"
        )
    stream = _Inflation(data[PREFIX:], name)
    length = int.from_bytes(stream.read(2)[:2], "big")
    body = stream.read(2 + length)
    if len(body) < 2 + length:
        raise InputError(f"{name} is truncated or corrupt (its header is cut short)")
    layout = _layout(bytes(body[2 : 2 + length]), name)
    size = 2 + length + layout.body_bytes()
    require(
        Request(
            BODY_BUFFERS * size + DECODED_VALUE_BYTES * layout.values(),
            f"decoding {name} (a {layout.config.model} field of {layout.values():,} weights)",
            "the width or depth of the field it holds",
        )
    )
    body = stream.read(size + 1)
    if len(body) > size:
        raise InputError(f"{name} is corrupt (its data runs on past the tensors its header lists)")
    if len(body) < size or not stream.finished:
        raise InputError(f"{name} is truncated or corrupt (its compressed data does not decode)")
    if zlib.crc32(body).to_bytes(4, "big") != data[len(MAGIC) + 1 : PREFIX]:
        raise InputError(f"{name} is corrupt (its checksum does not match)")
    try:
        return _parse(memoryview(body)[2 + length :], layout)
    except ValueError as error:
        raise InputError(f"{name} is corrupt ({error})") from None


class _Inflation:
    """A brotli stream, inflated only as far as it is read; `name` is the file's, for messages."""

    def __init__(self, compressed: bytes, name: str) -> None:
        self._decompressor = brotli.Decompressor()
        self._input = compressed
        self._output = bytearray()
        self._name = name

    @property
    def finished(self) -> bool:
        """Whether the stream has ended (its last block is read)."""
        return self._decompressor.is_finished()

    def read(self, limit: int) -> bytearray:
        """The output so far, inflated until it holds `limit` bytes or the stream or its input ends;
        brotli may hand back up to about twice what is still asked for. InputError where the
        stream does not decode."""
        while len(self._output) < limit and not self.finished:
            try:
                chunk = self._decompressor.process(self._input, output_buffer_limit=limit - len(self._output))
            except brotli.error:
                raise InputError(
                    f"{self._name} is truncated or corrupt (its compressed data does not decode)"
                ) from None
            self._input = b""
            if not chunk:  # all input used: the stream is cut short
                break
            self._output += chunk
        return self._output


@dataclass(frozen=True)
class _Layout:
    """What a file's header says: the signal's metadata, the field, and each tensor's code and shape."""

    signal: dict[str, Any]
    config: FieldConfig
    codes: list[TensorCode]
    shapes: list[tuple[int, ...]]

    def values(self) -> int:
        """The weights of every tensor."""
        return sum(math.prod(shape) for shape in self.shapes)

    def body_bytes(self) -> int:
        """Bytes of the scales and symbols that follow the header."""
        return sum(
            4 * code.scale_count(shape) + math.prod(shape) * plane_count(code)
            for code, shape in zip(self.codes, self.shapes)
        )


def _layout(text: bytes, name: str) -> _Layout:
    """The header's layout, checked before anything it implies is allocated: the tensor shapes
    come from the field built on the meta device. InputError naming `name` for a header that is
    not a mapping of sound signal metadata, field settings and one code per tensor."""
    header = json_document(text, f"{name} is corrupt: its header")
    if not isinstance(header, dict):
        raise InputError(f"{name} is corrupt (its header is not a mapping)")
    try:
        signal = check_signal(header.get("signal"))
        config = FieldConfig.from_dict(header.get("field"))
    except InputError as error:
        raise InputError(f"{name} is corrupt ({error})") from None
    with torch.device("meta"):
        shapes = [tuple(tensor.shape) for _, tensor in named_tensors(build_field(config))]
    codes = header.get("codes")
    if not (isinstance(codes, list) and len(codes) == len(shapes) and all(_code_entry(code) for code in codes)):
        raise InputError(
            f"{name} is corrupt (its header must give {len(shapes)} codes [levels from 1 to {MAX_LEVELS}, 0 or 1])"
        )
    return _Layout(signal, config, [TensorCode(levels, bool(per_channel)) for levels, per_channel in codes], shapes)


def _code_entry(code: Any) -> bool:
    """Whether `code` is a header's [levels, per_channel] pair."""
    return (
        isinstance(code, list)
        and len(code) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in code)
        and 1 <= code[0] <= MAX_LEVELS
        and code[1] in (0, 1)
    )


def _parse(data: memoryview, layout: _Layout) -> Quantized:
    """The scales and integers after the header, exactly as many bytes as `layout.body_bytes()`;
    ValueError for a scale that is not finite or an integer out of its code's range."""
    offset, scales = 0, []
    for code, shape in zip(layout.codes, layout.shapes):
        count = code.scale_count(shape)
        scale = torch.from_numpy(np.frombuffer(data, "<f4", count, offset).astype(np.float32))
        scales.append(scale.reshape(code.scale_shape(shape)))
        offset += 4 * count
    integers = []
    for code, shape in zip(layout.codes, layout.shapes):
        count, planes = math.prod(shape), plane_count(code)
        raw = np.frombuffer(data, np.uint8, count * planes, offset).reshape(planes, count)
        offset += count * planes
        values = np.zeros(count, np.int32)
        for plane in raw:
            values = (values << 8) | plane
        integers.append(torch.from_numpy(values - code.levels).reshape(shape))
    if any((q.abs() > code.levels).any() for q, code in zip(integers, layout.codes)):
        raise ValueError("an integer is out of its code's range")
    if not all(torch.isfinite(s).all() for s in scales):
        raise ValueError("a scale is not finite")
    return Quantized(layout.config, layout.signal, layout.codes, integers, scales)
