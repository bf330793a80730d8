"""Input encodings: maps from coordinates x of shape (..., d) to features of shape (..., out_dim).

A field sizes its first layer from its encoding's `out_dim`. Every encoding also gives its
Jacobian and Laplacian in closed form (`jet`), for the forward-mode derivative path.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class Encoding(nn.Module):
    """Base class: `in_dim` coordinates in, `out_dim` features out."""

    in_dim: int
    out_dim: int

    def jet(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(γ(x), ∂γ/∂x, Δγ(x)) with shapes (..., out_dim), (..., out_dim, in_dim), (..., out_dim)."""
        raise NotImplementedError


class Identity(Encoding):
    """γ(x) = x."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.in_dim = self.out_dim = in_dim

    def forward(self, x: Tensor) -> Tensor:
        return x

    def jet(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        eye = torch.eye(self.in_dim, dtype=x.dtype, device=x.device)
        return x, eye.expand(*x.shape[:-1], self.in_dim, self.in_dim), torch.zeros_like(x)


class Sinusoidal(Encoding):
    """γ(x) = [x, sin(A x), cos(A x)] (x only if `include_input`) for a fixed frequency matrix A.

    A has shape (m, in_dim), in radians per unit of coordinate; out_dim = m·2 (+ in_dim).
    The matrix is a buffer, so it is saved with the field's weights.
    """

    def __init__(self, frequencies: Tensor, include_input: bool) -> None:
        super().__init__()
        self.register_buffer("frequencies", frequencies.to(torch.float32))
        self.include_input = include_input
        m, self.in_dim = frequencies.shape
        self.out_dim = 2 * m + (self.in_dim if include_input else 0)

    def forward(self, x: Tensor) -> Tensor:
        ax = x @ self.frequencies.transpose(-1, -2)
        parts = [x] if self.include_input else []
        return torch.cat([*parts, torch.sin(ax), torch.cos(ax)], dim=-1)

    def jet(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(γ(x), ∂γ/∂x, Δγ(x)): (..., out_dim), (..., out_dim, in_dim), (..., out_dim). The same rule
        serves K stacked matrices (K, m, d) on coordinates (K, N, d) (`fields.batched.BatchedSinusoidal`)."""
        a = self.frequencies  # (m, d), or (K, m, d)
        ax = x @ a.transpose(-1, -2)
        s, c = torch.sin(ax), torch.cos(ax)
        a2 = (a * a).sum(-1).unsqueeze(-2)  # (1, m), or (K, 1, m)
        per_point = a.unsqueeze(-3)  # (1, m, d), or (K, 1, m, d)
        value = [s, c]
        jac = [c.unsqueeze(-1) * per_point, -s.unsqueeze(-1) * per_point]
        lap = [-a2 * s, -a2 * c]
        if self.include_input:
            value.insert(0, x)
            jac.insert(0, Identity(self.in_dim).jet(x)[1])
            lap.insert(0, torch.zeros_like(x))
        return torch.cat(value, -1), torch.cat(jac, -2), torch.cat(lap, -1)


def nyquist_frequencies(samples: int) -> int:
    """Number of octaves L for positional encoding of a signal with `samples` per axis.

    The rule of the official SIREN code (`PosEncodingNeRF.get_num_frequencies_nyquist`): the
    highest octave 2^(L-1)·π stays below the Nyquist rate of `samples` points spread over [-1, 1].
    """
    nyquist_rate = samples / 4
    return max(1, int(math.floor(math.log2(nyquist_rate))))


def positional(in_dim: int, octaves: int) -> Sinusoidal:
    """NeRF positional encoding (Mildenhall et al. 2020): [x, sin(2^k π x_j), cos(2^k π x_j)], k < octaves."""
    rows = [(2.0**k) * math.pi * torch.eye(in_dim)[j] for k in range(octaves) for j in range(in_dim)]
    return Sinusoidal(torch.stack(rows), include_input=True)


def gaussian_fourier(
    in_dim: int, features: int, scale: float, *, generator: torch.Generator | None = None
) -> Sinusoidal:
    """Random Fourier features (Tancik et al. 2020): [sin(2π B x), cos(2π B x)], B ~ N(0, scale²).

    B has shape (features, in_dim); Tancik et al. use scale 10 and 256 features for images.
    """
    b = torch.randn(features, in_dim, generator=generator) * scale
    return Sinusoidal(2 * math.pi * b, include_input=False)
