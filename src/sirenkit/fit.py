"""The one training loop: Adam (then L-BFGS, as an option), a learning-rate schedule, fresh samples
each step, adaptive loss weights (as an option), a progress bar, metrics as JSON lines (with the
error against a problem's reference solution), atomic checkpoints (every so many steps and every
so many seconds), exact and checked resume, interrupts that save, and a divergence guard that
rolls back."""

from __future__ import annotations

import contextlib
import copy
import ctypes
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import torch

from sirenkit.calculus import COMPILE_MODES, CompileMode, Compiler
from sirenkit.errors import InputError
from sirenkit.problems import Problem
from sirenkit.run_folder import CHECKPOINT_NAME, METRICS_NAME, MODEL_NAME
from sirenkit.store import (
    Representation,
    TrainState,
    atomic_write,
    load_train_state,
    save_representation,
    save_train_state,
    strict_json,
)

RESUMABLE_SETTINGS = ("steps", "max_seconds", "checkpoint_every", "checkpoint_seconds", "compile")
"""Fit settings a resume may change (what a resume is for: a longer run, other checkpoint times,
and how the kernels run, which does not change what is computed);
the change is stated when the run resumes. A change to any other setting is refused."""
SNAPSHOT_EVERY = 50
"""Steps between the in-memory copies of the last good state that a divergence rolls back to."""
BLOWUP_DECADES = 3.0
"""A blow-up: the smoothed loss this many powers of ten above the lowest it reached (`_LossWatch`)."""
LOSS_SMOOTHING = 0.05
"""Weight of each step's log-loss in the smoothed loss (an exponential moving average over ~20 steps)."""


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
    lr_rsqrt_after: int = 0
    """From step n = lr_rsqrt_after on, Adam's rate is also capped at lr·√(n/step), whatever the
    schedule (inverse-square-root decay): the rate comes down with the steps taken, not only
    with the budget, so a long budget does not hold a rate that suits a short one for thousands
    of steps. 0: no cap."""
    lr_plateau: int = 0
    """Halve Adam's rate whenever the smoothed loss (`_LossWatch`, an average over about 20
    steps) has gone this many steps without a new low, and wait as many again before the next
    halving: the rate follows the fit's progress, so a signal that the rate is too high for stops
    losing ground to it (ReduceLROnPlateau's rule, on the loss the run already watches). 0: never."""
    balance: Literal["none", "gradients"] = "none"
    """Adaptive loss weights: none (the constraints' own weights), or gradients: learning-rate
    annealing (Wang, Teng & Perdikaris 2021, "Understanding and mitigating gradient flow
    pathologies in physics-informed neural networks", Algorithm 1). Every balance_every Adam
    steps each loss term i after the first gets λ̂_i = max|∇θ L_1| / mean|∇θ L_i| and
    λ_i ← (1 − α) λ_i + α λ̂_i with α = 0.9, L_1 the first constraint (a PDE's equation); the loss
    is L_1 + Σ λ_i L_i. L-BFGS keeps the weights Adam ended with."""
    balance_every: int = 10
    """Adam steps between updates of the adaptive weights."""
    lbfgs: float = 0.0
    """Share of the run given to L-BFGS (torch.optim.LBFGS, strong-Wolfe line search) after Adam:
    the last lbfgs·steps steps, or the last lbfgs·max-seconds of the budget, whichever comes
    first; Adam's schedule ends where L-BFGS begins. Each L-BFGS step evaluates the loss on one
    draw of points (the same draw throughout its line search). 0: Adam only."""
    seed: int = 0
    """Seed of the sampler (the field's initialization has its own seed)."""
    checkpoint_every: int = 500
    """Write a resumable checkpoint every this many steps (and at the end); 0 only at the end."""
    checkpoint_seconds: float = 60.0
    """Also write one when this many seconds have passed since the last (0: not by time), so a
    run killed outright loses at most about this much."""
    max_rollbacks: int = 3
    """A non-finite loss, or a blow-up (the smoothed loss 1000 times the lowest it reached, not
    far below where it started: `_LossWatch`), rolls the run back to its last good state and
    halves the learning rate, at most this many times; the next one ends the run, keeping that
    state, or, under Adam with an L-BFGS share (`lbfgs`), hands the run to L-BFGS from it."""
    log_every: int = 1
    """Append a metrics row every this many steps."""
    precision: Literal["auto", "fp32", "bf16"] = "fp32"
    """Matrix products of the hidden layers: fp32, bf16 (autocast; the first layer stays fp32),
    or auto: bf16 where the device multiplies bf16 natively (AMX / AVX-512 BF16 CPUs, CUDA).
    bf16 keeps 8 significant bits, so its rounding sets a ceiling on the PSNR a fit can reach
    (README, "Speed"); use fp32 for a fit meant to go past it."""
    max_seconds: float | None = None
    """Wall-clock budget: stop after the first step that ends past this many seconds (counting
    the time before a --resume); the run then ends as if `steps` had been reached, and a cosine
    schedule decays over this budget when it runs out before `steps`."""
    retain_memory: bool = False
    """Keep freed activation buffers in the process heap (glibc mallopt) instead of returning them
    to the OS each step, which saves faulting them in again the next step. It tunes the allocator
    of the whole process while the fit runs (`freed_memory_retained`: undone, and the memory kept
    handed back, when it returns), so it is opt-in: off in the library, on in the command line."""
    compile: CompileMode = field(default="auto", metadata={"option": False})
    """How the training path's derivative kernels run (`sirenkit.calculus.Compiler`): auto
    (compiled on a CPU for jets of at least 8,192 points), on, or off. The command line takes it
    from the environment variable SIRENKIT_COMPILE, not from an option."""

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise InputError(f"steps must be at least 0, got {self.steps}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr must be a positive number, got {self.lr}")
        if self.schedule not in ("constant", "cosine"):
            raise InputError(f"unknown schedule {self.schedule!r}; choose constant or cosine")
        if self.balance not in ("none", "gradients"):
            raise InputError(f"unknown balance {self.balance!r}; choose none or gradients")
        if self.balance_every < 1:
            raise InputError(f"balance-every must be at least 1, got {self.balance_every}")
        if not 0 <= self.lbfgs < 1:
            raise InputError(f"lbfgs must be in [0, 1), got {self.lbfgs}")
        if not 0 < self.lr_final_ratio <= 1:
            raise InputError(f"lr-final-ratio must be in (0, 1], got {self.lr_final_ratio}")
        if self.lr_rsqrt_after < 0:
            raise InputError(f"lr-rsqrt-after must be at least 0, got {self.lr_rsqrt_after}")
        if self.lr_plateau < 0:
            raise InputError(f"lr-plateau must be at least 0, got {self.lr_plateau}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise InputError(f"unknown precision {self.precision!r}; choose auto, fp32 or bf16")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise InputError(f"max-seconds must be positive, got {self.max_seconds}")
        if self.checkpoint_every < 0 or self.log_every < 1:
            raise InputError("checkpoint-every must be >= 0 and log-every >= 1")
        if not (self.checkpoint_seconds >= 0 and math.isfinite(self.checkpoint_seconds)):
            raise InputError(f"checkpoint-seconds must be 0 or more, got {self.checkpoint_seconds}")
        if self.max_rollbacks < 0:
            raise InputError(f"max-rollbacks must be 0 or more, got {self.max_rollbacks}")
        if self.compile not in COMPILE_MODES:
            raise InputError(f"unknown compile mode {self.compile!r}; choose one of {', '.join(COMPILE_MODES)}")

    @property
    def adam_steps(self) -> int:
        """The steps Adam takes before L-BFGS (all of them when lbfgs is 0)."""
        return self.steps - round(self.lbfgs * self.steps)

    @property
    def adam_seconds(self) -> float | None:
        """The seconds of the budget Adam has before L-BFGS (None without a budget)."""
        return None if self.max_seconds is None else (1 - self.lbfgs) * self.max_seconds

    def lbfgs_begins(self, step: int, seconds: float) -> bool:
        """Whether step `step` (1-based), begun `seconds` into the run, is L-BFGS's."""
        if self.lbfgs == 0:
            return False
        return step > self.adam_steps or (self.adam_seconds is not None and seconds >= self.adam_seconds)

    def lr_at(self, step: int, seconds: float = 0.0) -> float:
        """Adam's learning rate at step `step` (1-based) begun `seconds` into the run. The cosine
        decays over whichever of Adam's budgets runs out first: `adam_steps`, or `adam_seconds`
        of wall-clock time; past step `lr_rsqrt_after` (when set) the rate is at most
        lr·√(lr_rsqrt_after/step)."""
        progress = [(step - 1) / (self.adam_steps - 1)] if self.adam_steps > 1 else []
        if self.adam_seconds is not None:
            progress.append(seconds / self.adam_seconds)
        ratio = 1.0
        if self.schedule == "cosine" and progress:
            t = min(1.0, max(progress))
            ratio = self.lr_final_ratio + (1 - self.lr_final_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        if 0 < self.lr_rsqrt_after < step:
            ratio = min(ratio, math.sqrt(self.lr_rsqrt_after / step))
        return self.lr * ratio


class TrainingDiverged(InputError):
    """The loss stayed NaN or infinite, or blew up again, after `max_rollbacks` rollbacks; the
    message says what was kept."""


class FitInterrupted(BaseException):  # noqa: N818 (it is not an error, as KeyboardInterrupt is not)
    """SIGINT or SIGTERM stopped a fit after a step; `saved` is the run folder holding its checkpoint
    and model (None without one). Exit code by convention: 128 + the signal's number."""

    def __init__(self, step: int, steps: int, signal_number: int, saved: Path | None) -> None:
        super().__init__(f"interrupted at step {step} of {steps}")
        self.step, self.steps, self.signal_number, self.saved = step, steps, signal_number, saved

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number


@dataclass
class FitResult:
    """The trained representation, the metric rows of this run and its wall time in seconds."""

    representation: Representation
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0

    def summary(self) -> dict[str, Any]:
        """What every summary.json says of the fit: model, steps, seconds, parameters."""
        return {
            "model": self.representation.config.model,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "parameters": sum(p.numel() for p in self.representation.field.parameters()),
        }

    def effort(self) -> str:
        """How long the fit took, as headlines end: "after N steps in S s"."""
        return f"after {self.steps} steps in {self.seconds:.1f} s"


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


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
GLIBC_DEFAULT_THRESHOLD = 128 * 1024
"""glibc's initial trim and mmap thresholds (bytes)."""


@contextlib.contextmanager
def freed_memory_retained(enabled: bool = True) -> Iterator[bool]:
    """While active, glibc keeps large freed blocks for reuse instead of unmapping them (yields
    whether it does: False when disabled or not glibc). On exit the thresholds go back to glibc's
    defaults and the blocks kept are handed back to the system (malloc_trim), so no setting
    outlives the call and what follows (a render of a large signal) starts from a lean heap.

    PyTorch's CPU allocator returns every activation buffer to malloc after each step; above
    glibc's mmap threshold each one is unmapped and faulted in again the next step.
    """
    try:
        libc = ctypes.CDLL("libc.so.6") if enabled else None
    except OSError:
        libc = None
    retained = libc is not None and bool(
        libc.mallopt(M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1)
    )
    try:
        yield retained
    finally:
        if retained:
            libc.mallopt(M_MMAP_THRESHOLD, GLIBC_DEFAULT_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, GLIBC_DEFAULT_THRESHOLD)
            libc.malloc_trim(0)


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
    identity: dict[str, Any] | None = None,
) -> FitResult:
    """Minimize the sum of the problem's losses over the representation's field.

    With `run_dir` (created if needed), metrics rows go to metrics.jsonl, resumable checkpoints to
    checkpoint.safetensors and, as soon as training ends, the representation to
    model.safetensors. `resume=True` continues from that checkpoint (the result is the same as an
    uninterrupted run) after checking that it was made with the same settings and `identity`
    (what the run is of, for instance its input files' hashes); a changed setting is refused by
    name, except `RESUMABLE_SETTINGS`. A torn last metrics row (a kill mid-write) is dropped.
    `live_metrics` maps the loss terms of a step to extra numbers shown and logged (for
    instance PSNR). `on_step(step, representation)` is called after every step.

    SIGINT or SIGTERM (in the main thread) ends the run after the current step with a checkpoint
    and the model written, raising `FitInterrupted`; a second one acts at once. A non-finite loss
    or a blow-up rolls back to the last good state and halves the learning rate (`max_rollbacks`
    times; `FitConfig.max_rollbacks`; then L-BFGS takes over when `FitConfig.lbfgs` gives it a share).
    """
    with freed_memory_retained(config.retain_memory):  # its buffers are handed back when _fit's frame is gone
        return _fit(
            representation,
            problem,
            config,
            device=device,
            run_dir=run_dir,
            resume=resume,
            live_metrics=live_metrics,
            quiet=quiet,
            on_step=on_step,
            identity=identity,
        )


def _fit(
    representation: Representation,
    problem: Problem,
    config: FitConfig,
    *,
    device: torch.device | str,
    run_dir: str | Path | None,
    resume: bool,
    live_metrics: LiveMetrics | None,
    quiet: bool,
    on_step: Callable[[int, Representation], None] | None,
    identity: dict[str, Any] | None,
) -> FitResult:
    device = torch.device(device)
    dtype = autocast_dtype(config.precision, device)
    run_dir = Path(run_dir) if run_dir is not None else None
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    field_ = representation.field.to(device)
    generator = torch.Generator().manual_seed(config.seed)
    compiler = Compiler(config.compile)
    progress = _Progress()
    if resume:
        if run_dir is None:
            raise InputError("resume needs a run folder")
        progress = _restore(run_dir, representation, generator, config, identity or {})
        field_ = representation.field.to(device)
    refinement = getattr(problem, "refinement", None)
    for c in getattr(problem, "constraints", []):
        if c.name in progress.refined:  # a resumed run's refined sets, as its checkpoint kept them
            c.domain.x = torch.tensor(progress.refined[c.name], dtype=c.domain.x.dtype, device=c.domain.x.device)
    optimizer = _optimizer(progress.phase, field_, config)
    if progress.optimizer_state is not None:
        with _damaged_checkpoint(run_dir):
            optimizer.load_state_dict(progress.optimizer_state)
        progress.optimizer_state = None
    reference = getattr(problem, "reference", None)

    def losses() -> dict[str, torch.Tensor]:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            return problem.losses(field_, generator, device, compiler)

    log = _MetricsLog(run_dir / METRICS_NAME if run_dir is not None else None, progress.history)

    def save_checkpoint() -> None:
        if run_dir is not None:
            extra = {"fit": asdict(config), "identity": identity or {}, **progress.counters()}
            if refinement is not None:
                extra["refined"] = {name: x.tolist() for name, x in problem.refined_points().items()}
            save_train_state(
                run_dir / CHECKPOINT_NAME,
                TrainState(representation, optimizer.state_dict(), generator.get_state(), progress.step, extra),
            )

    def save_model() -> None:
        if run_dir is not None:
            save_representation(run_dir / MODEL_NAME, representation)

    bar = _progress_bar(config.steps, progress.step, quiet)
    begin = time.perf_counter()
    elapsed_before = progress.seconds
    last_checkpoint = time.monotonic()
    good = _Snapshot.of(field_, optimizer, progress)

    def begin_lbfgs() -> None:
        """Switch to L-BFGS from here, on the loss relative to its smoothed value now
        (`_Progress.lbfgs_scale`); this state is the new last good one."""
        nonlocal optimizer, good
        progress.phase = "lbfgs"
        progress.lbfgs_scale = 10 ** (progress.watch.level or 0.0)
        optimizer = _optimizer(progress.phase, field_, config)
        good = _Snapshot.of(field_, optimizer, progress)

    try:
        with _StopRequests(saving=run_dir is not None) as stop:
            while progress.step < config.steps:
                step = progress.step + 1
                now = elapsed_before + time.perf_counter() - begin
                if progress.phase == "adam" and config.lbfgs_begins(step, now):
                    begin_lbfgs()
                pending = _Snapshot.of(field_, optimizer, progress) if step - good.step > SNAPSHOT_EVERY else None
                lr = (config.lr_at(step, now) if progress.phase == "adam" else LBFGS_LR) * progress.lr_scale
                for group in optimizer.param_groups:
                    group["lr"] = lr
                if progress.phase == "adam":
                    optimizer.zero_grad(set_to_none=True)
                    terms = losses()
                    if config.balance == "gradients" and (step - 1) % config.balance_every == 0:
                        progress.balance = balanced_weights(terms, field_, progress.balance)
                    loss = _weighted(terms, progress.balance)
                else:
                    terms = _lbfgs_step(
                        optimizer, losses, lambda t: _weighted(t, progress.balance) / progress.lbfgs_scale, generator
                    )
                    loss = _weighted(terms, progress.balance)
                value = loss.item()
                # a blow-up is judged on the problem's own loss, not on the adaptive weights' changes
                stated = sum(terms.values()).item() if progress.balance else value
                if math.isfinite(stated):
                    progress.watch.update(stated)
                if not math.isfinite(value) or not math.isfinite(stated) or progress.watch.blown_up():
                    what = (
                        f"the loss became {value}"
                        if not math.isfinite(value)
                        else f"the loss blew up to {value:.3g} (smoothed, over {10**BLOWUP_DECADES:g} times the "
                        f"lowest it reached, {10**progress.watch.lowest:.3g})"
                    )
                    good.restore(field_, optimizer, progress)
                    log.truncate(progress.step)
                    if progress.rollbacks >= config.max_rollbacks:
                        if progress.phase == "adam" and config.lbfgs:
                            begin_lbfgs()
                            notice(
                                f"{what} at step {step} after {progress.rollbacks} rollback(s); "
                                f"L-BFGS takes over from step {progress.step}"
                            )
                            continue
                        save_checkpoint()
                        save_model()
                        raise TrainingDiverged(_diverged_message(step, value, progress, run_dir))
                    progress.rollbacks += 1
                    progress.lr_scale /= 2
                    bar.reset(total=config.steps)
                    bar.update(progress.step)
                    notice(
                        f"{what} at step {step}; rolled back to step {progress.step} "
                        f"with the learning rate halved ({progress.rollbacks} of {config.max_rollbacks} rollbacks)"
                    )
                    continue
                if pending is not None and progress.watch.good():
                    good = pending
                if progress.phase == "adam":
                    if 0 < config.lr_plateau <= progress.watch.since_lowest:
                        progress.lr_scale /= 2
                        progress.watch.since_lowest = 0
                    loss.backward()
                    optimizer.step()
                progress.step = step
                if refinement is not None and step % refinement.every == 0:
                    problem.refine(field_, generator, device, compiler)
                row = {"step": step, "loss": value, **{k: v.item() for k, v in terms.items()}}
                row.update({f"weight_{name}": weight for name, weight in progress.balance.items()})
                if live_metrics is not None:
                    row.update(live_metrics(row))
                row["lr"] = lr
                row["seconds"] = progress.seconds = elapsed_before + time.perf_counter() - begin
                last = step == config.steps or (config.max_seconds is not None and row["seconds"] >= config.max_seconds)
                if reference is not None and (step % reference.every == 0 or last):
                    row["l2_error"] = reference.l2_error(problem.solution(field_))
                if step % config.log_every == 0 or last:
                    log.append(row)
                bar.update(1)
                bar.set_postfix({k: f"{row[k]:.4g}" for k in row if k not in ("step", "lr", "seconds")}, refresh=False)
                if on_step is not None:
                    on_step(step, representation)
                due = config.checkpoint_every and step % config.checkpoint_every == 0
                overdue = config.checkpoint_seconds and time.monotonic() - last_checkpoint >= config.checkpoint_seconds
                if last or due or overdue or stop.signal_number:
                    save_checkpoint()
                    last_checkpoint = time.monotonic()
                if stop.signal_number:
                    save_model()
                    raise FitInterrupted(step, config.steps, stop.signal_number, run_dir)
                if last:
                    break
        save_model()
    finally:
        bar.close()
        log.close()
    return FitResult(representation, log.history, progress.seconds, progress.step)


@dataclass
class _Progress:
    """Where a run stands: steps done, seconds spent, the rollbacks taken, and the factor on the
    learning rate that rollbacks and plateaus (`FitConfig.lr_plateau`) have brought it down by."""

    step: int = 0
    seconds: float = 0.0
    rollbacks: int = 0
    lr_scale: float = 1.0
    history: list[dict[str, float]] = field(default_factory=list)
    watch: _LossWatch = field(default_factory=lambda: _LossWatch())
    phase: Literal["adam", "lbfgs"] = "adam"
    lbfgs_scale: float = 1.0
    """L-BFGS minimizes the loss divided by this, the smoothed loss when it began, so that torch's
    absolute tolerances (a gradient below 1e-7 stops a step; a curvature pair needs y·s > 1e-10)
    act relative to it: a loss converged to 1e-9 would otherwise stop L-BFGS at once."""
    balance: dict[str, float] = field(default_factory=dict)
    """The adaptive weights of the loss terms after the first (`FitConfig.balance`; empty: none)."""
    optimizer_state: dict[str, Any] | None = None
    """A resumed run's optimizer state, until the optimizer of its phase is built."""
    refined: dict[str, list] = field(default_factory=dict)
    """A resumed run's refined sets (`Problem.refine`), by constraint name."""

    def counters(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "rollbacks": self.rollbacks,
            "lr_scale": self.lr_scale,
            "loss_watch": asdict(self.watch),
            "phase": self.phase,
            "lbfgs_scale": self.lbfgs_scale,
            "balance": self.balance,
        }


@dataclass
class _LossWatch:
    """The smoothed loss of a run, to tell a blow-up from noise.

    `level` is an exponential moving average of log10(loss) (weight LOSS_SMOOTHING per step),
    `lowest` the lowest level it reached and `start` the first. The run has blown up when the
    level stands BLOWUP_DECADES above the lowest and not BLOWUP_DECADES below the start (a fit
    that has converged to float noise may wander by decades down there). A state is good (worth
    rolling back to) while its loss is within a decade of the lowest. `since_lowest` counts the
    updates since the level last set a new low (`FitConfig.lr_plateau`).
    """

    level: float | None = None
    lowest: float | None = None
    start: float | None = None
    since_lowest: int = 0

    def update(self, loss: float) -> None:
        x = math.log10(max(loss, 1e-30))
        if self.level is None or self.lowest is None:  # the first loss sets all three
            self.level = self.lowest = self.start = x
            return
        self.level += LOSS_SMOOTHING * (x - self.level)
        self.since_lowest = 0 if self.level < self.lowest else self.since_lowest + 1
        self.lowest = min(self.lowest, self.level)

    def blown_up(self) -> bool:
        if self.level is None or self.lowest is None or self.start is None:
            return False
        return self.level > self.lowest + BLOWUP_DECADES and self.level > self.start - BLOWUP_DECADES

    def good(self) -> bool:
        return self.level is None or self.lowest is None or self.level <= self.lowest + 1


@dataclass
class _Snapshot:
    """An in-memory copy of the field and optimizer at a step, to roll a divergence back to."""

    field: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    step: int
    seconds: float
    watch: _LossWatch
    balance: dict[str, float]

    @classmethod
    def of(cls, field_: torch.nn.Module, optimizer: torch.optim.Optimizer, progress: _Progress) -> _Snapshot:
        state = {k: v.detach().clone() for k, v in field_.state_dict().items()}
        return cls(
            state,
            copy.deepcopy(optimizer.state_dict()),
            progress.step,
            progress.seconds,
            replace(progress.watch),
            dict(progress.balance),
        )

    def restore(self, field_: torch.nn.Module, optimizer: torch.optim.Optimizer, progress: _Progress) -> None:
        field_.load_state_dict(self.field)
        optimizer.load_state_dict(copy.deepcopy(self.optimizer))
        progress.step = self.step
        progress.watch = replace(self.watch)
        progress.balance = dict(self.balance)


class _MetricsLog:
    """metrics.jsonl as the run's history: rows appended and flushed, cut back on a rollback."""

    def __init__(self, path: Path | None, history: list[dict[str, float]]) -> None:
        """Start the file afresh with `history` (empty for a new run; a resumed run's rows up to its checkpoint)."""
        self.path, self.history = path, history
        self._file = None
        if path is not None:
            self._rewrite()
            self._file = self._open()

    @contextlib.contextmanager
    def _naming_the_file(self) -> Iterator[None]:
        """Any OS failure inside the block raised as an OSError naming metrics.jsonl."""
        try:
            yield
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(self.path)) from None

    def _open(self):
        with self._naming_the_file():
            return open(self.path, "a")  # noqa: SIM115 (held open for the run's life)

    def _rewrite(self) -> None:
        text = "".join(strict_json(row) + "\n" for row in self.history)
        atomic_write(self.path, lambda tmp: tmp.write_text(text))

    def append(self, row: dict[str, float]) -> None:
        self.history.append(row)
        if self._file is not None:
            with self._naming_the_file():
                self._file.write(strict_json(row) + "\n")
                self._file.flush()

    def truncate(self, step: int) -> None:
        """Keep the rows of steps up to `step` only."""
        self.history[:] = [row for row in self.history if row["step"] <= step]
        if self._file is not None:
            self.close()
            self._rewrite()
            self._file = self._open()

    def close(self) -> None:
        """Close the file; closing flushes what a failed write left in its buffer, which may fail
        again, and that failure names the file too."""
        if self._file is not None:
            file, self._file = self._file, None
            with self._naming_the_file():
                file.close()


