import pytest
import torch

from sirenkit.compression.container import MAGIC, PREFIX, VERSION, Quantized, decode, encode, signal_numbers
from sirenkit.compression.quantization import TensorCode, named_tensors
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field
from sirenkit.store import Representation

SIGNAL = {"kind": "image", "shape": [6, 8], "channels": 3, "bit_depth": 8, "source": "/home/me/photo.png"}


def quantized(bits: int = 8, per_channel: bool = False, width: int = 12) -> Quantized:
    config = FieldConfig(width=width, depth=2, out_dim=3, omega0=40.0)
    representation = Representation(build_field(config, seed=3), config, dict(SIGNAL))
    codes = [
        TensorCode.of_bits(16) if name.startswith("layers.0.") else TensorCode.of_bits(bits, per_channel)
        for name, _ in named_tensors(representation.field)
    ]
    return Quantized.of(representation, codes)


@pytest.mark.parametrize(("bits", "per_channel"), [(8, False), (5, True), (9, False), (12, True)])
def test_decoding_gives_back_every_integer_scale_and_setting(bits, per_channel):
    original = quantized(bits, per_channel)
    back = decode(encode(original))
    assert back.config == original.config
    assert back.codes == original.codes
    assert all(torch.equal(a, b) for a, b in zip(back.integers, original.integers))
    assert all(torch.equal(a, b) for a, b in zip(back.scales, original.scales))
    x = torch.rand(50, 2) * 2 - 1
    assert torch.equal(back.representation().field(x), original.representation().field(x))


def test_the_file_keeps_the_signals_numbers_and_not_its_text():
    back = decode(encode(quantized()))
    assert back.signal == {"kind": "image", "shape": [6, 8], "channels": 3, "bit_depth": 8}
    assert signal_numbers({"kind": "audio", "rate": 8000, "flag": True, "axes": "t"}) == {"kind": "audio", "rate": 8000}


def test_encoding_is_deterministic_and_entropy_codes_the_integers():
    q = quantized(6, width=48)
    data = encode(q)
    assert data == encode(quantized(6, width=48))
    assert data[: len(MAGIC)] == MAGIC and data[len(MAGIC)] == VERSION
    one_byte_each = sum(t.numel() for t in q.integers[2:]) + 2 * sum(t.numel() for t in q.integers[:2])
    assert len(data) < 0.85 * one_byte_each  # 6-bit integers stored a byte each: brotli takes out the rest


def test_foreign_truncated_corrupt_and_future_files_are_one_clear_error():
    data = encode(quantized())
    with pytest.raises(InputError, match="not a sirenkit compressed file"):
        decode(b"\x89PNG\r\n\x1a\n" + data)
    with pytest.raises(InputError, match="truncated"):
        decode(data[: PREFIX - 1])
    for cut in (PREFIX, len(data) // 2, len(data) - 1):
        with pytest.raises(InputError, match="truncated or corrupt|corrupt"):
            decode(data[:cut])
    for position in range(PREFIX, len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x10
        with pytest.raises(InputError, match="corrupt"):
            decode(bytes(damaged), "photo.skz")
    damaged = bytearray(data)
    damaged[len(MAGIC) + 2] ^= 1  # the checksum itself
    with pytest.raises(InputError, match="photo.skz is corrupt"):
        decode(bytes(damaged), "photo.skz")
    with pytest.raises(InputError, match="version 9"):
        decode(MAGIC + bytes([9]) + data[len(MAGIC) + 1 :])


def test_the_format_holds_any_kind():
    config = FieldConfig(in_dim=1, out_dim=1, width=8, depth=1, omega0=3000.0)
    signal = {"kind": "audio", "rate": 8000, "samples": 800, "normalization": "peak"}
    representation = Representation(build_field(config, seed=4), config, signal)
    codes = [TensorCode.of_bits(16) for _ in named_tensors(representation.field)]
    back = decode(encode(Quantized.of(representation, codes))).representation()
    assert back.signal == {"kind": "audio", "rate": 8000, "samples": 800}
    assert back.config == config
