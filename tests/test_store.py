"""Saving and loading (`sirenkit.store`): checkpoints that render bit-identically, file modes, strict JSON."""

from __future__ import annotations

import json
import os

import imageio.v3 as iio
import numpy as np

from conftest import run_cli
from run_helpers import FAST, fit_args
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.recipes.image import fit_image, render_image
from sirenkit.store import load_representation


def test_checkpoint_round_trip_renders_bit_identical_output(camera64, tmp_path):
    outcome = fit_image(
        camera64, FieldConfig(width=32, depth=1), FitConfig(steps=3, **FAST), run_dir=tmp_path, quiet=True
    )
    loaded = load_representation(tmp_path / "model.safetensors")
    assert loaded.config == outcome.result.representation.config
    for size in [None, (100, 37)]:
        a = render_image(outcome.result.representation, size)
        b = render_image(loaded, size)
        assert a.tobytes() == b.tobytes()


# 10. Files as users expect.
def test_outputs_honour_the_umask_and_json_is_strict(tmp_path, capsys, camera64):
    path = tmp_path / "tiny.png"
    iio.imwrite(path, np.round(camera64.pixels[:5, :5, 0] * 255).astype(np.uint8))
    previous = os.umask(0o027)
    try:
        assert run_cli(fit_args(path, tmp_path / "run", steps=3), capsys)[0] == 0
    finally:
        os.umask(previous)
    for name in ("model.safetensors", "summary.json", "metrics.jsonl", "reconstruction.png", "checkpoint.safetensors"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o640, name

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in strict JSON")

    summary = json.loads((tmp_path / "run" / "summary.json").read_text(), parse_constant=refuse)
    assert summary["ssim"] is None and "undefined" in summary["undefined"]["ssim"].lower()
