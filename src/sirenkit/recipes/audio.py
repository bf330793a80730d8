"""Audio recipes: fit a field to a clip, render it at any sample rate, and measure the fit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field, nyquist_frequencies
from sirenkit.fit import FitConfig, FitResult, fit
from sirenkit.outputs import evaluate_grid, plot_curve, write_json
from sirenkit.outputs.audio import audio_mse, plot_audio, snr_db, snr_from_power, write_wav
from sirenkit.problems import PointSet, fitting_problem
from sirenkit.resources import audio_render_request, check_fit, point_bytes
from sirenkit.signals.audio import Audio, first_layer_omega0
from sirenkit.store import Representation


def audio_field_config(audio: Audio, config: FieldConfig, omega0: float | None = None) -> FieldConfig:
    """Field settings for a clip: 1 input (time), one output per channel, first-layer ω0 and PE octaves.

    `omega0` None applies `first_layer_omega0` (3000 for the paper's 7 s clip at 44.1 kHz);
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
    if signal.get("kind") != "audio":
        raise InputError(f"this checkpoint represents a {signal.get('kind', 'unknown')} signal, not audio")
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
        representation = self.result.representation
        return {
            "model": representation.config.model,
            "omega0": representation.config.omega0,
            "steps": self.result.steps,
            "seconds": round(self.result.seconds, 3),
            "mse": self.mse,
            "snr_db": round(self.snr_db, 3),
            "metric_convention": "MSE and SNR over all samples and channels, samples in full-scale units [-1, 1]",
            "parameters": sum(p.numel() for p in representation.field.parameters()),
        }


def fit_audio(
    audio: Audio,
    field_config: FieldConfig,
    fit_config: FitConfig,
    *,
    omega0: float | None = None,
    batch: int | None = None,
    device: torch.device | str = "cpu",
    run_dir: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    identity: dict | None = None,
    on_step: Callable[[int, Representation], None] | None = None,
) -> AudioFit:
    """Fit a field to a clip; with `run_dir`, write the run's files there.

    `omega0` is the first-layer frequency (None: `first_layer_omega0`; `field_config.omega0` is
    replaced either way). `batch` random samples are drawn each step (all when None). Files:
    model.safetensors, reconstruction.wav (16-bit, source rate), audio.png (waveform and
    spectrogram), curve.png (SNR of the training batch), metrics.jsonl, summary.json,
    checkpoint.safetensors.
    """
    if batch is not None and batch < 1:
        raise InputError(f"batch must be at least 1, got {batch}")
    config = audio_field_config(audio, field_config, omega0)
    outputs = [audio_render_request(audio.frames, audio.channels)]
    check_fit(
        config,
        batch or audio.frames,
        data_bytes=point_bytes(audio.frames, 1 + audio.channels),
        outputs=outputs,
        device=device,
    )
    representation = Representation(build_field(config, seed=fit_config.seed), config, signal_metadata(audio))
    problem = fitting_problem(PointSet(audio.coordinates(device), {"target": audio.values(device)}), points=batch)
    power = float(np.mean(audio.samples.astype(np.float64) ** 2))
    result = fit(
        representation,
        problem,
        fit_config,
        device=device,
        run_dir=run_dir,
        resume=resume,
        live_metrics=lambda terms: {"snr_db": snr_from_power(power, terms["fit"])},
        quiet=quiet,
        identity=identity,
        on_step=on_step,
    )
    reconstruction, _ = render_audio(representation, device=device)
    outcome = AudioFit(
        result, reconstruction, audio_mse(audio.samples, reconstruction), snr_db(audio.samples, reconstruction)
    )
    if run_dir is not None:
        run_dir = Path(run_dir)
        write_wav(run_dir / "reconstruction.wav", reconstruction, audio.rate)
        title = f"{config.model}: MSE {outcome.mse:.3g}, SNR {outcome.snr_db:.1f} dB"
        plot_audio(run_dir / "audio.png", audio.samples, reconstruction, audio.rate, title=title)
        plot_curve(result.history, run_dir / "curve.png", key="snr_db", label="SNR (dB)", title=title)
        write_json(run_dir / "summary.json", outcome.summary())
    return outcome
