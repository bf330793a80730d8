"""The video recipe (`recipes/video.py`): fit → MP4 → render round trips, renders at other frame counts."""

from __future__ import annotations

import imageio.v3 as iio
import pytest
import torch

from conftest import shared_file
from signal_helpers import FPS, moving_bars
from sirenkit.cli import main
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs import image_psnr
from sirenkit.recipes.video import fit_video, render_plan, render_video
from sirenkit.signals import Video, load_video


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
