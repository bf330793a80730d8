"""Audio as a signal: samples on a time axis mapped to [-1, 1], one output channel per audio channel.

Sample values stay in full-scale units as soundfile reads them (integer formats map to [-1, 1)),
which is the scale the SIREN paper reports its audio MSE on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sirenkit.errors import InputError, readable_file
from sirenkit.resources import audio_file_request, require_known
from sirenkit.signals.grid import grid_coordinates

PAPER_OMEGA0 = 3000.0
"""First-layer ω0 of the official SIREN audio fits (`train_audio.py`: ω0 = 30 on time in [-100, 100])."""
PAPER_SAMPLES = 308_207
PAPER_RATE = 44_100
"""The paper's Bach clip: 308,207 samples (6.99 s) at 44.1 kHz, the clip PAPER_OMEGA0 was tuned on."""
OMEGA0_PER_SECOND = PAPER_OMEGA0 / ((PAPER_SAMPLES - 1) / 2 / PAPER_RATE)
"""First-layer frequency in radians per second of sound that the paper's clip had: ω0 divided by the
seconds per unit of time coordinate (858 rad/s, a first-layer band up to 137 Hz); clips longer
than the paper's keep it (`first_layer_omega0`)."""
MAX_RADIANS_PER_SAMPLE = 0.2 * math.pi
"""The first layer's highest frequency is at most a fifth of the Nyquist rate (π radians per sample)."""


@dataclass(frozen=True)
class Audio:
    """A clip: samples of shape (N, C) (C channels), float32, at `rate` samples per second."""

    samples: np.ndarray
    rate: int

    @property
    def frames(self) -> int:
        """Number of samples per channel, N."""
        return self.samples.shape[0]

    @property
    def channels(self) -> int:
        return self.samples.shape[1]

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def coordinates(self, device: torch.device | str | None = None) -> Tensor:
        """(N, 1) time coordinates: the first sample at -1, the last at 1."""
        return grid_coordinates((self.frames,), device=device)

    def values(self, device: torch.device | str | None = None) -> Tensor:
        """(N, C) samples in full-scale units, row i at `coordinates()[i]`."""
        return torch.from_numpy(self.samples).to(device)

    def crop(self, first: int, count: int) -> Audio:
        """Samples first … first + count − 1 (a tile of the clip)."""
        return Audio(np.ascontiguousarray(self.samples[first : first + count]), self.rate)

    def excerpt(self, start: float = 0.0, seconds: float | None = None) -> Audio:
        """The part from `start` seconds on, `seconds` long (to the end when None)."""
        first = round(start * self.rate)
        last = self.frames if seconds is None else first + round(seconds * self.rate)
        if start < 0 or first >= self.frames or last <= first:
            raise InputError(f"the excerpt from {start} s for {seconds} s is outside the {self.seconds:.3f} s clip")
        return Audio(np.ascontiguousarray(self.samples[first:last]), self.rate)


def first_layer_omega0(frames: int, rate: int) -> float:
    """First-layer ω0 for a clip of `frames` samples at `rate` Hz on the time axis [-1, 1].

    Rule: the official 3000 (PAPER_OMEGA0) for a clip up to the paper's 7 s, and for a longer one
    OMEGA0_PER_SECOND × the seconds one unit of t lasts, (frames - 1)/(2·rate), which keeps the
    first layer's band the same in Hz as the paper's clip had (5236 for its 12.2 s counting clip);
    in either case at most MAX_RADIANS_PER_SAMPLE × the samples per unit of t, (frames - 1)/2, so
    that a clip of few samples (2,000: 628) is not fitted with frequencies near its Nyquist rate,
    which match its samples but not the sound between them. A short clip keeps 3000 when it has
    the samples for it: keeping the band in Hz instead (ω0 107 for a quarter second) fits short
    clips far worse. `python benchmarks/size_rules.py --parts audio,between` measures the rule
    against the constant, at the samples and between them.
    """
    samples_per_unit = max(frames - 1, 1) / 2
    by_duration = max(PAPER_OMEGA0, OMEGA0_PER_SECOND * samples_per_unit / rate)
    return min(by_duration, MAX_RADIANS_PER_SAMPLE * samples_per_unit)


def audio_from_array(samples: np.ndarray, rate: int) -> Audio:
    """An `Audio` from (N,) or (N, C) samples (float in full-scale units, or int16/int32 PCM)."""
    array = np.asarray(samples)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise InputError(f"audio must be (N,) or (N, channels), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError("the audio has no samples")
    if not (isinstance(rate, int | np.integer) and rate > 0):
        raise InputError(f"the sample rate must be a positive integer, got {rate}")
    if np.issubdtype(array.dtype, np.integer):
        array = array / float(np.iinfo(array.dtype).max + 1)
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InputError("the audio has NaN or infinite samples")
    return Audio(np.ascontiguousarray(array), int(rate))


def load_audio(path: str | Path) -> Audio:
    """Read WAV, FLAC, OGG or any format libsndfile reads; InputError with a one-line reason."""
    import soundfile

    path = readable_file(path)
    require_known(audio_file_request(path))  # from the header, before reading
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        # libsndfile's own reason, without soundfile's "Error opening PATH:" prefix
        reason = " ".join(str(getattr(error, "error_string", None) or error).split()).rstrip(".")
        raise InputError(f"cannot read {path} as audio ({reason})") from None
    if samples.shape[0] == 0:
        raise InputError(f"{path} holds no audio samples")
    try:
        return audio_from_array(samples, rate)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
