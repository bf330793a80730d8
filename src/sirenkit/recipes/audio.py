"""Audio recipes: fit a field to a clip, render it at any sample rate, and measure the fit."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, nyquist_frequencies
from sirenkit.fit import FitConfig, FitResult, LiveMetrics
from sirenkit.outputs import evaluate_grid, plot_curve, write_json
from sirenkit.outputs.audio import audio_mse, plot_audio, snr_db, snr_from_power, write_wav
from sirenkit.outputs.metrics import format_metric
from sirenkit.problems import PointSet, Problem, fitting_problem
from sirenkit.recipes.kind import fit_signal, kind_name, register_kind
from sirenkit.resources import Request, audio_render_request, point_bytes, training_request
from sirenkit.signals.audio import Audio, first_layer_omega0
from sirenkit.store import Representation

AUDIO_FIT = FitConfig(steps=2000, lr=1e-4, schedule="cosine", precision="fp32")
"""Training settings of `fit_audio` and `sirenkit fit audio`: the official Adam lr 1e-4, decayed
by a cosine, fp32 (bf16 rounding is audible at these SNRs); `python benchmarks/audio_video.py`
measures them on the paper's clips."""
AUDIO_BATCH = 16384
"""Random samples per step by default (a few percent of a clip of seconds at 44.1 kHz)."""


def audio_field_config(audio: Audio, config: FieldConfig, omega0: float | None = None) -> FieldConfig:
    """Field settings for a clip: 1 input (time), one output per channel, first-layer ω0 and PE octaves.

    `omega0` None applies `first_layer_omega0` (3000 up to the paper's 7 s clip, more past it);
    the relu-pe octaves follow the official Nyquist rule for the clip's sample count.
    """
    octaves = config.pe_octaves or nyquist_frequencies(audio.frames)
    omega0 = first_layer_omega0(audio.frames, audio.rate) if omega0 is None else omega0
    return replace(config, in_dim=1, out_dim=audio.channels, omega0=omega0, pe_octaves=octaves)


def signal_metadata(audio: Audio) -> dict:
    """What a checkpoint records of the clip it represents."""
    return {
        "kind": "audio",
        "rate": audio.rate,
        "frames": audio.frames,
        "channels": audio.channels,
        "normalization": "value = sample in full-scale units (as soundfile reads it)",
        "axes": "time; the first sample at -1, the last at 1",
    }


def render_audio(
    representation: Representation,
    rate: int | None = None,
    *,
    device: torch.device | str = "cpu",
    chunk: int = 65536,
) -> tuple[np.ndarray, int]:
    """The represented clip at `rate` samples per second (the source rate by default): ((N, C), rate).

    Any rate works: the field is evaluated at the new sample times over the same span, so the
    clip keeps its duration; (N - 1)/rate equals the source's (frames - 1)/source rate, rounded.
    """
    frames, rate = render_length(representation, rate)
    values = evaluate_grid(representation.field, (frames,), extents=(1.0,), chunk=chunk, device=device)
    return values.numpy(), rate


def render_length(representation: Representation, rate: int | None = None) -> tuple[int, int]:
    """(samples per channel, rate) of a render at `rate` Hz (the source rate by default), keeping the
    clip's duration; InputError for a checkpoint that is not audio's or a rate under 1 Hz."""
    signal = representation.signal
    kind_name(representation, "audio")
    rate = int(signal["rate"]) if rate is None else rate
    if rate < 1:
        raise InputError(f"the sample rate must be at least 1 Hz, got {rate}")
    return round((signal["frames"] - 1) * rate / signal["rate"]) + 1, rate


@dataclass
class AudioFit:
    """An audio fit's outcome: the fit, the reconstruction at the source rate, MSE and SNR."""

    result: FitResult
    reconstruction: np.ndarray
    mse: float
    snr_db: float

    def summary(self) -> dict:
        return {
            **self.result.summary(),
            "omega0": self.result.representation.config.omega0,
            "mse": self.mse,
            "snr_db": round(self.snr_db, 3),
            "metric_convention": "MSE and SNR over all samples and channels, samples in full-scale units [-1, 1]",
        }

    def headline(self) -> str:
        """One line for the command line: model, MSE, SNR, steps and time."""
        model = self.result.representation.config.model
        return f"{model}: MSE {self.mse:.3g}, SNR {format_metric(self.snr_db, '.2f', ' dB')} {self.result.effort()}"


@register_kind
@dataclass(frozen=True)
class AudioKind:
    """A clip: 1 input (time), one output per channel; `omega0` is the first-layer frequency (None:
    `first_layer_omega0`; a field config's own omega0 is replaced either way)."""

    name: ClassVar[str] = "audio"
    noun: ClassVar[str] = "audio"
    omega0: float | None = None

    def field_config(self, signal: Audio, config: FieldConfig) -> FieldConfig:
        return audio_field_config(signal, config, self.omega0)

    def metadata(self, signal: Audio) -> dict[str, Any]:
        return signal_metadata(signal)

    def problem(self, signal: Audio, batch: int | None, device: torch.device | str) -> Problem:
        return fitting_problem(PointSet(signal.coordinates(device), {"target": signal.values(device)}), points=batch)

    def requests(
        self, signal: Audio, config: FieldConfig, batch: int | None, device: torch.device | str
    ) -> list[Request]:
        data = point_bytes(signal.frames, 1 + signal.channels)
        return [
            training_request(config, batch or signal.frames, data_bytes=data, device=device),
            audio_render_request(signal.frames, signal.channels),
        ]

    def live_metrics(self, signal: Audio) -> LiveMetrics:
        power = float(np.mean(signal.samples.astype(np.float64) ** 2))
        return lambda terms: {"snr_db": snr_from_power(power, terms["fit"])}

    def finish(self, result: FitResult, signal: Audio, device: torch.device | str, run_dir: Path | None) -> AudioFit:
        reconstruction, _ = render_audio(result.representation, device=device)
        mse, snr = audio_mse(signal.samples, reconstruction), snr_db(signal.samples, reconstruction)
        outcome = AudioFit(result, reconstruction, mse, snr)
        if run_dir is not None:
            write_wav(run_dir / "reconstruction.wav", reconstruction, signal.rate)
            title = f"{result.representation.config.model}: MSE {outcome.mse:.3g}, SNR {outcome.snr_db:.1f} dB"
            plot_audio(run_dir / "audio.png", signal.samples, reconstruction, signal.rate, title=title)
            plot_curve(result.history, run_dir / "curve.png", key="snr_db", label="SNR (dB)", title=title)
            write_json(run_dir / "summary.json", outcome.summary())
        return outcome


def fit_audio(
    audio: Audio,
    field_config: FieldConfig | None = None,
    fit_config: FitConfig = AUDIO_FIT,
    *,
    omega0: float | None = None,
    batch: int | None = AUDIO_BATCH,
    **settings: Any,
) -> AudioFit:
    """Fit a field to a clip (`recipes.kind.fit_signal` with `AudioKind(omega0)`; keywords as there:
    device, run_dir, resume, quiet, identity, on_step). With no settings it does what
    `sirenkit fit audio` does: `FieldConfig()`, `AUDIO_FIT`, `AUDIO_BATCH` samples per step (None:
    every sample).

    Files with `run_dir`: model.safetensors, reconstruction.wav (16-bit, source rate), audio.png
    (waveform and spectrogram), curve.png (SNR of the training batch), metrics.jsonl,
    summary.json, checkpoint.safetensors.
    """
    return fit_signal(AudioKind(omega0), audio, field_config or FieldConfig(), fit_config, batch=batch, **settings)
