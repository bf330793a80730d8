"""fit_tiles: a signal fitted as overlapping tiles and blended, with no seam where they meet."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import run_cli, save_png
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fields.tiled import TiledField, tile_grid
from sirenkit.fit import FitConfig
from sirenkit.recipes.image import ImageKind, render_image
from sirenkit.recipes.tiles import fit_tiles, tile_group_folder
from sirenkit.signals import load_image
from sirenkit.store import load_representation, load_train_state

FIT = FitConfig(steps=300, lr=1e-3, schedule="cosine", checkpoint_every=0, precision="fp32")


def _crop(image, start, size):
    return image.crop(start[0], start[1], size[0], size[1])


def image_tiles(image, field_config: FieldConfig, fit_config: FitConfig, **settings):
    """`fit_tiles` of an image, quietly, with `settings` (tile, overlap, group_size, run_dir, ...)."""
    return fit_tiles(ImageKind(), image, image.shape, _crop, field_config, fit_config, quiet=True, **settings)


def test_the_seams_error_is_no_worse_than_the_tile_interiors(camera64):
    outcome = image_tiles(camera64, FieldConfig(width=32, depth=2), FIT, tile=32, overlap=8)
    assert isinstance(outcome.result.representation.field, TiledField)
    error = ((outcome.reconstruction - camera64.pixels) ** 2).mean(-1)
    tile_shape, starts = tile_grid(camera64.shape, 32, 8)
    cover = np.zeros(camera64.shape)
    for row, col in starts:
        cover[row : row + tile_shape[0], col : col + tile_shape[1]] += 1
    assert len(starts) == 9 and (cover > 1).sum() > 500
    assert error[cover > 1].mean() <= error[cover == 1].mean()
    assert outcome.psnr > 35
    twice = render_image(outcome.result.representation, (128, 128))
    assert twice.shape == (128, 128, 1) and np.isfinite(twice).all()


def test_tiles_fitted_in_groups_end_as_tiles_fitted_together(camera64):
    def tiles(group_size: int):
        field_config, fit_config = FieldConfig(width=16, depth=1), replace(FIT, steps=30)
        return image_tiles(camera64, field_config, fit_config, tile=32, overlap=8, batch=200, group_size=group_size)

    together, grouped = tiles(256), tiles(4)  # 9 tiles: one group, or groups of 4, 4 and 1
    ours, theirs = grouped.result.representation.field, together.result.representation.field
    assert ours.tiles.count == theirs.tiles.count == 9
    for key, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value, rtol=1e-5, atol=1e-6)
    assert [row["step"] for row in grouped.result.history] == [row["step"] for row in together.result.history]
    for ours_row, theirs_row in zip(grouped.result.history, together.result.history):
        assert ours_row["loss"] == pytest.approx(theirs_row["loss"], rel=1e-4)
        assert ours_row["psnr"] == pytest.approx(theirs_row["psnr"], rel=1e-4)
    assert grouped.psnr == pytest.approx(together.psnr, rel=1e-4)


def test_bad_tiles_are_refused(camera64):
    with pytest.raises(InputError, match="overlap"):
        image_tiles(camera64, FieldConfig(), FIT, tile=32, overlap=40)
    with pytest.raises(InputError, match="at least 2"):
        image_tiles(camera64, FieldConfig(), FIT, tile=1)


def test_the_command_fits_tiles_renders_them_at_any_size_and_resumes(camera64, tmp_path, capsys):
    source = save_png(tmp_path / "in.png", camera64.pixels)
    run = tmp_path / "run"
    args = ["fit", "image", str(source), "--out", str(run), "--tiles", "32", "--width", "16", "--depth", "1", "--quiet"]
    args += ["--group-size", "4"]  # 9 tiles in three groups, each with its own checkpoint
    assert run_cli([*args, "--steps", "20"], capsys)[0] == 0
    assert run_cli([*args, "--steps", "40", "--resume"], capsys)[0] == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 40
    for number in range(3):
        assert load_train_state(tile_group_folder(run, number) / "checkpoint.safetensors").step == 40
    assert isinstance(load_representation(run / "model.safetensors").field, TiledField)
    code, err = run_cli(["render", str(run / "model.safetensors"), "--size", "96x80"], capsys)
    assert code == 0, err
    assert (run / "render_96x80.png").is_file()
    code, err = run_cli([*args, "--steps", "20", "--overwrite", "--tile-overlap", "1"], capsys)
    assert code == 2 and "overlap" in err
    folder = ["fit", "image", str(tmp_path / "*.png"), "--out", str(tmp_path / "many"), "--tiles", "32"]
    code, err = run_cli(folder, capsys)
    assert code == 2 and "collection" in err and not (tmp_path / "many").exists()


def test_a_clip_fits_as_tiles_and_renders_at_another_rate(tmp_path, capsys):
    import soundfile

    from signal_helpers import RATE, chirp

    soundfile.write(tmp_path / "chirp.wav", chirp(), RATE)
    run = tmp_path / "run"
    args = ["fit", "audio", str(tmp_path / "chirp.wav"), "--out", str(run), "--tiles", "512", "--width", "32"]
    code, err = run_cli([*args, "--depth", "2", "--steps", "300", "--batch", "0", "--quiet"], capsys)
    assert code == 0, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["snr_db"] > 20, summary
    field = load_representation(run / "model.safetensors").field
    assert isinstance(field, TiledField) and field.tiles.count == 4  # 2,000 samples: starts 0, 504, 1008, 1488
    code, err = run_cli(["render", str(run / "model.safetensors"), "--rate", "16000"], capsys)
    assert code == 0, err
    rendered, rate = soundfile.read(run / "render_16000Hz.wav")
    assert rate == 16000 and rendered.shape[0] == 2 * 2000 - 1


@pytest.mark.parametrize(
    ("change", "refused"),
    [({"group_size": 4}, "--group-size 2 -> 4"), ({"overlap": 6}, "--tile-overlap 8 -> 6")],
)
def test_a_resume_with_another_tile_layout_is_refused_by_the_option_that_changed(tmp_path, change, refused):
    image = load_image(save_png(tmp_path / "in.png", np.linspace(0, 1, 48 * 40).reshape(48, 40, 1)))

    def tiles(steps: int, resume: bool, **layout):
        settings = {"tile": 24, "overlap": 8, "group_size": 2, **layout}
        return image_tiles(
            image,
            FieldConfig(width=8, depth=1),
            replace(FIT, steps=steps),
            run_dir=tmp_path / "run",
            resume=resume,
            **settings,
        )

    tiles(2, False)  # 6 tiles in three groups of two
    with pytest.raises(InputError, match=refused):
        tiles(4, True, **change)
    assert tiles(4, True).result.steps == 4  # the same layout resumes
