"""The one training loop: Adam, a learning-rate schedule, fresh samples each step, a progress bar,
metrics as JSON lines, atomic checkpoints, exact resume and a divergence guard."""

from __future__ import annotations

import ctypes
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch

from sirenkit.errors import InputError
from sirenkit.problems import Problem
from sirenkit.store import Representation, TrainState, atomic_write, load_train_state, save_train_state

CHECKPOINT_NAME = "checkpoint.safetensors"
METRICS_NAME = "metrics.jsonl"


@dataclass(frozen=True)
class FitConfig:
    """Settings of the training loop."""

    steps: int = 1000
    """Optimizer steps."""
    lr: float = 1e-4
    """Adam learning rate at the start."""
    schedule: Literal["constant", "cosine"] = "constant"
    """Learning-rate schedule: constant, or cosine decay to lr_final_ratio·lr at the last step."""
    lr_final_ratio: float = 0.05
    """Cosine schedule: final learning rate as a fraction of lr."""
    seed: int = 0
    """Seed of the sampler (the field's initialization has its own seed)."""
    checkpoint_every: int = 500
    """Write a resumable checkpoint every this many steps (and at the end); 0 only at the end."""
    log_every: int = 1
    """Append a metrics row every this many steps."""
    precision: Literal["auto", "fp32", "bf16"] = "fp32"
    """Matrix products of the hidden layers: fp32, bf16 (autocast; the first layer stays fp32),
    or auto: bf16 where the device multiplies bf16 natively (AMX / AVX-512 BF16 CPUs, CUDA).
    bf16 rounding caps a fit near 55-60 dB PSNR; use fp32 beyond that."""
    max_seconds: float | None = None
    """Wall-clock budget: stop after the first step that ends past this many seconds (counting
    the time before a --resume); the run then ends as if `steps` had been reached, and a cosine
    schedule decays over this budget when it runs out before `steps`."""
    retain_memory: bool = True
    """Keep freed activation buffers in the process heap (glibc mallopt) instead of returning them
    to the OS each step; this removes page-fault time, about half of a CPU step. Process-wide."""

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise InputError(f"steps must be at least 0, got {self.steps}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr must be a positive number, got {self.lr}")
        if self.schedule not in ("constant", "cosine"):
            raise InputError(f"unknown schedule {self.schedule!r}; choose constant or cosine")
        if not 0 < self.lr_final_ratio <= 1:
            raise InputError(f"lr-final-ratio must be in (0, 1], got {self.lr_final_ratio}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise InputError(f"unknown precision {self.precision!r}; choose auto, fp32 or bf16")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise InputError(f"max-seconds must be positive, got {self.max_seconds}")
        if self.checkpoint_every < 0 or self.log_every < 1:
            raise InputError("checkpoint-every must be >= 0 and log-every >= 1")

    def lr_at(self, step: int, seconds: float = 0.0) -> float:
        """Learning rate of step `step` (1-based) begun `seconds` into the run. The cosine decays over
        whichever budget runs out first: `steps`, or `max_seconds` of wall-clock time."""
        progress = [(step - 1) / (self.steps - 1)] if self.steps > 1 else []
        if self.max_seconds is not None:
            progress.append(seconds / self.max_seconds)
        if self.schedule == "constant" or not progress:
            return self.lr
        t = min(1.0, max(progress))
        ratio = self.lr_final_ratio + (1 - self.lr_final_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        return self.lr * ratio


class TrainingDiverged(InputError):
    """The loss became NaN or infinite; the last checkpoint is kept."""


@dataclass
class FitResult:
    """The trained representation, the metric rows of this run and its wall time in seconds."""

    representation: Representation
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0


LiveMetrics = Callable[[dict[str, float]], dict[str, float]]


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision setting on a device; None means plain float32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    native = (
        device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )
    return torch.bfloat16 if native else None


def retain_freed_memory() -> bool:
    """Ask glibc to keep large freed blocks for reuse instead of unmapping them; False if not glibc.

    PyTorch's CPU allocator returns every activation buffer to malloc after each step; above
    glibc's mmap threshold each one is unmapped and faulted in again the next step.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, (1 << 31) - 1))


def fit(
    representation: Representation,
    problem: Problem,
    config: FitConfig,
    *,
    device: torch.device | str = "cpu",
    run_dir: str | Path | None = None,
    resume: bool = False,
    live_metrics: LiveMetrics | None = None,
    quiet: bool = False,
    on_step: Callable[[int, Representation], None] | None = None,
) -> FitResult:
    """Minimize the sum of the problem's losses over the representation's field.

    With `run_dir`, metrics rows go to metrics.jsonl and resumable checkpoints to
    checkpoint.safetensors there (the folder is created); `resume=True` continues from that checkpoint (the result is
    the same as an uninterrupted run). `live_metrics` maps the loss terms of a step to extra
    numbers shown and logged (for instance PSNR). `on_step(step, representation)` is called after
    every step (snapshots, tests).
    """
    if config.retain_memory:
        retain_freed_memory()
    device = torch.device(device)
    dtype = autocast_dtype(config.precision, device)
    run_dir = Path(run_dir) if run_dir is not None else None
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    field_ = representation.field.to(device)
    optimizer = torch.optim.Adam(field_.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    start = 0
    history: list[dict[str, float]] = []
    if resume:
        start, history = _restore(run_dir, representation, optimizer, generator, config)
        field_ = representation.field.to(device)
    elif run_dir is not None:
        atomic_write(run_dir / METRICS_NAME, lambda tmp: tmp.write_text(""))

    log = open(run_dir / METRICS_NAME, "a") if run_dir is not None else None  # noqa: SIM115
    bar = _progress(config.steps, start, quiet)
    begin = time.perf_counter()
    elapsed_before = history[-1]["seconds"] if history else 0.0
    try:
        for step in range(start + 1, config.steps + 1):
            lr = config.lr_at(step, elapsed_before + time.perf_counter() - begin)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                terms = problem.losses(field_, generator, device)
            loss = sum(terms.values())
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"training diverged at step {step} (loss {loss.item()}); lower --lr"
                    + (f" and --resume from the last checkpoint in {run_dir}" if run_dir else "")
                )
            loss.backward()
            optimizer.step()
            row = {"step": step, "loss": loss.item(), **{k: v.item() for k, v in terms.items()}}
            if live_metrics is not None:
                row.update(live_metrics(row))
            row["lr"] = lr
            row["seconds"] = elapsed_before + time.perf_counter() - begin
            last = step == config.steps or (config.max_seconds is not None and row["seconds"] >= config.max_seconds)
            if step % config.log_every == 0 or last:
                history.append(row)
                if log is not None:
                    log.write(json.dumps(row) + "\n")
                    log.flush()
            bar.update(1)
            bar.set_postfix({k: f"{row[k]:.4g}" for k in row if k not in ("step", "lr", "seconds")}, refresh=False)
            if on_step is not None:
                on_step(step, representation)
            if run_dir is not None and (last or (config.checkpoint_every and step % config.checkpoint_every == 0)):
                save_train_state(
                    run_dir / CHECKPOINT_NAME,
                    TrainState(
                        representation, optimizer.state_dict(), generator.get_state(), step, {"fit": asdict(config)}
                    ),
                )
            if last:
                break
    finally:
        bar.close()
        if log is not None:
            log.close()
    seconds = elapsed_before + time.perf_counter() - begin
    return FitResult(representation, history, seconds, history[-1]["step"] if history else start)


def _restore(
    run_dir: Path | None,
    representation: Representation,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    config: FitConfig,
) -> tuple[int, list[dict[str, float]]]:
    """Load the checkpoint of `run_dir` into the representation, optimizer and sampler."""
    if run_dir is None:
        raise InputError("resume needs a run folder")
    state = load_train_state(run_dir / CHECKPOINT_NAME)
    if state.representation.config != representation.config:
        raise InputError(f"{run_dir}: the checkpoint was made with other field settings; drop --resume or match them")
    if state.step > config.steps:
        raise InputError(f"{run_dir}: the checkpoint is at step {state.step}, beyond --steps {config.steps}")
    representation.field.load_state_dict(state.representation.field.state_dict())
    optimizer.load_state_dict(state.optimizer)
    generator.set_state(state.rng_state)
    history = []
    metrics = run_dir / METRICS_NAME
    if metrics.is_file():
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        history = [row for row in rows if row["step"] <= state.step]
    text = "".join(json.dumps(row) + "\n" for row in history)
    atomic_write(metrics, lambda tmp: tmp.write_text(text))
    return state.step, history


def _progress(total: int, start: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=start, disable=quiet, unit="step", dynamic_ncols=True, leave=False)
