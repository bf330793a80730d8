"""`sirenkit fit video` and `sirenkit render` of video checkpoints (`cli/video.py`)."""

from __future__ import annotations

import imageio.v3 as iio

from sirenkit.cli import main


def test_cli_fits_a_video_and_renders_an_odd_size(tmp_path, bars_mp4):
    run = tmp_path / "run"
    args = ["fit", "video", str(bars_mp4), "--out", str(run), "--steps", "5", "--width", "32", "--quiet"]
    assert main(args) == 0
    for name in ("reconstruction.mp4", "curve.png", "summary.json", "metrics.jsonl", "model.safetensors"):
        assert (run / name).stat().st_size > 0, name
    out = tmp_path / "odd.mp4"
    assert main(["render", str(run / "model.safetensors"), "--size", "21x11", "--out", str(out)]) == 0
    assert iio.imread(out, plugin="pyav").shape == (6, 12, 22, 3)  # H.264 sides are padded to even


def test_cli_fits_a_video_as_tiles_and_renders_it(tmp_path, bars_mp4):
    from sirenkit.fields.tiled import TiledField
    from sirenkit.store import load_representation

    run = tmp_path / "run"
    args = ["fit", "video", str(bars_mp4), "--out", str(run), "--steps", "5", "--width", "16", "--quiet"]
    assert main([*args, "--tiles", "16", "--tile-overlap", "4"]) == 0
    field = load_representation(run / "model.safetensors").field
    assert isinstance(field, TiledField)
    assert field.tiles.count == 2 * 3  # 24x40 in tiles of 16: 2 rows x 3 columns, all 6 frames in each
    assert (run / "reconstruction.mp4").stat().st_size > 0
    out = tmp_path / "odd.mp4"
    assert main(["render", str(run / "model.safetensors"), "--size", "21x11", "--frames", "3", "--out", str(out)]) == 0
    assert iio.imread(out, plugin="pyav").shape == (3, 12, 22, 3)
