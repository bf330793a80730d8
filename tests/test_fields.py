"""Fields: the SIREN initialization, every model's shapes, encodings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from sirenkit.fields import FIELD_BUILDERS, FieldConfig, Sine, build_field, nyquist_frequencies, positional


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


@pytest.mark.parametrize("model", sorted(FIELD_BUILDERS))
@pytest.mark.parametrize("in_dim,out_dim", [(1, 1), (2, 3), (3, 2)])
def test_every_model_maps_coordinates_to_channels(model, in_dim, out_dim):
    config = FieldConfig(model=model, in_dim=in_dim, out_dim=out_dim, width=16, depth=2, pe_octaves=4, ff_features=8)
    field = build_field(config, seed=0)
    assert field(torch.rand(5, in_dim)).shape == (5, out_dim)
    assert field(torch.rand(2, 5, in_dim)).shape == (2, 5, out_dim)
    linear_layers = len(field.layers) + 1
    assert linear_layers == config.depth + 2


@pytest.mark.parametrize("model", sorted(FIELD_BUILDERS))
def test_same_seed_same_weights_other_seed_other_weights(model):
    config = FieldConfig(model=model, width=8, depth=1, pe_octaves=3, ff_features=4)
    a, b, c = (build_field(config, seed=s) for s in (3, 3, 4))
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


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


@pytest.mark.parametrize("bad", [{"width": 0}, {"depth": -1}, {"omega0": 0.0}, {"model": "nope"}])
def test_bad_field_settings_are_input_errors(bad):
    from sirenkit.errors import InputError

    with pytest.raises(InputError):
        FieldConfig(**bad)
