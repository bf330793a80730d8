"""The field: an encoding, dense layers with an activation each, and a linear head.

Shapes: coordinates x are (..., in_dim) — (N, d) or (B, N, d) — and Φ(x) is (..., out_dim).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from sirenkit.fields.activations import Activation
from sirenkit.fields.encodings import Encoding


class Dense(nn.Module):
    """h ↦ σ(h Wᵀ + b) with W of shape (out_dim, in_dim); σ is the identity when `activation` is None.

    Parameters start at zero; the field's initialization rule fills them.
    """

    def __init__(self, in_dim: int, out_dim: int, activation: Activation | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_dim, in_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.activation = activation

    @property
    def in_dim(self) -> int:
        return self.weight.shape[1]

    def forward(self, h: Tensor) -> Tensor:
        if self.activation is None:
            if h.dim() == 2:
                return torch.addmm(self.bias, h, self.weight.t())
            return torch.nn.functional.linear(h, self.weight, self.bias)
        return self.activation.of_affine(h, self.weight, self.bias)


class MLPField(nn.Module):
    """Φ(x) = head(layer_k(… layer_1(encoding(x)))).

    `layers` are the activated dense layers (the first one reads the encoding's features);
    `head` is the last, linear layer.
    """

    def __init__(self, encoding: Encoding, layers: list[Dense], head: Dense) -> None:
        super().__init__()
        if head.activation is not None:
            raise ValueError("the head of a field is linear")
        self.encoding = encoding
        self.layers = nn.ModuleList(layers)
        self.head = head

    @property
    def in_dim(self) -> int:
        return self.encoding.in_dim

    @property
    def out_dim(self) -> int:
        return self.head.weight.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        # The encoding and first layer read raw coordinates and always run in float32, also
        # under autocast: bfloat16 (8 significant bits) cannot tell neighbouring pixels apart.
        with torch.autocast(x.device.type, enabled=False):
            h = self.layers[0](self.encoding(x))
        for layer in self.layers[1:]:
            h = layer(h)
        return self.head(h).to(x.dtype)


def dense_stack(
    in_dim: int, width: int, depth: int, out_dim: int, activations: list[Activation]
) -> tuple[list[Dense], Dense]:
    """The activated layers (in_dim→width, then `depth` width→width) and the linear head.

    `activations` has depth + 1 entries, one per activated layer. Example: width=256, depth=3 is
    the SIREN paper's "3 hidden layers × 256": 4 activated layers and 5 linear layers in all.
    """
    if len(activations) != depth + 1:
        raise ValueError("one activation per activated layer is needed")
    sizes = [in_dim] + [width] * (depth + 1)
    layers = [Dense(a, b, act) for a, b, act in zip(sizes[:-1], sizes[1:], activations)]
    return layers, Dense(width, out_dim, None)


def init_default_bias_(layer: Dense, generator: torch.Generator | None) -> None:
    """Bias ~ U(−1/√n, 1/√n), n = fan-in: PyTorch's nn.Linear default, kept by the official code."""
    bound = 1 / math.sqrt(layer.in_dim)
    with torch.no_grad():
        layer.bias.uniform_(-bound, bound, generator=generator)


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """The module with every parameter's requires_grad off inside the block; each parameter's flag
    is restored as it was (a parameter frozen before stays frozen)."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
