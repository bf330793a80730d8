"""Poisson reconstruction and gradient-domain fusion (`recipes/gradient_domain.py`) on small real images."""

from __future__ import annotations

import numpy as np
import pytest

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.recipes.gradient_domain import BlendConfig, PoissonConfig, blend_images, reconstruct_image
from sirenkit.signals import image_from_array

FAST = FitConfig(steps=300, lr=1e-3, schedule="cosine", checkpoint_every=0)
"""The CLI's schedule (Adam at 1e-3 with cosine decay), cut to a CI budget."""


def test_gray_from_gradients_reaches_30_db(camera_small):
    outcome = reconstruct_image(camera_small, FieldConfig(width=64), FAST, PoissonConfig(source="gradient"), quiet=True)
    assert outcome.settings["anchor"] == "mean"
    assert outcome.psnr >= 30.0, outcome.summary()


def test_colour_from_gradients_keeps_its_colours_only_with_an_anchor(astronaut32):
    config = FitConfig(steps=150, lr=1e-3, schedule="cosine", checkpoint_every=0)
    anchored = reconstruct_image(astronaut32, FieldConfig(width=64), config, PoissonConfig(), quiet=True)
    free = reconstruct_image(astronaut32, FieldConfig(width=64), config, PoissonConfig(anchor="none"), quiet=True)
    assert anchored.image.shape == (32, 48, 3)
    assert max(anchored.mean_error) < 1 / 255, anchored.summary()
    assert max(free.mean_error) > 1 / 255, free.summary()  # the option matters: without it colours shift
    assert anchored.psnr > free.psnr


def test_siren_beats_relu_pe_from_the_laplacian(camera_small):
    config = FitConfig(steps=150, lr=1e-3, schedule="cosine", checkpoint_every=0)
    psnr = {
        model: reconstruct_image(
            camera_small, FieldConfig(model=model, width=64), config, PoissonConfig(source="laplacian"), quiet=True
        ).psnr
        for model in ("siren", "relu-pe")
    }
    assert psnr["siren"] > psnr["relu-pe"] + 1.0, psnr


def test_blend_paste_keeps_a_outside_the_mask_and_b_s_detail_inside():
    import skimage.data

    a = image_from_array(np.ascontiguousarray(skimage.data.coffee()[100:132, 200:232]))
    b = image_from_array(np.ascontiguousarray(skimage.data.astronaut()[200:232, 180:212]))
    mask = np.zeros((32, 32), dtype=bool)
    mask[8:24, 8:24] = True
    config = FitConfig(steps=300, lr=1e-3, schedule="cosine", checkpoint_every=0)
    outcome = blend_images(a, b, FieldConfig(width=64), config, BlendConfig(mode="paste"), mask=mask, quiet=True)
    outside = ~np.pad(np.ones((20, 20), dtype=bool), 6)  # two pixels away from the seam
    inside = np.pad(np.ones((12, 12), dtype=bool), 10)
    error_a = np.abs(outcome.image - a.pixels)
    assert error_a[outside].mean() < 0.05
    detail = lambda p: p[inside] - p[inside].mean(0)  # noqa: E731  B's detail, whatever its offset
    assert (
        np.abs(detail(outcome.image) - detail(b.pixels)).mean() < np.abs(detail(a.pixels) - detail(b.pixels)).mean() / 2
    )


def test_configs_reject_bad_values():
    with pytest.raises(InputError, match="anchor-points"):
        PoissonConfig(anchor_points=0)
    with pytest.raises(InputError, match="unknown source"):
        PoissonConfig(source="hessian")
    with pytest.raises(InputError, match="unknown blend mode"):
        BlendConfig(mode="multiply")
    assert PoissonConfig(source="laplacian").resolved_anchor == "border+mean"
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True
    assert BlendConfig().resolved_anchor(mask) == "outside" and BlendConfig().resolved_anchor(None) == "mean"
    assert BlendConfig(mode="paste").resolved_anchor(np.ones((4, 4), dtype=bool)) == "mean"  # nothing outside
    with pytest.raises(InputError, match="unknown anchor"):
        PoissonConfig(anchor="outside")  # there is no mask in a reconstruction
