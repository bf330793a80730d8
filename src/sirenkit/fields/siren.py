"""SIREN: sine activations and the initialization of Sitzmann et al. 2020 (sec. 3.2, supp. 1.5)."""

from __future__ import annotations

import math

import torch

from sirenkit.fields.activations import Sine
from sirenkit.fields.config import FieldConfig, register_field
from sirenkit.fields.encodings import Identity
from sirenkit.fields.mlp import Dense, MLPField, dense_stack, init_default_bias_


def siren_init_(layer: Dense, omega0: float, first: bool, generator: torch.Generator) -> None:
    """W ~ U(−1/n, 1/n) for the first layer, U(−√(6/n)/ω0, √(6/n)/ω0) otherwise (n = fan-in).

    With this rule every pre-activation ω0·W·h of a hidden layer has unit standard deviation
    and every sine output follows the arcsine distribution on [−1, 1] (paper, sec. 3.2).
    `omega0` is the frequency of the layer that reads this layer's input, as in the official
    code. Biases keep PyTorch's default, as in the official code.
    """
    n = layer.in_dim
    bound = 1 / n if first else math.sqrt(6 / n) / omega0
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
    init_default_bias_(layer, generator)


@register_field("siren")
def build_siren(config: FieldConfig, generator: torch.Generator) -> MLPField:
    """sin(ω0·(Wx+b)) in every activated layer, linear head."""
    activations = [Sine(config.omega0)] + [Sine(config.omega0_hidden) for _ in range(config.depth)]
    layers, head = dense_stack(config.in_dim, config.width, config.depth, config.out_dim, activations)
    for i, layer in enumerate(layers):
        siren_init_(layer, config.omega0_hidden, first=i == 0, generator=generator)
    siren_init_(head, config.omega0_hidden, first=False, generator=generator)
    return MLPField(Identity(config.in_dim), layers, head)
