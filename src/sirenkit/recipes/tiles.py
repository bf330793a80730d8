"""A large signal fitted as overlapping tiles: one batched fit of its crops, blended into one field.

signal → crops on a tile grid (`fields.tiled.tile_grid`) → one `BatchedField` fit of the crops,
each tile posed the problem its kind poses for that crop (`problems.batched.BatchedProblem`) →
a `TiledField` that blends them → the kind's outputs, as for one field. A tiled checkpoint renders
at any resolution, takes derivatives (through autograd) and resumes like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fields.tiled import TiledField, tile_grid
from sirenkit.fit import FitConfig, FitResult
from sirenkit.recipes.collection import fit_batched
from sirenkit.recipes.kind import Kind, OutcomeT, check_batch
from sirenkit.run_folder import MODEL_NAME
from sirenkit.store import Representation, save_representation

SignalT = TypeVar("SignalT")
TILE_OVERLAP = 8
"""Samples that neighbouring tiles share along each axis by default: the blend's ramps."""


def fit_tiles(
    kind: Kind[SignalT, OutcomeT],
    signal: SignalT,
    shape: tuple[int, ...],
    crop: Callable[[SignalT, tuple[int, ...], tuple[int, ...]], SignalT],
    field_config: FieldConfig,
    fit_config: FitConfig,
    *,
    tile: int,
    overlap: int = TILE_OVERLAP,
    batch: int | None = None,
    device: torch.device | str = "cpu",
    run_dir: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    identity: dict[str, Any] | None = None,
) -> OutcomeT:
    """Fit `signal` (a grid of `shape` samples) as tiles of `tile` samples per axis overlapping by
    `overlap`, each a field of the kind's settings; `crop(signal, start, size)` cuts one tile.

    Every tile starts from `fit_config.seed` and draws `batch` samples a step (all when None);
    memory is checked for all tiles at once. Files as `recipes.kind.fit_signal` writes them; the
    checkpoint holds the tiles as a batched field, model.safetensors the blended `TiledField`.
    """
    if tile < 2:
        raise InputError(f"tiles must be at least 2 samples, got {tile}")
    check_batch(batch)
    try:
        tile_shape, starts = tile_grid(shape, tile, overlap)
    except ValueError as error:
        raise InputError(str(error)) from None
    crops = [crop(signal, start, tile_shape) for start in starts]
    metadata = {"kind": kind.name, **kind.metadata(signal)}
    result = fit_batched(
        [kind] * len(crops),
        crops,
        field_config,
        fit_config,
        metadata,
        batch=batch,
        device=device,
        run_dir=run_dir,
        resume=resume,
        quiet=quiet,
        identity=identity,
    )
    config = result.representation.config
    tiled = TiledField(result.representation.field, shape, tile_shape, starts, overlap).to(device)
    blended = Representation(tiled, config, metadata)
    run_dir = Path(run_dir) if run_dir is not None else None
    if run_dir is not None:
        save_representation(run_dir / MODEL_NAME, blended)
    return kind.finish(FitResult(blended, result.history, result.seconds, result.steps), signal, device, run_dir)
