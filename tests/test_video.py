"""Video: reading and downscaling clips, voxel coordinates, fit → MP4 → render round trips, bad files."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import soundfile
import torch

from conftest import shared_file
from sirenkit.cli import main
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs import image_psnr
from sirenkit.outputs.video import to_uint8, write_mp4
from sirenkit.recipes.video import fit_video, render_plan, render_video
from sirenkit.signals import Video, load_video
from sirenkit.signals.video import downscale_frame, voxel_coordinates

FPS = 25.0


def moving_bars(frames: int = 6, height: int = 24, width: int = 40) -> np.ndarray:
    """(T, H, W, 3) uint8: vertical colour bars sliding right by 2 pixels per frame."""
    columns = np.arange(width)[None, None, :] + 2 * np.arange(frames)[:, None, None]
    red = (np.sin(columns / 3.0) * 0.5 + 0.5) * np.ones((1, height, 1))
    green = np.linspace(0, 1, height)[None, :, None] * np.ones((frames, 1, width))
    return to_uint8(np.stack([red, green, 1 - red], axis=-1))


@pytest.fixture
def bars_mp4(tmp_path):
    path = tmp_path / "bars.mp4"
    write_mp4(path, iter(moving_bars()), FPS)
    return path


def test_voxel_coordinates_span_the_extents_in_row_major_order():
    shape, extents = (4, 3, 5), (1.0, 0.5, 1.0)
    index = torch.tensor([0, 1, 5, 15, 59])
    x = voxel_coordinates(index, shape, extents)
    expected = torch.tensor(
        [[-1, -0.5, -1], [-1, -0.5, -0.5], [-1, 0, -1], [-1 / 3, -0.5, -1], [1, 0.5, 1]], dtype=torch.float32
    )
    torch.testing.assert_close(x, expected)


def test_time_spans_the_clip_and_space_keeps_square_pixels():
    video = Video(moving_bars(frames=6, height=24, width=40), FPS)
    assert video.extents() == pytest.approx((1.0, 23 / 39, 1.0))
    assert Video(moving_bars(frames=1), FPS).extents()[0] == 0


def test_write_and_read_mp4_with_frame_step_and_downscale(bars_mp4):
    video = load_video(bars_mp4)
    assert video.shape == (6, 24, 40) and video.channels == 3 and video.fps == FPS
    # H.264 in yuv420p halves the chroma resolution, and these red/blue bars are 3 pixels wide
    assert image_psnr(moving_bars() / 255.0, video.unit_frames()) > 24
    half = load_video(bars_mp4, max_frames=2, frame_step=2, downscale=2)
    assert half.shape == (2, 12, 20) and half.fps == FPS / 2
    np.testing.assert_array_equal(half.frames[1], downscale_frame(video.frames[2], 2))


def test_box_downscale_averages_blocks():
    frame = np.arange(2 * 4 * 1, dtype=np.uint8).reshape(2, 4, 1) * 10
    np.testing.assert_array_equal(downscale_frame(frame, 2)[..., 0], [[25, 45]])


def test_bikes_round_trips_through_fit_mp4_and_render_above_24_db(tmp_path):
    """First 8 frames of the paper's bikes clip, downscaled 8× to 80x34: fit, write MP4, render again."""
    path = shared_file("video/bikes.mp4")
    video = load_video(path, max_frames=8, downscale=8)
    assert video.shape == (8, 34, 80)
    run = tmp_path / "run"
    config = FitConfig(steps=200, lr=1e-3, schedule="cosine", checkpoint_every=0)
    outcome = fit_video(video, FieldConfig(width=128, depth=2), config, batch=8192, run_dir=run, quiet=True)
    assert len(outcome.frame_psnr) == 8 and min(outcome.frame_psnr) > 24
    written = iio.imread(run / "reconstruction.mp4", plugin="pyav")
    assert written.shape == (8, 34, 80, 3)
    assert image_psnr(video.unit_frames(), written / 255.0) > 24
    assert main(["render", str(run / "model.safetensors"), "--frames", "15", "--size", "160x68"]) == 0
    rendered = iio.imread(run / "render_160x68x15.mp4", plugin="pyav")
    assert rendered.shape == (15, 68, 160, 3)
    assert iio.immeta(run / "render_160x68x15.mp4", plugin="pyav")["fps"] == pytest.approx(FPS * 15 / 8)


def test_render_at_other_frame_counts_passes_through_the_source_frames():
    video = Video(moving_bars(frames=3, height=8, width=12), FPS)
    outcome = fit_video(video, FieldConfig(width=32, depth=1), FitConfig(steps=3, checkpoint_every=0), quiet=True)
    representation = outcome.result.representation
    same = list(render_video(representation, render_plan(representation)))
    double = list(render_video(representation, render_plan(representation, frames=5)))
    for k in range(3):
        torch.testing.assert_close(torch.from_numpy(double[2 * k]), torch.from_numpy(same[k]), atol=1e-5, rtol=0)


def test_cli_fits_a_video_and_renders_an_odd_size(tmp_path, bars_mp4):
    run = tmp_path / "run"
    args = ["fit", "video", str(bars_mp4), "--out", str(run), "--steps", "5", "--width", "32", "--quiet"]
    assert main(args) == 0
    for name in ("reconstruction.mp4", "curve.png", "summary.json", "metrics.jsonl", "model.safetensors"):
        assert (run / name).stat().st_size > 0, name
    out = tmp_path / "odd.mp4"
    assert main(["render", str(run / "model.safetensors"), "--size", "21x11", "--out", str(out)]) == 0
    assert iio.imread(out, plugin="pyav").shape == (6, 12, 22, 3)  # H.264 sides are padded to even


def _bad_files(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    sound = tmp_path / "sound.mp4"
    soundfile.write(sound, np.zeros((800, 1), np.float32), 8000, format="WAV")
    return {"empty": empty, "corrupt": corrupt, "wrong": sound, "missing": tmp_path / "nope.mp4"}


@pytest.mark.parametrize(
    ("case", "message"),
    [("empty", "is empty"), ("corrupt", "cannot read"), ("wrong", "video"), ("missing", "no such file")],
)
def test_bad_files_give_one_clear_line(tmp_path, capsys, case, message):
    path = _bad_files(tmp_path)[case]
    with pytest.raises(InputError, match=message):
        load_video(path)
    assert main(["fit", "video", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sirenkit: error:") and message in err and len(err.splitlines()) == 1


def test_bad_options_are_refused(bars_mp4):
    with pytest.raises(InputError, match="downscale"):
        load_video(bars_mp4, downscale=0)
    with pytest.raises(InputError, match="leaves no pixels"):
        load_video(bars_mp4, downscale=64)
