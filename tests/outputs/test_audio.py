"""Audio files (`outputs/audio.py`): the format a suffix names."""

from __future__ import annotations

import soundfile

from sirenkit.cli import main


def test_render_writes_flac_and_wav_by_suffix(checkpoints, tmp_path):
    for suffix, format_ in ((".flac", "FLAC"), (".wav", "WAV")):
        out = tmp_path / f"a{suffix}"
        assert main(["render", str(checkpoints["audio"]), "--rate", "16000", "--out", str(out)]) == 0
        assert soundfile.info(out).format == format_
        samples, rate = soundfile.read(out)
        assert rate == 16000 and samples.shape == (1599,)
