"""`sirenkit fit audio` and `sirenkit render` of audio checkpoints (`cli/audio.py`)."""

from __future__ import annotations

import numpy as np
import soundfile

from signal_helpers import RATE, chirp
from sirenkit.cli import main
from sirenkit.outputs.audio import snr_db


def test_stereo_clip_keeps_its_channels_through_fit_and_render(tmp_path):
    left = chirp()
    stereo = np.stack([left, -0.5 * left], axis=1)
    soundfile.write(tmp_path / "stereo.wav", stereo, RATE)
    run = tmp_path / "run"
    args = ["fit", "audio", str(tmp_path / "stereo.wav"), "--out", str(run), "--width", "64", "--depth", "2"]
    assert main([*args, "--steps", "150", "--lr", "1e-3", "--batch", "1024", "--quiet"]) == 0
    written, rate = soundfile.read(run / "reconstruction.wav")
    assert (written.shape, rate) == (stereo.shape, RATE)
    assert snr_db(stereo, written) > 15
    for name in ("audio.png", "curve.png", "summary.json", "metrics.jsonl", "model.safetensors"):
        assert (run / name).stat().st_size > 0, name
    assert main(["render", str(run / "model.safetensors"), "--rate", "16000"]) == 0
    rendered, rate = soundfile.read(run / "render_16000Hz.wav")
    assert rate == 16000 and rendered.shape == (2 * stereo.shape[0] - 1, 2)
