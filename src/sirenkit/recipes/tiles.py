"""A large signal fitted as overlapping tiles: groups of batched fits of its crops, blended into one field.

signal → crops on a tile grid (`fields.tiled.tile_grid`) → groups of tiles, each one
`BatchedField` fit of its crops, each tile posed the problem its kind poses for that crop
(`problems.batched.BatchedProblem`) → a `TiledField` that blends them all → the kind's outputs,
as for one field. A tiled checkpoint renders at any resolution, takes derivatives (through
autograd) and resumes like any other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import torch

from sirenkit.engine import require_ray, shards
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fields.batched import stack_fields
from sirenkit.fields.tiled import TiledField, tile_grid
from sirenkit.fit import FitConfig, FitResult, LiveMetrics
from sirenkit.recipes.collection import GROUP_SIZE, fit_batched
from sirenkit.recipes.kind import Kind, OutcomeT, check_batch
from sirenkit.run_folder import CHECKPOINT_NAME, MODEL_NAME, RunLayout
from sirenkit.store import Representation, save_representation

SignalT = TypeVar("SignalT")
TILE_OVERLAP = 8
"""Samples that neighbouring tiles share along each axis by default: the blend's ramps."""
TILE_GROUP_FOLDER = "tiles"
"""The folder of a tiled run that holds one folder per group of tiles (`tile_group_folder`)."""
TILES_LAYOUT = RunLayout(
    resumes_from=f"{TILE_GROUP_FOLDER}/0000/{CHECKPOINT_NAME}",
    progress=(f"{TILE_GROUP_FOLDER}/*/{CHECKPOINT_NAME}",),
    saved="the checkpoints of its groups of tiles",
)
"""A tiled fit's run folder (`run_folder.RunLayout`): finished once the blended model is written."""


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
    group_size: int = GROUP_SIZE,
    device: torch.device | str = "cpu",
    run_dir: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    identity: dict[str, Any] | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
) -> OutcomeT:
    """Fit `signal` (a grid of `shape` samples) as tiles of `tile` samples per axis overlapping by
    `overlap`, each a field of the kind's settings; `crop(signal, start, size)` cuts one tile.

    The tiles are fitted `group_size` at a time, each group one batched field whose tiles start
    from `fit_config.seed` and draw `batch` samples a step (all when None), so memory (checked
    per group) follows the tiles in flight, not the signal. Groups run one after another here,
    or as Ray tasks with `workers` / `ray_address` (`engine.shards`); a `max_seconds` budget is
    shared evenly by the groups. With `run_dir`, group g keeps its checkpoint and metrics in
    `tile_group_folder(run_dir, g)`, a resume continues each group from its own, and the kind's
    files and model.safetensors (the blended `TiledField`) are written as
    `recipes.kind.fit_signal` writes them; a resume with another layout is refused
    (`layout_identity`). A kind whose grid is not isotropic records its axes'
    half-extents as "extents" in its metadata (a video's time axis); the blend takes them there.
    """
    if tile < 2:
        raise InputError(f"tiles must be at least 2 samples, got {tile}")
    if group_size < 1:
        raise InputError(f"group-size must be at least 1, got {group_size}")
    check_batch(batch)
    if workers is not None or ray_address is not None:
        require_ray(workers, ray_address)
    try:
        tile_shape, starts = tile_grid(shape, tile, overlap)
    except ValueError as error:
        raise InputError(str(error)) from None
    groups = [starts[first : first + group_size] for first in range(0, len(starts), group_size)]
    if fit_config.max_seconds is not None:
        fit_config = replace(fit_config, max_seconds=fit_config.max_seconds / len(groups))
    run_dir = Path(run_dir) if run_dir is not None else None
    fit_group = functools.partial(
        _fit_tile_group,
        kind=kind,
        signal=signal,
        crop=crop,
        tile_shape=tile_shape,
        field_config=field_config,
        fit_config=fit_config,
        batch=batch,
        device=device,
        run_dir=run_dir,
        resume=resume,
        quiet=quiet or workers is not None or ray_address is not None,
        identity=layout_identity(identity, tile, overlap, group_size),
    )
    results = dict(shards(fit_group, list(enumerate(groups)), workers=workers, address=ray_address))
    results = [results[number] for number in range(len(groups))]
    tiles = stack_fields([field for result in results for field in result.representation.field.unstack()])
    metadata = {"kind": kind.name, **kind.metadata(signal)}
    tile_metadata = kind.metadata(crop(signal, starts[0], tile_shape))
    tiled = TiledField(
        tiles, shape, tile_shape, starts, overlap, metadata.get("extents"), tile_metadata.get("extents")
    ).to(device)
    blended = Representation(tiled, results[0].representation.config, metadata)
    if run_dir is not None:
        save_representation(run_dir / MODEL_NAME, blended)
    history = _joined_history([result.history for result in results], kind.live_metrics(signal), len(starts))
    seconds = sum(result.seconds for result in results)
    steps = min(result.steps for result in results)
    return kind.finish(FitResult(blended, history, seconds, steps), signal, device, run_dir)


