"""The volume recipe (`recipes/volume.py`): a constant volume, and the render at source size against the fit."""

from __future__ import annotations

import numpy as np

from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.recipes.volume import fit_volume, middle_slices, render_volume
from sirenkit.signals.volume import load_volume, volume_from_array
from sirenkit.store import load_representation


def test_a_constant_volume_renders_back_to_its_constant():
    volume = volume_from_array(np.full((3, 4, 5), 7.5, dtype=np.float32))
    outcome = fit_volume(volume, FieldConfig(width=8, depth=1), FitConfig(steps=2, checkpoint_every=0), quiet=True)
    assert np.all(outcome.reconstruction == 7.5)
    assert outcome.reconstruction.shape == (3, 4, 5, 1)


def test_render_of_a_volume_matches_the_fit_at_source_size(volume_npy, tmp_path):
    outcome = fit_volume(
        load_volume(volume_npy), FieldConfig(width=16, depth=1), FitConfig(steps=3), run_dir=tmp_path, quiet=True
    )
    loaded = load_representation(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(render_volume(loaded), outcome.reconstruction)
    assert middle_slices(outcome.reconstruction).shape == (20, 60, 1)
