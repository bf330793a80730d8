"""Meshes from a field's zero level set: marching cubes whose memory follows the surface, not the grid.

The grid has `resolution` samples per axis spanning [-1, 1]³ (cell size h = 2 / (resolution − 1)).

- `dense` evaluates every sample in chunks and runs marching cubes once; it holds the whole
  float32 volume (0.5 GB at 512³, 16 GB at the official code's 1600³).
- `coarse-to-fine` is an octree descent. It starts from bricks of `BRICK_CELLS` cells per side,
  evaluates Φ at their corners and keeps a brick only when the zero level set can cross it; a
  kept block is split into 8 children whose corners are evaluated in turn, down to blocks of
  `block` cells, which are sampled fully. The bricks are then meshed one marching-cubes call
  each, masked to their finest blocks that change sign, a few bricks (`BRICKS_PER_GROUP`) at a
  time. Memory is one group of bricks (a fixed size), the brick corners ((resolution / 32)³
  samples) and the mesh, whatever the resolution; time is spent near the surface only. A field
  with spurious surfaces all over the volume (an under-trained baseline) keeps most bricks: it
  costs about what `dense` does in time, not in memory. Bricks share their boundary samples, so
  the triangles are those of the dense grid; vertices on shared brick faces are welded by the
  grid edge they lie on.

A block can hold a zero of Φ only if every corner c has |Φ(c)| ≤ L·(block diagonal): for an
L-Lipschitz Φ and a zero z in the block, |Φ(c)| = |Φ(c) − Φ(z)| ≤ L·|c − z|. A signed distance
has L = 1; a fitted one only approximately, hence `LIPSCHITZ_SLACK`. A sign change among the
corners always keeps the block.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from sirenkit.errors import InputError
from sirenkit.outputs.render import DEFAULT_CHUNK, evaluate_grid
from sirenkit.store import atomic_write

MeshMethod = Literal["coarse-to-fine", "dense"]
MESH_METHODS = ("coarse-to-fine", "dense")
MESH_FORMATS = (".ply", ".obj")

DEFAULT_BLOCK = 2
"""Cells per side of the finest blocks, which are sampled fully. Smaller blocks sample fewer points
away from the surface at the cost of one more level of descent; meshing spends its time evaluating
the field, so fewer samples win, and on a trained SIREN 2 beat 4 and 8. `python benchmarks/sdf.py
--shapes bunny` times a 512³ extraction with this default (README, "Shapes")."""

BRICK_CELLS = 32
"""Cells per side of the bricks the descent starts from (16³ bricks at 512³), meshed one
marching-cubes call each; `block` when that is larger."""

BRICKS_PER_GROUP = 16
"""Bricks descended and meshed together: at most this many bricks' samples are held at once
(with 2-cell blocks, at most 16 · 16³ · 27 = 1.8 M samples, whatever the resolution)."""

LIPSCHITZ_SLACK = 1.5
"""L of the block test above: a fitted SDF's gradient norm strays from 1 (the eikonal term is a
penalty), so blocks are kept while every corner is within 1.5 block diagonals of zero."""

CUBE_CORNERS = list(itertools.product((0, 1), repeat=3))
"""The 8 corners (or children) of a block as (i, j, k) offsets, k fastest (as `_lattice` orders them)."""


@dataclass(frozen=True)
class TriangleMesh:
    """Vertices (V, 3) float64 and triangles (F, 3) int64 indexing them."""

    vertices: np.ndarray
    faces: np.ndarray

    def map_vertices(self, transform: Callable[[np.ndarray], np.ndarray]) -> TriangleMesh:
        """The mesh with `transform((V, 3)) -> (V, 3)` applied to its vertices."""
        return TriangleMesh(transform(self.vertices), self.faces)

    def to_trimesh(self):
        import trimesh

        return trimesh.Trimesh(self.vertices, self.faces, process=False)


def grid_step(resolution: int) -> float:
    """Spacing h of a grid of `resolution` samples per axis over [-1, 1]."""
    return 2.0 / (resolution - 1)


def _evaluate_indices(
    field: nn.Module, index: np.ndarray, resolution: int, chunk: int, device: torch.device | str
) -> np.ndarray:
    """Φ at grid indices (M, 3) as float32 (M,); each distinct sample is evaluated once, at most
    `chunk` points at a time (neighbouring blocks share their boundary samples)."""
    key = (index[:, 0] * resolution + index[:, 1]) * resolution + index[:, 2]
    key, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    unique = index[first]
    out = np.empty(len(unique), np.float32)
    with torch.no_grad():
        for begin in range(0, len(unique), chunk):
            unit = 2 * unique[begin : begin + chunk] / (resolution - 1) - 1  # as grid_coordinates rounds it
            x = torch.from_numpy(unit).to(device=device, dtype=torch.float32)
            out[begin : begin + len(x)] = field(x)[:, 0].float().cpu().numpy()
    return out[inverse.reshape(-1)]


def _marching_cubes(values: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Zero level set of a (a, b, c) volume: vertices in index units (float64) and faces (int64).

    Faces are ordered so that their normals point toward positive values (outward for an SDF):
    with axes (i, j, k) → (x, y, z) that is scikit-image's "descent" winding. `mask` (a, b, c)
    booleans, if given, limits the cells visited (see `_mesh_brick`).
    """
    from skimage.measure import marching_cubes

    vertices, faces, _, _ = marching_cubes(values, 0.0, gradient_direction="descent", mask=mask)
    return vertices.astype(np.float64), faces.astype(np.int64)


