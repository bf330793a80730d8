"""Building fields from a `FieldConfig` (`fields/config.py`): every model's shapes, seeds, bad settings."""

from __future__ import annotations

import pytest
import torch

from sirenkit.fields import FIELD_BUILDERS, FieldConfig, build_field


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


@pytest.mark.parametrize("bad", [{"width": 0}, {"depth": -1}, {"omega0": 0.0}, {"model": "nope"}])
def test_bad_field_settings_are_input_errors(bad):
    from sirenkit.errors import InputError

    with pytest.raises(InputError):
        FieldConfig(**bad)
