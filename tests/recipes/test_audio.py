"""The audio recipe (`recipes/audio.py`): fits of a chirp and a real excerpt, renders at other rates."""

from __future__ import annotations

import pytest
import torch

from conftest import shared_file
from signal_helpers import RATE, chirp
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs.audio import audio_mse
from sirenkit.recipes.audio import fit_audio, render_audio
from sirenkit.signals import audio_from_array, load_audio

SMALL = FieldConfig(width=64, depth=2)


QUICK = FitConfig(steps=150, lr=1e-3, schedule="cosine", checkpoint_every=0)


def test_synthetic_chirp_is_fitted_above_25_db():
    audio = audio_from_array(chirp(), RATE)
    outcome = fit_audio(audio, SMALL, QUICK, quiet=True)
    assert outcome.snr_db > 25
    assert outcome.mse == pytest.approx(audio_mse(audio.samples, outcome.reconstruction))


def test_real_bach_excerpt_is_fitted_above_15_db():
    audio = load_audio(shared_file("audio/gt_bach.wav")).excerpt(start=1.0, seconds=0.1)
    assert audio.frames == 4410
    outcome = fit_audio(audio, SMALL, QUICK, quiet=True)
    assert outcome.snr_db > 15


def test_render_at_twice_the_rate_passes_through_the_source_samples():
    audio = audio_from_array(chirp(0.05), RATE)
    outcome = fit_audio(audio, SMALL, FitConfig(steps=5, checkpoint_every=0), quiet=True)
    representation = outcome.result.representation
    same, rate = render_audio(representation)
    double, rate2 = render_audio(representation, 2 * RATE)
    assert (rate, rate2) == (RATE, 2 * RATE)
    assert double.shape == (2 * audio.frames - 1, 1)
    torch.testing.assert_close(torch.from_numpy(double[::2]), torch.from_numpy(same), atol=1e-5, rtol=0)
