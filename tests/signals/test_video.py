"""Video signals (`signals/video.py`): voxel coordinates, reading and downscaling clips, bad files and options."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from signal_helpers import FPS, moving_bars
from sirenkit.cli import main
from sirenkit.errors import InputError
from sirenkit.outputs import image_psnr
from sirenkit.signals import Video, load_video
from sirenkit.signals.video import downscale_frame, voxel_coordinates


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
