"""Quantized, entropy-coded representations: the quantizers (`quantization`) and the file format
(`container`). The codec that fits, quantizes and fine-tunes is `recipes.compress`."""

from sirenkit.compression.container import Quantized, decode, encode
from sirenkit.compression.quantization import TensorCode, dequantize, fake_quantize, quantize

__all__ = ["Quantized", "TensorCode", "decode", "dequantize", "encode", "fake_quantize", "quantize"]
