"""Oriented point clouds: points on a surface with their outward unit normals.

Read from `.xyz` text (x y z nx ny nz, the official SIREN format, or x y z only) and from point
clouds or meshes in `.ply`, `.obj`, `.off`, `.stl` (trimesh). A mesh is sampled uniformly over
its area with the normal of the face each point falls on. Points without normals get them by
PCA over their k nearest neighbours, oriented consistently by propagation over a minimum
spanning tree of the neighbour graph (Hoppe et al. 1992, "Surface reconstruction from
unorganized points", sec. 3.3).

Coordinates are (N, 3) in the source's units; `Normalization` maps them into [-1, 1]³ for
training and back for every output.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from sirenkit.errors import InputError, readable_file

NormalsMode = Literal["auto", "given", "estimate"]

MESH_SUFFIXES = (".ply", ".obj", ".off", ".stl")
POINT_SUFFIXES = (".xyz", *MESH_SUFFIXES)

NORMALIZED_HALF_EXTENT = 0.9
"""The longest side of the normalized bounding box spans [-0.9, 0.9]: the rest of [-1, 1]³ is
empty space around the shape, so the off-surface samples see its outside on every side and the
zero level set closes inside the meshing grid (the official code fills [-1, 1] entirely)."""

NEIGHBOURS = 16
"""k of the k-nearest-neighbour PCA normal estimate (Open3D and PCL commonly use 10-30)."""

DEFAULT_SURFACE_SAMPLES = 100_000
"""Points sampled from a mesh when no count is given (the bunny's scan has ~35k vertices)."""


@dataclass(frozen=True)
class Normalization:
    """x_unit = (x_source − center) / scale: the map between source units and the training cube."""

    center: np.ndarray
    """(3,) the bounding-box centre, in source units."""
    scale: float
    """Source units per unit of normalized coordinate."""

    def to_unit(self, xyz: np.ndarray) -> np.ndarray:
        """(N, 3) source units → (N, 3) normalized coordinates."""
        return (np.asarray(xyz, dtype=np.float64) - self.center) / self.scale

    def to_source(self, xyz: np.ndarray) -> np.ndarray:
        """(N, 3) normalized coordinates → (N, 3) source units."""
        return np.asarray(xyz, dtype=np.float64) * self.scale + self.center

    def to_dict(self) -> dict:
        return {"center": [float(c) for c in self.center], "scale": float(self.scale)}

    @classmethod
    def from_dict(cls, data: dict) -> Normalization:
        return cls(np.asarray(data["center"], dtype=np.float64), float(data["scale"]))

    @classmethod
    def fitting(cls, points: np.ndarray, half_extent: float = NORMALIZED_HALF_EXTENT) -> Normalization:
        """The transform that centres the bounding box of `points` (N, 3) and makes its longest side
        span [-half_extent, half_extent]; the aspect ratio is kept."""
        low, high = points.min(axis=0), points.max(axis=0)
        longest = float((high - low).max())
        if not longest > 0:
            raise InputError("all points are at the same place; a surface needs some extent")
        return cls((low + high) / 2, longest / (2 * half_extent))


@dataclass(frozen=True)
class OrientedPoints:
    """Points on a surface with outward unit normals, both (N, 3) float64, in source units."""

    points: np.ndarray
    normals: np.ndarray

    def __post_init__(self) -> None:
        if self.points.ndim != 2 or self.points.shape[1] != 3 or self.points.shape[0] == 0:
            raise InputError(f"oriented points need shape (N, 3) with N > 0, got {self.points.shape}")
        if self.normals.shape != self.points.shape:
            raise InputError(f"normals have shape {self.normals.shape}, points {self.points.shape}")

    def __len__(self) -> int:
        return self.points.shape[0]

    @property
    def diagonal(self) -> float:
        """Length of the bounding-box diagonal, in source units."""
        return float(np.linalg.norm(self.points.max(axis=0) - self.points.min(axis=0)))

    def normalized(self, transform: Normalization) -> OrientedPoints:
        """The same points in normalized coordinates (normals are unchanged by a uniform scale)."""
        return OrientedPoints(transform.to_unit(self.points), self.normals)


def unit_normals(vectors: np.ndarray, what: str) -> np.ndarray:
    """(N, 3) vectors scaled to unit length; InputError when one is zero or not finite."""
    length = np.linalg.norm(vectors, axis=1, keepdims=True)
    bad = ~(np.isfinite(length[:, 0]) & (length[:, 0] > 0))
    if bad.any():
        raise InputError(
            f"{what}: {int(bad.sum())} normals are zero or not finite (first at point {int(np.argmax(bad))})"
        )
    return vectors / length


def estimate_normals(points: np.ndarray, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """Outward unit normals (N, 3) of points (N, 3) on a closed-ish surface, without any given.

    Each normal is the direction of least variance of the point's k nearest neighbours (PCA).
    Signs are made consistent by walking a minimum spanning tree of the k-NN graph whose edge
    weight 1 − |n_i·n_j| prefers nearly parallel neighbours, flipping a child when it disagrees
    with its parent; each connected part starts from its highest point (largest z), whose normal
    must point up (+z), hence outward.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree
    from scipy.spatial import cKDTree

    count = points.shape[0]
    k = min(neighbours, count - 1)
    if k < 3:
        raise InputError(f"estimating normals needs at least 4 points, got {count}")
    _, index = cKDTree(points).query(points, k=k + 1)  # (N, k+1), the point itself first
    local = points[index] - points[index].mean(axis=1, keepdims=True)
    _, vectors = np.linalg.eigh(np.einsum("nki,nkj->nij", local, local))
    normals = vectors[:, :, 0]  # eigenvalues ascend: the first vector has the least variance

    rows = np.repeat(np.arange(count), k)
    cols = index[:, 1:].reshape(-1)
    weight = 1.0 - np.abs(np.einsum("ni,ni->n", normals[rows], normals[cols])) + 1e-6
    graph = coo_matrix((weight, (rows, cols)), shape=(count, count)).tocsr()
    graph = graph.maximum(graph.T)
    tree = minimum_spanning_tree(graph)
    tree = tree.maximum(tree.T)
    parts, label = connected_components(tree, directed=False)
    sign = np.ones(count)
    for part in range(parts):
        members = np.flatnonzero(label == part)
        root = members[np.argmax(points[members, 2])]
        order, parent = breadth_first_order(tree, root, directed=False)
        sign[root] = 1.0 if normals[root, 2] >= 0 else -1.0
        agree = np.sign(np.einsum("ni,ni->n", normals[order[1:]], normals[parent[order[1:]]]))
        for child, parent_of, same in zip(order[1:], parent[order[1:]], agree):
            sign[child] = sign[parent_of] * (same if same != 0 else 1.0)
    return normals * sign[:, None]


def read_xyz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Points (N, 3) and normals (N, 3) or None from a whitespace-separated .xyz text file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns on an empty file; we say it ourselves
            table = np.loadtxt(path, dtype=np.float64, ndmin=2, comments="#")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a table of numbers (it holds binary data, not text)") from None
    except ValueError as error:
        raise InputError(f"{path}: not a table of numbers ({str(error).splitlines()[0]})") from None
    if table.size == 0:
        raise InputError(f"{path} has no points")
    if table.shape[1] not in (3, 6):
        raise InputError(f"{path}: each line needs 3 (x y z) or 6 (x y z nx ny nz) numbers, got {table.shape[1]}")
    bad = ~np.isfinite(table).all(axis=1)
    if bad.any():
        raise InputError(
            f"{path}: {int(bad.sum())} rows have NaN or infinite values (first at data row {int(np.argmax(bad)) + 1})"
        )
    return table[:, :3], (table[:, 3:] if table.shape[1] == 6 else None)


def _load_geometry(path: Path):
    """A trimesh Trimesh or PointCloud from a mesh file; InputError for anything else."""
    import trimesh

    try:
        loaded = trimesh.load(path, process=False)
    except Exception as error:  # trimesh raises many types for unreadable files
        detail = (str(error).splitlines() or [type(error).__name__])[0]
        kind = path.suffix[1:].upper()
        raise InputError(f"cannot read {path} as a mesh or point cloud (damaged or not {kind}: {detail})") from None
    if isinstance(loaded, trimesh.Scene):
        geometries = list(loaded.geometry.values())
        meshes = [g for g in geometries if isinstance(g, trimesh.Trimesh)]
        if meshes and len(meshes) == len(geometries):
            loaded = trimesh.util.concatenate(meshes)
        elif geometries:
            loaded = geometries[0]
    if not isinstance(loaded, trimesh.Trimesh | trimesh.PointCloud) or len(loaded.vertices) == 0:
        raise InputError(f"cannot read {path} as a mesh or point cloud (no vertices found)")
    return loaded


def _ply_normals(geometry) -> np.ndarray | None:
    """(N, 3) per-vertex normals stored as nx, ny, nz properties of a PLY file, if any.

    trimesh keeps a PLY's raw vertex table as a dict of columns (ASCII) or a structured array
    (binary); both index by property name.
    """
    vertex = geometry.metadata.get("_ply_raw", {}).get("vertex", {}).get("data")
    if vertex is None:
        return None
    names = set(vertex.keys()) if isinstance(vertex, dict) else set(vertex.dtype.names or ())
    if not {"nx", "ny", "nz"} <= names:
        return None
    return np.stack([np.asarray(vertex[k], dtype=np.float64).reshape(-1) for k in ("nx", "ny", "nz")], axis=-1)


def sample_mesh_surface(mesh, count: int, seed: int = 0) -> OrientedPoints:
    """`count` points uniformly over a trimesh's area, each with the normal of its face."""
    import trimesh

    if float(mesh.area) <= 0:
        raise InputError("the mesh has no surface area (all faces are degenerate)")
    points, face = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return OrientedPoints(np.asarray(points, np.float64), unit_normals(mesh.face_normals[face], "mesh faces"))


def load_oriented_points(
    path: str | Path,
    *,
    samples: int | None = None,
    normals: NormalsMode = "auto",
    seed: int = 0,
) -> OrientedPoints:
    """Read a surface as oriented points, in source units.

    A mesh with faces gives `samples` points (default `DEFAULT_SURFACE_SAMPLES`) on its surface
    with face normals; vertices are merged first (ignoring UV and normal seams, as Spot needs).
    A point cloud gives its points (a random subset of `samples` of them when given) with the
    file's normals. `normals`: auto uses the file's normals and estimates them when it has none;
    given requires the file to have them (faces or nx ny nz); estimate always estimates.
    """
    path = Path(path)
    if normals not in ("auto", "given", "estimate"):
        raise InputError(f"unknown normals mode {normals!r}; choose auto, given or estimate")
    if samples is not None and samples < 1:
        raise InputError(f"points must be at least 1, got {samples}")
    readable_file(path)
    suffix = path.suffix.lower()
    if suffix not in POINT_SUFFIXES:
        raise InputError(f"{path}: unsupported point-cloud format {suffix!r}; use one of {', '.join(POINT_SUFFIXES)}")
    if suffix == ".xyz":
        xyz, given = read_xyz(path)
    else:
        geometry = _load_geometry(path)
        if not np.isfinite(geometry.vertices).all():
            raise InputError(f"{path}: some points have NaN or infinite coordinates")
        faces = getattr(geometry, "faces", None)
        if faces is not None and len(faces) > 0 and normals != "estimate":
            geometry.merge_vertices(merge_tex=True, merge_norm=True)
            try:
                return sample_mesh_surface(geometry, samples or DEFAULT_SURFACE_SAMPLES, seed)
            except InputError as error:
                raise InputError(f"{path}: {error}") from None
        xyz = np.asarray(geometry.vertices, dtype=np.float64)
        given = _ply_normals(geometry)
    if samples is not None and samples < len(xyz):
        keep = np.random.default_rng(seed).choice(len(xyz), samples, replace=False)
        xyz, given = xyz[keep], (given[keep] if given is not None else None)
    if normals == "given" and given is None:
        raise InputError(
            f"{path} has no normals (no faces and no nx ny nz properties); normals 'auto' or 'estimate' "
            "(--normals) estimates them"
        )
    if given is None or normals == "estimate":
        return OrientedPoints(xyz, estimate_normals(xyz))
    return OrientedPoints(xyz, unit_normals(given, str(path)))
