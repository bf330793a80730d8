"""Input encodings (`fields/encodings.py`): the positional encoding and its Nyquist rule."""

from __future__ import annotations

import math

import torch

from sirenkit.fields import nyquist_frequencies, positional


def test_positional_encoding_matches_nerf_formula():
    enc = positional(2, 3)
    x = torch.tensor([[0.25, -0.5]])
    out = enc(x)
    assert out.shape == (1, enc.out_dim) == (1, 2 + 2 * 2 * 3)
    expected_sin = [math.sin(2**k * math.pi * v) for k in range(3) for v in (0.25, -0.5)]
    torch.testing.assert_close(out[0, 2 : 2 + 6], torch.tensor(expected_sin))


def test_nyquist_rule_of_the_official_code():
    assert nyquist_frequencies(256) == 6
    assert nyquist_frequencies(512) == 7
