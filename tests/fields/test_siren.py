"""SIREN (`fields/siren.py`): the paper's initialization, its statistics, and its weight bounds."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

from sirenkit.fields import FieldConfig, Sine, build_field


def arcsine_cdf(y: np.ndarray) -> np.ndarray:
    return 0.5 + np.arcsin(np.clip(y, -1, 1)) / np.pi


def hidden_statistics(field) -> tuple[list[float], list[float]]:
    """Per hidden layer: std of the pre-activation ω0·W·h (no bias), and the KS distance of sin(...) to arcsine."""
    x = torch.rand(4096, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    stds, distances = [], []
    with torch.no_grad():
        h = field.layers[0](x)
        for layer in field.layers[1:]:
            pre = layer.activation.omega0 * (h @ layer.weight.t())
            stds.append(pre.std().item())
            h = layer(h)
            distances.append(stats.kstest(h.flatten().numpy()[::7], arcsine_cdf).statistic)
    return stds, distances


def passes_paper_init(field) -> bool:
    stds, distances = hidden_statistics(field)
    return all(abs(s - 1) < 0.1 for s in stds) and all(d < 0.03 for d in distances)


def test_siren_initialization_gives_unit_preactivations_and_arcsine_outputs():
    field = build_field(FieldConfig(model="siren", width=256, depth=5), seed=0)
    assert len(field.layers) == 6
    stds, distances = hidden_statistics(field)
    assert all(abs(s - 1) < 0.1 for s in stds), stds
    assert all(d < 0.03 for d in distances), distances


def test_the_same_check_fails_for_pytorch_default_initialization():
    field = build_field(FieldConfig(model="siren", width=256, depth=5), seed=0)
    with torch.no_grad():
        for layer in field.layers:
            torch.nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5))  # nn.Linear's default
    assert not passes_paper_init(field)


def test_first_layer_bound_and_hidden_bound_follow_the_paper():
    config = FieldConfig(model="siren", in_dim=3, width=64, depth=2, omega0=30, omega0_hidden=15)
    field = build_field(config, seed=0)
    assert field.layers[0].weight.abs().max() <= 1 / 3
    bound = math.sqrt(6 / 64) / 15
    for layer in [*field.layers[1:], field.head]:
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.9 * bound
    assert isinstance(field.layers[0].activation, Sine) and field.layers[0].activation.omega0 == 30
    assert field.layers[1].activation.omega0 == 15
