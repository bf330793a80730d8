"""Audio outputs: WAV and FLAC files, signal-to-noise ratio and the waveform + spectrogram figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sirenkit.errors import InputError
from sirenkit.outputs.files import output_format
from sirenkit.store import atomic_write

SPECTROGRAM_WINDOW = 1024
"""Samples per spectrogram window (23 ms at 44.1 kHz), with half-window overlap."""
SPECTROGRAM_FLOOR_DB = -100.0
"""Power below this (dB relative to full scale) is drawn as the floor colour."""
SPECTROGRAM_MIN_FRAMES = 16
"""The shortest spectrogram window: a clip must be longer than one window to have a spectrogram."""


AUDIO_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
"""Audio formats by file suffix (any case); both are written as 16-bit PCM (FLAC losslessly compressed)."""
FORMAT_LIMITS = {"WAV": (None, 1024), "FLAC": (655_350, 8)}
"""(highest sample rate in Hz or None, most channels) that libsndfile writes in each format."""


def audio_format(path: str | Path, rate: int, channels: int) -> str:
    """The format of `path`'s suffix (AUDIO_FORMATS) for a clip of `channels` at `rate` Hz;
    InputError, before any work, for an unknown suffix or a rate or channel count it cannot hold."""
    format_ = output_format(path, AUDIO_FORMATS, "audio")
    top_rate, top_channels = FORMAT_LIMITS[format_]
    if top_rate is not None and rate > top_rate:
        raise InputError(
            f"{format_} holds sample rates up to {top_rate:,} Hz, not {rate:,}; write .wav or lower --rate"
        )
    if channels > top_channels:
        raise InputError(f"{format_} holds up to {top_channels} channels, not {channels}")
    return format_


def write_audio(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write (N,) or (N, C) samples in full-scale units, clipped to [-1, 1], as 16-bit PCM in the
    format of `path`'s suffix: WAV or FLAC (`audio_format`), atomically."""
    data = np.asarray(samples)
    _write_pcm16(path, data, rate, audio_format(path, rate, 1 if data.ndim == 1 else data.shape[1]))


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write (N,) or (N, C) samples in full-scale units as a 16-bit PCM WAV, clipped to [-1, 1].

    16-bit quantization adds an error of Δ²/12 ≈ 8e-11 (MSE, Δ = 2⁻¹⁵ the step), far below any fit's.
    """
    _write_pcm16(path, samples, rate, "WAV")


def _write_pcm16(path: str | Path, samples: np.ndarray, rate: int, format_: str) -> None:
    import soundfile

    data = np.clip(np.asarray(samples, dtype=np.float32), -1, 1)
    atomic_write(path, lambda tmp: soundfile.write(str(tmp), data, rate, subtype="PCM_16", format=format_))


def audio_mse(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean squared error over all samples and channels, in full-scale units (the paper's audio metric)."""
    return float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-noise ratio 10·log10(Σ ref² / Σ (ref − test)²) in dB, over all samples and channels
    (`snr_from_power`'s rules)."""
    reference = reference.astype(np.float64)
    return snr_from_power(float(np.sum(reference**2)), float(np.sum((reference - test.astype(np.float64)) ** 2)))


def snr_from_power(signal: float, noise: float) -> float:
    """10·log10(signal / noise) in dB, of two powers (or energies) on the same footing: inf when the
    noise is zero (an exact match, silence included), -inf when only the signal is zero (a silent
    clip reconstructed with any sound)."""
    if noise <= 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal > 0 else -math.inf


def plot_audio(path: str | Path, source: np.ndarray, reconstruction: np.ndarray, rate: int, *, title: str = "") -> None:
    """PNG of waveform (top) and spectrogram (bottom), source (left) beside reconstruction (right).

    `source` and `reconstruction` are (N, C) at `rate`; channel 0 is drawn. Spectrograms are
    power in dB relative to full scale, on one shared colour scale; silence (-inf dB) takes the
    floor colour. A clip of SPECTROGRAM_MIN_FRAMES samples or fewer is too short for a spectrogram:
    its panels say so.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(9, 4.8), dpi=90, sharex="col")
    for column, (name, samples) in enumerate((("source", source), ("reconstruction", reconstruction))):
        mono = samples[:, 0]
        seconds = np.arange(mono.shape[0]) / rate
        single = mono.shape[0] == 1  # a lone sample is a point, not a line
        axes[0, column].plot(seconds, mono, lw=0.3, color="tab:blue", marker="o" if single else None)
        axes[0, column].set_ylim(-1.05, 1.05)
        axes[0, column].set_title(name)
        axes[0, column].set_ylabel("sample")
        _spectrogram(axes[1, column], mono, rate)
        axes[1, column].set_ylabel("Hz")
        axes[1, column].set_xlabel("seconds")
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def _spectrogram(ax, mono: np.ndarray, rate: int) -> None:
    """The spectrogram of (N,) samples on `ax`, or a note when the clip is too short for one."""
    if mono.shape[0] <= SPECTROGRAM_MIN_FRAMES:
        ax.text(0.5, 0.5, "too short for a spectrogram", ha="center", va="center", transform=ax.transAxes)
        return
    from matplotlib import colormaps

    magma = colormaps["magma"]
    window = _window(mono.shape[0])
    with np.errstate(divide="ignore"):  # silent windows are -inf dB: the "bad" colour, the floor's
        ax.specgram(
            mono,
            NFFT=window,
            Fs=rate,
            noverlap=window // 2,
            vmin=SPECTROGRAM_FLOOR_DB,
            vmax=0,
            cmap=magma.with_extremes(bad=magma(0.0)),
            scale="dB",
            xextent=(0, mono.shape[0] / rate),
        )


def _window(frames: int) -> int:
    """Spectrogram window: SPECTROGRAM_WINDOW, or a power of two (at least SPECTROGRAM_MIN_FRAMES)
    giving at least 8 windows for a short clip."""
    return max(SPECTROGRAM_MIN_FRAMES, min(SPECTROGRAM_WINDOW, 2 ** int(math.log2(max(frames // 8, 1)))))