class _StopRequests:
    """While active (in the main thread only), the first SIGINT or SIGTERM is recorded in
    `signal_number` for the loop to act on after its step; a second one is handled as before.
    `saving`: whether the stop saves a checkpoint (the notice says so only then)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, saving: bool) -> None:
        self.signal_number = 0
        self.saving = saving
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequests:
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                if signal.getsignal(number) is not signal.SIG_IGN:  # an ignored signal stays ignored (nohup)
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number: int, frame: Any) -> None:
        if not self.signal_number:
            self.signal_number = number
            saving = " and saving" if self.saving else ""
            notice(f"{signal.Signals(number).name}: stopping after this step{saving} (again to stop at once)")
            return
        previous = self._previous.get(number)
        if callable(previous):
            previous(number, frame)
        else:
            raise KeyboardInterrupt


LBFGS_LR = 1.0
"""L-BFGS's step length before its line search (torch's default; halved by each rollback)."""
LBFGS_HISTORY = 50
"""Curvature pairs L-BFGS keeps."""
LBFGS_LINE_SEARCH = 25
"""Evaluations its line search may take per step (torch's default allows max_iter·5/4, which for one
iteration a step leaves the line search none)."""


def _optimizer(phase: str, field_: torch.nn.Module, config: FitConfig) -> torch.optim.Optimizer:
    """Adam at the configured rate, or L-BFGS taking one iteration per step (strong-Wolfe line search)."""
    if phase == "adam":
        return torch.optim.Adam(field_.parameters(), lr=config.lr)
    return torch.optim.LBFGS(
        field_.parameters(),
        lr=LBFGS_LR,
        max_iter=1,
        max_eval=1 + LBFGS_LINE_SEARCH,
        history_size=LBFGS_HISTORY,
        line_search_fn="strong_wolfe",
    )


def _lbfgs_step(
    optimizer: torch.optim.Optimizer,
    losses: Callable[[], dict[str, torch.Tensor]],
    weigh: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """One L-BFGS step on weigh(losses()); every evaluation of its line search draws the same points
    (the sampler is set back before each), and the sampler ends one draw further, as after an
    Adam step. Returns the loss terms at the step's start, detached."""
    start = generator.get_state()
    first: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        generator.set_state(start)
        optimizer.zero_grad(set_to_none=True)
        terms = losses()
        if not first:
            first.update({name: term.detach() for name, term in terms.items()})
        loss = weigh(terms)
        loss.backward()
        return loss

    optimizer.step(closure)
    return first