def layout_identity(identity: dict[str, Any] | None, tile: int, overlap: int, group_size: int) -> dict[str, Any]:
    """`identity` with the tile layout among its options, by the names of the options that set it
    (`--tiles`, `--tile-overlap`, `--group-size`): which tiles a group holds, and how many, follows
    from them, so a resume that changes one is refused by name (`fit.fit`) instead of meeting a
    checkpoint of other tiles. Members of a collection end the same whatever their groups; tiles
    do not."""
    identity = identity or {}
    layout = {"tiles": tile, "tile_overlap": overlap, "group_size": group_size}
    return {**identity, "options": {**identity.get("options", {}), **layout}}


def tile_group_folder(run_dir: Path, number: int) -> Path:
    """Where group `number` of a tiled fit keeps its checkpoint and metrics."""
    return run_dir / TILE_GROUP_FOLDER / f"{number:04d}"


def _fit_tile_group(
    numbered: tuple[int, list[tuple[int, ...]]],
    *,
    kind: Kind,
    signal: Any,
    crop: Callable[[Any, tuple[int, ...], tuple[int, ...]], Any],
    tile_shape: tuple[int, ...],
    field_config: FieldConfig,
    fit_config: FitConfig,
    batch: int | None,
    device: torch.device | str,
    run_dir: Path | None,
    resume: bool,
    quiet: bool,
    identity: dict[str, Any] | None,
) -> tuple[int, FitResult]:
    """Cut and fit one group of tiles as a batched field: (its number, its result)."""
    number, starts = numbered
    crops = [crop(signal, start, tile_shape) for start in starts]
    folder = tile_group_folder(run_dir, number) if run_dir is not None else None
    result = fit_batched(
        [kind] * len(crops),
        crops,
        field_config,
        fit_config,
        {"kind": "tiles", "tile_kind": kind.name, "starts": [list(start) for start in starts]},
        batch=batch,
        device=device,
        run_dir=folder,
        resume=resume and folder is not None and (folder / CHECKPOINT_NAME).is_file(),
        quiet=quiet,
        identity={**(identity or {}), "tiles": [list(start) for start in starts]},
    )
    return number, result


def _joined_history(histories: list[list[dict]], live: LiveMetrics | None, tiles: int) -> list[dict]:
    """The groups' metrics rows as one fit's, at the steps every group logged: loss terms summed
    over the groups (each already a sum over its tiles), seconds summed, the live metrics taken
    on the mean over all tiles."""
    by_step = [{row["step"]: row for row in history} for history in histories]
    joined = []
    for step in sorted(set.intersection(*(set(rows) for rows in by_step))):
        rows = [rows[step] for rows in by_step]
        row = {key: sum(r[key] for r in rows) for key in rows[0] if key not in ("step", "lr")}
        row["step"], row["lr"] = step, rows[0].get("lr")
        if live is not None:
            row.update(live({key: value / tiles for key, value in row.items() if key not in ("step", "lr", "seconds")}))
        joined.append(row)
    return joined
