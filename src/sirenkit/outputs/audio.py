"""Audio outputs: WAV files, signal-to-noise ratio and the waveform + spectrogram figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sirenkit.store import atomic_write

SPECTROGRAM_WINDOW = 1024
"""Samples per spectrogram window (23 ms at 44.1 kHz), with half-window overlap."""
SPECTROGRAM_FLOOR_DB = -100.0
"""Power below this (dB relative to full scale) is drawn as the floor colour."""


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write (N,) or (N, C) samples in full-scale units as a 16-bit PCM WAV, clipped to [-1, 1].

    16-bit quantization adds an error of about 8e-11 (MSE), far below any fit's.
    """
    import soundfile

    data = np.clip(np.asarray(samples, dtype=np.float32), -1, 1)
    atomic_write(path, lambda tmp: soundfile.write(str(tmp), data, rate, subtype="PCM_16", format="WAV"))


def audio_mse(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean squared error over all samples and channels, in full-scale units (the paper's audio metric)."""
    return float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-noise ratio 10·log10(Σ ref² / Σ (ref − test)²) in dB, over all samples and channels."""
    reference = reference.astype(np.float64)
    noise = float(np.sum((reference - test.astype(np.float64)) ** 2))
    power = float(np.sum(reference**2))
    if noise == 0:
        return math.inf
    return 10 * math.log10(power / noise) if power > 0 else -math.inf


def plot_audio(path: str | Path, source: np.ndarray, reconstruction: np.ndarray, rate: int, *, title: str = "") -> None:
    """PNG of waveform (top) and spectrogram (bottom), source (left) beside reconstruction (right).

    `source` and `reconstruction` are (N, C) at `rate`; channel 0 is drawn. Spectrograms are
    power in dB relative to full scale, on one shared colour scale.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(9, 4.8), dpi=90, sharex="col")
    for column, (name, samples) in enumerate((("source", source), ("reconstruction", reconstruction))):
        mono = samples[:, 0]
        seconds = np.arange(mono.shape[0]) / rate
        axes[0, column].plot(seconds, mono, lw=0.3, color="tab:blue")
        axes[0, column].set_ylim(-1.05, 1.05)
        axes[0, column].set_title(name)
        axes[0, column].set_ylabel("sample")
        window = _window(mono.shape[0])
        axes[1, column].specgram(
            mono,
            NFFT=window,
            Fs=rate,
            noverlap=window // 2,
            vmin=SPECTROGRAM_FLOOR_DB,
            vmax=0,
            cmap="magma",
            scale="dB",
            xextent=(0, mono.shape[0] / rate),
        )
        axes[1, column].set_ylabel("Hz")
        axes[1, column].set_xlabel("seconds")
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def _window(frames: int) -> int:
    """Spectrogram window: SPECTROGRAM_WINDOW, or a power of two giving at least 8 windows for a short clip."""
    return max(16, min(SPECTROGRAM_WINDOW, 2 ** int(math.log2(max(frames // 8, 1)))))
