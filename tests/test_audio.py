"""Audio: reading clips, fitting them, writing them back at any rate, and one clear error per bad file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from conftest import shared_file
from sirenkit.cli import main
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs.audio import audio_mse, snr_db
from sirenkit.recipes.audio import fit_audio, render_audio
from sirenkit.signals import audio_from_array, first_layer_omega0, load_audio
from sirenkit.signals.audio import PAPER_OMEGA0, PAPER_SAMPLES

RATE = 8000
SMALL = FieldConfig(width=64, depth=2)
QUICK = FitConfig(steps=150, lr=1e-3, schedule="cosine", checkpoint_every=0)


def chirp(seconds: float = 0.25, rate: int = RATE) -> np.ndarray:
    """A linear chirp from 200 Hz to 1200 Hz at half scale, (N,) float32."""
    t = np.arange(round(seconds * rate)) / rate
    sweep = 200 * t + (1000 / (2 * seconds)) * t**2
    return (0.5 * np.sin(2 * np.pi * sweep)).astype(np.float32)


def test_first_layer_omega0_matches_the_official_3000_for_the_paper_clip():
    assert first_layer_omega0(PAPER_SAMPLES, 44_100) == pytest.approx(PAPER_OMEGA0)
    counting = 537_936
    assert first_layer_omega0(counting, 44_100) == pytest.approx(3000 * (counting - 1) / (PAPER_SAMPLES - 1))
    # The band is kept in Hz: the same duration at another rate gets the same ω0.
    assert first_layer_omega0(8001, 8000) == pytest.approx(first_layer_omega0(44_101, 44_100))


def test_coordinates_span_minus_one_to_one():
    audio = audio_from_array(chirp(), RATE)
    x = audio.coordinates()
    assert x.shape == (audio.frames, 1)
    assert x[0, 0] == -1 and x[-1, 0] == 1


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG"])
def test_wav_flac_ogg_read_with_rate_and_channels(tmp_path, fmt):
    stereo = np.stack([chirp(), -chirp()], axis=1)
    path = tmp_path / f"clip.{fmt.lower()}"
    soundfile.write(path, stereo, RATE, format=fmt)
    audio = load_audio(path)
    assert (audio.rate, audio.channels, audio.frames) == (RATE, 2, stereo.shape[0])
    tolerance = 0.05 if fmt == "OGG" else 1e-4  # Vorbis is lossy
    assert np.sqrt(audio_mse(stereo, audio.samples)) < tolerance


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


def _bad_files(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(range(40)))
    zero = tmp_path / "zero.wav"
    soundfile.write(zero, np.zeros((0, 1), np.float32), RATE)
    wrong = tmp_path / "picture.wav"
    wrong.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    return {"empty": empty, "corrupt": corrupt, "zero": zero, "wrong": wrong, "missing": tmp_path / "nope.wav"}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "is empty"),
        ("corrupt", "cannot read"),
        ("zero", "no audio samples"),
        ("wrong", "cannot read"),
        ("missing", "no such file"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path, capsys, case, message):
    path = _bad_files(tmp_path)[case]
    with pytest.raises(InputError, match=message):
        load_audio(path)
    assert main(["fit", "audio", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sirenkit: error:") and message in err and len(err.splitlines()) == 1


def test_bad_arrays_and_excerpts_are_refused():
    with pytest.raises(InputError, match="NaN"):
        audio_from_array(np.array([0.0, np.nan]), RATE)
    with pytest.raises(InputError, match="sample rate"):
        audio_from_array(chirp(), 0)
    with pytest.raises(InputError, match="outside"):
        audio_from_array(chirp(), RATE).excerpt(start=10.0)
