"""One shape for every kind of signal.

A `Kind` says what is particular to one kind of signal: how it adapts the field settings, what a
checkpoint records of it, the problem it poses, the memory it needs, the numbers shown while it
trains, and how a trained representation is rendered, measured and written. `fit_signal` is the
one fit path every kind goes through (signal → problem → fit → representation → outputs), and
`KINDS` finds the kind a checkpoint represents. A new kind is a `Kind` registered with
`register_kind` in its own module, and its loader.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import torch

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field
from sirenkit.fit import FitConfig, FitResult, LiveMetrics, fit
from sirenkit.problems import Problem
from sirenkit.resources import Request, require
from sirenkit.store import Representation, check_signal


class Outcome(Protocol):
    """What a kind's `finish` returns: the fit, its measures, and two ways to tell them."""

    def summary(self) -> dict[str, Any]:
        """The run's summary.json: the fit (`FitResult.summary`) and the kind's measures."""
        ...

    def headline(self) -> str:
        """One line for the command line: the model, the kind's measures, steps and time."""
        ...


SignalT = TypeVar("SignalT", contravariant=True)
OutcomeT = TypeVar("OutcomeT", bound=Outcome, covariant=True)


class Kind(Protocol, Generic[SignalT, OutcomeT]):
    """What one kind of signal contributes to the fit path. Instances carry the kind's own settings."""

    name: ClassVar[str]
    noun: ClassVar[str]
    """How messages name a signal of this kind ("an image")."""

    def field_config(self, signal: SignalT, config: FieldConfig) -> FieldConfig:
        """The field settings for this signal (input and output sizes, encodings)."""
        ...

    def metadata(self, signal: SignalT) -> dict[str, Any]:
        """What a checkpoint records of the signal (besides "kind")."""
        ...

    def problem(self, signal: SignalT, batch: int | None, device: torch.device | str) -> Problem:
        """The losses to minimize, drawing `batch` samples per step (all when None)."""
        ...

    def requests(
        self, signal: SignalT, config: FieldConfig, batch: int | None, device: torch.device | str
    ) -> list[Request]:
        """The memory the fit and its outputs need, checked before training."""
        ...

    def live_metrics(self, signal: SignalT) -> LiveMetrics | None:
        """Numbers computed from a step's loss terms, shown and logged (None: the losses only)."""
        ...

    def finish(self, result: FitResult, signal: SignalT, device: torch.device | str, run_dir: Path | None) -> OutcomeT:
        """Render and measure the trained representation; with `run_dir`, write the kind's files."""
        ...


KINDS: dict[str, type] = {}
"""Every registered kind by name: the value of "kind" in a checkpoint's signal metadata."""

KindT = TypeVar("KindT", bound=type)


def register_kind(cls: KindT) -> KindT:
    """Class decorator: make a `Kind` findable by its `name`."""
    KINDS[cls.name] = cls
    return cls


def kind_name(representation: Representation, *expected: str, path: str | Path | None = None) -> str:
    """The kind a checkpoint represents; InputError when it is not one of `expected` (if given), or
    when its signal metadata lacks an entry its kind's readers take (`store.check_signal`). A
    message names the checkpoint by `path` when given."""
    name = representation.signal.get("kind", "unknown")
    if expected and name not in expected:
        nouns = " or ".join(described(kind) for kind in expected)
        raise InputError(f"{path or 'this checkpoint'} represents {described(name)}, not {nouns}")
    if expected:
        check_signal(representation.signal, complete=True)
    return name


def described(name: str) -> str:
    """How a message names a signal of the kind `name`: the kind's `noun` ("an image"), or "a
    signal of kind 'NAME'" for a name no registered kind has (an article that fits any name)."""
    return KINDS[name].noun if name in KINDS else f"a signal of kind {name!r}"


def check_batch(batch: int | None) -> None:
    """InputError unless `batch` (samples drawn per step) is None (all) or at least 1."""
    if batch is not None and batch < 1:
        raise InputError(f"batch must be at least 1, got {batch}")


def fit_signal(
    kind: Kind[SignalT, OutcomeT],
    signal: SignalT,
    field_config: FieldConfig,
    fit_config: FitConfig,
    *,
    batch: int | None = None,
    device: torch.device | str = "cpu",
    run_dir: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    identity: dict | None = None,
    on_step: Callable[[int, Representation], None] | None = None,
) -> OutcomeT:
    """Fit a field to `signal` as `kind` says; with `run_dir`, write the run's files there.

    The field is initialized from `fit_config.seed`; `batch` samples are drawn per step (all when
    None); memory is checked before anything is built. `fit.fit` writes metrics.jsonl,
    checkpoint.safetensors and model.safetensors (as soon as training ends); the kind writes the
    rest. `resume`, `quiet`, `identity` and `on_step` are as in `fit.fit`.
    """
    check_batch(batch)
    config = kind.field_config(signal, field_config)
    require(*kind.requests(signal, config, batch, device))
    metadata = {"kind": kind.name, **kind.metadata(signal)}
    representation = Representation(build_field(config, seed=fit_config.seed), config, metadata)
    result = fit(
        representation,
        kind.problem(signal, batch, device),
        fit_config,
        device=device,
        run_dir=run_dir,
        resume=resume,
        live_metrics=kind.live_metrics(signal),
        quiet=quiet,
        on_step=on_step,
        identity=identity,
    )
    return kind.finish(result, signal, device, Path(run_dir) if run_dir is not None else None)