NO_SURFACE = "the field's zero level set does not cross this grid over [-1, 1]³; train longer or raise the resolution"


def _dense(field: nn.Module, resolution: int, chunk: int, device: torch.device | str) -> TriangleMesh:
    volume = evaluate_grid(field, (resolution,) * 3, extents=(1.0, 1.0, 1.0), chunk=chunk, device=device)
    volume = volume[..., 0].numpy()
    if not (volume.min() <= 0 < volume.max()):
        raise InputError(f"{NO_SURFACE} (values from {volume.min():.3g} to {volume.max():.3g})")
    return TriangleMesh(*_marching_cubes(volume))


def may_cross(corners: np.ndarray, diagonal: float) -> np.ndarray:
    """(K,) booleans: which blocks the zero level set can cross, from their corner values (K, 8).

    True when the corners change sign or all of them are within LIPSCHITZ_SLACK · diagonal of
    zero (see the module docstring).
    """
    sign_change = (corners.min(-1) <= 0) & (corners.max(-1) > 0)
    return sign_change | (np.abs(corners).max(-1) <= LIPSCHITZ_SLACK * diagonal)


def _lattice(origins: np.ndarray, size: int, samples: int, cells: int) -> np.ndarray:
    """Grid indices (K·samples³, 3) of a samples³ lattice of spacing `size` from each origin (K, 3),
    clipped to the grid (`cells` cells per axis)."""
    offsets = np.stack(np.meshgrid(*[np.arange(samples) * size] * 3, indexing="ij"), -1).reshape(-1, 3)
    return np.minimum(origins[:, None, :] + offsets[None], cells).reshape(-1, 3)


def _bricks(field: nn.Module, resolution: int, block: int, chunk: int, device: torch.device | str):
    """Origins (K, 3), in grid indices, and size in cells of the bricks the zero level set can cross."""
    cells = resolution - 1
    size = max(block, BRICK_CELLS)
    axis = np.arange(0, cells, size)
    origins = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    corners = _evaluate_indices(field, _lattice(origins, size, 2, cells), resolution, chunk, device).reshape(-1, 8)
    return origins[may_cross(corners, size * grid_step(resolution) * math.sqrt(3))], size


def _descend(
    field: nn.Module,
    origins: np.ndarray,
    size: int,
    resolution: int,
    block: int,
    chunk: int,
    device: torch.device | str,
) -> np.ndarray:
    """Origins (K, 3), in grid indices, of the finest blocks (`block` cells per side) inside the given
    blocks (`size` cells per side) that the zero level set can cross, by the octree descent of the
    module docstring."""
    cells = resolution - 1
    while size > block and len(origins):
        half = size // 2
        lattice = _evaluate_indices(field, _lattice(origins, half, 3, cells), resolution, chunk, device)
        lattice = lattice.reshape(-1, 3, 3, 3)
        origins = np.concatenate([origins + half * np.array(child) for child in CUBE_CORNERS])
        corners = np.concatenate(
            [np.stack([lattice[:, a + i, b + j, c + k] for i, j, k in CUBE_CORNERS], -1) for a, b, c in CUBE_CORNERS]
        )
        inside = (origins < cells).all(-1)
        origins, corners, size = origins[inside], corners[inside], half
        origins = origins[may_cross(corners, size * grid_step(resolution) * math.sqrt(3))]
    return origins


def weld(vertices: np.ndarray, faces: np.ndarray, resolution: int) -> TriangleMesh:
    """Merge vertices (V, 3) in grid index units that lie on the same grid edge, drop degenerate faces.

    A marching-cubes vertex sits on a grid edge: two of its coordinates are whole numbers, and
    it is keyed by the edge's lower end and axis (3 for a vertex exactly on a grid sample), so
    the copies made by two neighbouring blocks, which may differ in the last bit, become one.
    """
    low = np.floor(vertices)
    fractional = vertices > low
    axis = np.where(fractional.any(-1), fractional.argmax(-1), 3)
    ijk = low.astype(np.int64)
    key = ((ijk[:, 0] * resolution + ijk[:, 1]) * resolution + ijk[:, 2]) * 4 + axis
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    faces = inverse.reshape(-1)[faces]
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    return TriangleMesh(vertices[first], faces[keep])


