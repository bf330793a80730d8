"""Baselines of the same width and depth as a SIREN: ReLU, tanh, ReLU + positional encoding,
ReLU + Gaussian Fourier features."""

from __future__ import annotations

import torch

from sirenkit.errors import InputError
from sirenkit.fields.activations import Activation, ReLU, Tanh
from sirenkit.fields.config import FieldConfig, register_field
from sirenkit.fields.encodings import Encoding, Identity, gaussian_fourier, positional
from sirenkit.fields.mlp import MLPField, dense_stack, init_default_bias_


def _mlp(
    config: FieldConfig,
    encoding: Encoding,
    activation: type[Activation],
    gain: str,
    generator: torch.Generator,
) -> MLPField:
    """Weights ~ N(0, std²) with He (ReLU) or Glorot (tanh) std, as the official baselines use."""
    activations = [activation() for _ in range(config.depth + 1)]
    layers, head = dense_stack(encoding.out_dim, config.width, config.depth, config.out_dim, activations)
    for layer in [*layers, head]:
        fan_out, fan_in = layer.weight.shape
        std = (2 / fan_in) ** 0.5 if gain == "he" else (2 / (fan_in + fan_out)) ** 0.5
        with torch.no_grad():
            layer.weight.normal_(0.0, std, generator=generator)
        init_default_bias_(layer, generator)
    return MLPField(encoding, layers, head)


@register_field("relu")
def build_relu(config: FieldConfig, generator: torch.Generator) -> MLPField:
    return _mlp(config, Identity(config.in_dim), ReLU, "he", generator)


@register_field("tanh")
def build_tanh(config: FieldConfig, generator: torch.Generator) -> MLPField:
    return _mlp(config, Identity(config.in_dim), Tanh, "glorot", generator)


@register_field("relu-pe")
def build_relu_pe(config: FieldConfig, generator: torch.Generator) -> MLPField:
    if config.pe_octaves is None:
        raise InputError("relu-pe needs pe_octaves (see encodings.nyquist_frequencies)")
    return _mlp(config, positional(config.in_dim, config.pe_octaves), ReLU, "he", generator)


@register_field("ff")
def build_fourier_features(config: FieldConfig, generator: torch.Generator) -> MLPField:
    encoding = gaussian_fourier(config.in_dim, config.ff_features, config.ff_scale, generator=generator)
    return _mlp(config, encoding, ReLU, "he", generator)