def _weighted(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """Σ_i λ_i · term_i, λ_i from `weights` (1 for a term it does not name)."""
    return sum(weights.get(name, 1.0) * term for name, term in terms.items())


BALANCE_SMOOTHING = 0.9
"""α of learning-rate annealing: the weight of the new estimate in each update (the paper's value)."""


def balanced_weights(
    terms: dict[str, torch.Tensor], field_: torch.nn.Module, previous: dict[str, float]
) -> dict[str, float]:
    """Learning-rate annealing's update (`FitConfig.balance`): for each term after the first,
    λ_i ← (1 − α) λ_i + α · max|∇θ term_1| / mean|∇θ term_i| (λ_i from `previous`, 1 at first; a
    term with no gradient keeps its λ). The graph of the terms is kept for the step's backward."""
    parameters = [p for p in field_.parameters() if p.requires_grad]

    def gradient(term: torch.Tensor) -> torch.Tensor:
        grads = torch.autograd.grad(term, parameters, retain_graph=True, allow_unused=True)
        return torch.cat([g.reshape(-1).abs() for g in grads if g is not None])

    names = list(terms)
    largest = float(gradient(terms[names[0]]).max())
    weights = {}
    for name in names[1:]:
        mean = float(gradient(terms[name]).mean())
        before = previous.get(name, 1.0)
        estimate = largest / mean if mean > 0 and math.isfinite(largest / mean) else before
        weights[name] = (1 - BALANCE_SMOOTHING) * before + BALANCE_SMOOTHING * estimate
    return weights


def notice(message: str) -> None:
    """One line on stderr (between progress-bar updates)."""
    from tqdm import tqdm

    tqdm.write(f"sirenkit: {message}", file=sys.stderr)


def _diverged_message(step: int, loss: float, progress: _Progress, run_dir: Path | None) -> str:
    kept = (
        f"; the last good state (step {progress.step}) is saved in {run_dir} (model and checkpoint)"
        if run_dir is not None
        else ""
    )
    return f"training diverged at step {step} (loss {loss}) after {progress.rollbacks} rollback(s); lower --lr{kept}"


def _restore(
    run_dir: Path,
    representation: Representation,
    generator: torch.Generator,
    config: FitConfig,
    identity: dict[str, Any],
) -> _Progress:
    """Load the checkpoint of `run_dir` into the representation and sampler, after checking it was
    made of the same inputs and settings; return where the run stands, with the optimizer state
    for the optimizer of its phase."""
    state = load_train_state(run_dir / CHECKPOINT_NAME)
    with _damaged_checkpoint(run_dir):
        _check_resume(run_dir, state, representation, config, identity)
        if state.step > config.steps:
            raise InputError(f"{run_dir}: the checkpoint is at step {state.step}, beyond --steps {config.steps}")
        representation.field.load_state_dict(state.representation.field.state_dict())
        generator.set_state(state.rng_state)
        rows = _read_metrics(run_dir / METRICS_NAME)
        progress = _Progress(
            step=state.step,
            seconds=float(state.extra.get("seconds", rows[-1]["seconds"] if rows else 0.0)),
            rollbacks=int(state.extra.get("rollbacks", 0)),
            lr_scale=float(state.extra.get("lr_scale", 1.0)),
            history=[row for row in rows if row["step"] <= state.step],
            watch=_LossWatch(**state.extra.get("loss_watch", {})),
            phase=state.extra.get("phase", "adam"),
            lbfgs_scale=float(state.extra.get("lbfgs_scale", 1.0)),
            balance=state.extra.get("balance", {}),
            refined=state.extra.get("refined", {}),
            optimizer_state=state.optimizer,
        )
    notice(f"resuming {run_dir} at step {state.step} of {config.steps}")
    return progress


@contextlib.contextmanager
def _damaged_checkpoint(run_dir: Path) -> Iterator[None]:
    """Any failure of the block to take the checkpoint's training state (its resume record, its
    optimizer's state: entries of the wrong type or shape) raised as one InputError naming it."""
    try:
        yield
    except InputError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, RuntimeError) as error:
        raise InputError(
            f"{run_dir / CHECKPOINT_NAME}: its training state is damaged ({type(error).__name__}); "
            "start anew with --overwrite"
        ) from None


