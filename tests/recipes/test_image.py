"""The image recipe (`recipes/image.py`) on a real crop: SIREN above 30 dB, a ReLU network of its size below 25."""

from __future__ import annotations

import pytest

from run_helpers import FAST
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.recipes.image import fit_image


@pytest.fixture(scope="module")
def siren_vs_relu(camera64):
    return {
        model: fit_image(camera64, FieldConfig(model=model), FitConfig(steps=300, **FAST), quiet=True)
        for model in ("siren", "relu")
    }


def test_siren_reaches_30_db_in_300_steps_on_a_real_crop(siren_vs_relu):
    assert siren_vs_relu["siren"].psnr >= 30


def test_relu_of_the_same_size_stays_below_25_db(siren_vs_relu):
    assert siren_vs_relu["relu"].psnr < 25
    assert siren_vs_relu["siren"].ssim > siren_vs_relu["relu"].ssim
