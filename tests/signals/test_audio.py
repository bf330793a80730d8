"""Audio signals (`signals/audio.py`): ω0 for a clip, coordinates, reading files, one clear error per bad one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile

from signal_helpers import RATE, chirp
from sirenkit.cli import main
from sirenkit.errors import InputError
from sirenkit.outputs.audio import audio_mse
from sirenkit.signals import audio_from_array, first_layer_omega0, load_audio
from sirenkit.signals.audio import PAPER_OMEGA0, PAPER_SAMPLES


def test_first_layer_omega0_is_the_official_3000_up_to_the_paper_clip_and_keeps_its_band_past_it():
    """The rule of `first_layer_omega0`; `benchmarks/size_rules.py --parts audio` measures it."""
    assert first_layer_omega0(PAPER_SAMPLES, 44_100) == pytest.approx(PAPER_OMEGA0)
    assert first_layer_omega0(11_025, 44_100) == PAPER_OMEGA0  # a quarter second
    # A clip of few samples keeps its first layer below a fifth of its Nyquist rate.
    assert first_layer_omega0(2001, 8000) == pytest.approx(0.2 * math.pi * 1000)
    assert first_layer_omega0(2, 8000) == pytest.approx(0.2 * math.pi * 0.5)
    counting = 537_936
    assert first_layer_omega0(counting, 44_100) == pytest.approx(3000 * (counting - 1) / (PAPER_SAMPLES - 1))
    # Past the paper's clip the band is kept in Hz: the same duration at another rate gets the same ω0.
    assert first_layer_omega0(20 * 8000 + 1, 8000) == pytest.approx(first_layer_omega0(20 * 44_100 + 1, 44_100))
    assert first_layer_omega0(20 * 8000 + 1, 8000) > PAPER_OMEGA0


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