def _check_resume(
    run_dir: Path, state: TrainState, representation: Representation, config: FitConfig, identity: dict[str, Any]
) -> None:
    """Refuse a resume whose inputs or settings differ from the checkpoint's; state the changes a resume may make."""
    saved_identity = state.extra.get("identity", {})
    for name, digest in identity.get("inputs", {}).items():
        if saved_identity.get("inputs", {}).get(name, digest) != digest:
            path = identity.get("paths", {}).get(name, name)
            raise InputError(
                f"--resume: {path} is not the input {run_dir} was fitted to (its content differs); "
                "resume with that input, or start anew with --overwrite"
            )
    check_same_settings(
        run_dir,
        {
            "options": saved_identity.get("options", {}),
            "fit": state.extra.get("fit", {}),
            "field": state.representation.config.to_dict(),
        },
        {"options": identity.get("options", {}), "fit": asdict(config), "field": representation.config.to_dict()},
    )


def check_same_settings(run_dir: Path, before: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> None:
    """Refuse (InputError) a resume of `run_dir` whose settings differ from those it was made with,
    naming each change (`--lr 0.001 -> 0.5`); announce the changes `RESUMABLE_SETTINGS` allows.

    `before` and `now` map "options" (the command's options), "fit" (`FitConfig` fields) and
    "field" (`FieldConfig` fields) to {name: value}; a name missing on either side is not compared.
    """
    before, now = _plain(before), _plain(now)
    changed, allowed = [], []
    for group in ("options", "fit", "field"):
        ours, theirs = now.get(group, {}), before.get(group, {})
        for key in sorted(set(ours) & set(theirs)):
            if group == "field" and key in now.get("options", {}):
                continue  # the option that sets it is named already
            if ours[key] != theirs[key]:
                name = f"field {key}" if group == "field" else _setting_name(key)
                entry = f"{name} {theirs[key]} -> {ours[key]}"
                (allowed if group != "field" and key in RESUMABLE_SETTINGS else changed).append(entry)
    changed = list(dict.fromkeys(changed))
    if changed:
        raise InputError(
            f"--resume: {run_dir} was fitted with other settings ({'; '.join(changed)}); "
            "resume with the same settings, or start anew with --overwrite"
        )
    for entry in dict.fromkeys(allowed):
        notice(f"resume changes {entry}")


def _setting_name(key: str) -> str:
    """How a message names a setting: its option (`--lr`); the field's name for a FitConfig field
    the command line does not offer as an option (metadata "option": False); "the problem" for the
    one setting a command takes as a word rather than an option (`sirenkit solve PROBLEM`)."""
    if key == "problem":
        return "the problem"
    hidden = {f.name for f in fields(FitConfig) if f.metadata.get("option") is False}
    return f"the {key} setting" if key in hidden else "--" + key.replace("_", "-")


def _plain(value: Any) -> Any:
    """`value` as JSON gives it back (tuples as lists), so saved and current settings compare equal."""
    return json.loads(json.dumps(value))


def _read_metrics(path: Path) -> list[dict[str, float]]:
    """The rows of metrics.jsonl; a torn last line (a kill mid-write) is dropped with a notice."""
    if not path.is_file():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise InputError(f"{path}: line {number} is not JSON; the log is damaged") from None
            notice(f"dropped the torn last line of {path} (a run killed while writing it)")
    return rows


def _progress_bar(total: int, start: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=start, disable=quiet, unit="step", dynamic_ncols=True, leave=False)