def _mesh_brick(
    origin: np.ndarray, size: int, blocks: np.ndarray, values: np.ndarray, block: int, cells: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Marching cubes over one brick, restricted to its finest blocks whose samples change sign.

    `blocks` (M, 3) are the blocks' origins and `values` (M, block+1, block+1, block+1) Φ at their
    samples; vertices come back in grid index units, or None when no block changes sign.
    """
    crossing = (values.min((1, 2, 3)) <= 0) & (values.max((1, 2, 3)) > 0)  # marching cubes counts 0 as inside
    if not crossing.any():
        return None
    extent = np.minimum(size, cells - origin)  # cells of this brick inside the grid, per axis
    volume = np.ones(tuple(extent + 1), np.float32)  # samples outside the kept blocks are never read
    cell_mask = np.zeros((size // block,) * 3, bool)
    for local, cube in zip(blocks - origin, values):
        stop = np.minimum(local + block, extent) + 1
        volume[local[0] : stop[0], local[1] : stop[1], local[2] : stop[2]] = cube[
            : stop[0] - local[0], : stop[1] - local[1], : stop[2] - local[2]
        ]
    cell_mask[tuple((blocks[crossing] - origin).T // block)] = True
    cell_mask = cell_mask.repeat(block, 0).repeat(block, 1).repeat(block, 2)
    # scikit-image visits the cell between samples i-1 and i when mask[i] is set (its last corner).
    mask = np.zeros_like(volume, bool)
    mask[1:, 1:, 1:] = cell_mask[: extent[0], : extent[1], : extent[2]]
    return _marching_cubes(volume, mask)


def _coarse_to_fine(
    field: nn.Module, resolution: int, block: int, chunk: int, device: torch.device | str
) -> TriangleMesh:
    cells = resolution - 1
    bricks, size = _bricks(field, resolution, block, chunk, device)
    samples = block + 1
    vertices, faces, count = [], [], 0
    for begin in range(0, len(bricks), BRICKS_PER_GROUP):
        group = bricks[begin : begin + BRICKS_PER_GROUP]
        blocks = _descend(field, group, size, resolution, block, chunk, device)
        values = _evaluate_indices(field, _lattice(blocks, 1, samples, cells), resolution, chunk, device)
        values = values.reshape(-1, samples, samples, samples)
        for origin in group:
            inside = ((blocks >= origin) & (blocks < origin + size)).all(-1)
            piece = _mesh_brick(origin, size, blocks[inside], values[inside], block, cells)
            if piece is None:
                continue
            v, f = piece
            vertices.append(v + origin)
            faces.append(f + count)
            count += len(v)
    if not vertices:
        raise InputError(NO_SURFACE)
    return weld(np.concatenate(vertices), np.concatenate(faces), resolution)


def extract_mesh(
    field: nn.Module,
    resolution: int = 256,
    *,
    method: MeshMethod = "coarse-to-fine",
    block: int = DEFAULT_BLOCK,
    chunk: int = DEFAULT_CHUNK,
    device: torch.device | str = "cpu",
) -> TriangleMesh:
    """The zero level set of Φ (first output channel) on a grid of `resolution`³ samples over [-1, 1]³.

    Vertices are in the field's coordinates; faces are oriented with normals toward Φ > 0.
    `block` (cells per side of the finest blocks) and `chunk` (points evaluated at once) only
    trade speed for memory; both methods give the same mesh up to rounding.
    """
    if resolution < 2:
        raise InputError(f"resolution must be at least 2, got {resolution}")
    if method not in MESH_METHODS:
        raise InputError(f"unknown meshing method {method!r}; choose coarse-to-fine or dense")
    if block < 1 or block & (block - 1) or chunk < 1:
        raise ValueError("block must be a power of two and chunk at least 1")
    field = field.to(device)
    if method == "dense":
        mesh = _dense(field, resolution, chunk, device)
    else:
        mesh = _coarse_to_fine(field, resolution, block, chunk, device)
    return mesh.map_vertices(lambda v: v * grid_step(resolution) - 1.0)


def write_mesh(path: str | Path, mesh: TriangleMesh) -> None:
    """Write a mesh as .ply (binary) or .obj, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_FORMATS:
        raise InputError(f"{path}: unsupported mesh format {suffix!r}; use .ply or .obj")
    data = mesh.to_trimesh().export(file_type=suffix[1:])
    payload = data if isinstance(data, bytes) else data.encode()
    atomic_write(path, lambda tmp: tmp.write_bytes(payload))
