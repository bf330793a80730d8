"""Shapes: SDF fits of analytic surfaces, meshes in source units, marching cubes coarse-to-fine against
dense, previews, metrics, and one clear error per bad surface file."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from torch import nn

from sirenkit.cli import main
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs.mesh import extract_mesh
from sirenkit.outputs.shape_metrics import shape_metrics
from sirenkit.outputs.sphere_trace import render_preview
from sirenkit.problems import PointSet
from sirenkit.problems.sdf import SDFConfig, sdf_problem
from sirenkit.recipes.sdf import fit_sdf, mesh_of, signed_distance
from sirenkit.signals.points import Normalization, OrientedPoints, load_oriented_points
from sirenkit.store import load_representation

CENTER = np.array([0.3, -0.2, 0.5])
"""The analytic shapes sit off the origin so that normalization has something to undo."""
RADIUS, MAJOR, MINOR = 1.0, 1.0, 0.4
SMALL = FieldConfig(width=96, depth=2, omega0=5.0)
"""ω0 = 5 in the first layer: these smooth shapes need no high frequencies, and with the paper's 30 a
few hundred steps leave ghost surfaces (zero crossings away from the data) that long fits lose."""
QUICK = FitConfig(steps=300, lr=3e-4, schedule="cosine", checkpoint_every=0)
BATCH = SDFConfig(surface_points=1000, off_surface_points=1000)
MESH_RESOLUTION = 64
NEAR = 0.02
"""'Near the surface': within this distance of it, in source units (2% of the sphere's radius)."""


def sphere_points(n: int, seed: int) -> OrientedPoints:
    """n points uniform on the sphere of radius RADIUS about CENTER, with outward normals."""
    d = np.random.default_rng(seed).normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return OrientedPoints(CENTER + RADIUS * d, d)


def sphere_distance(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x - CENTER, axis=1) - RADIUS


def torus_points(n: int, seed: int) -> OrientedPoints:
    """n points uniform by area on the torus about the z axis through CENTER (radii MAJOR, MINOR)."""
    rng = np.random.default_rng(seed)
    theta, phi = np.empty(0), np.empty(0)
    while len(theta) < n:  # rejection: the area element is proportional to 1 + (r/R) cos φ
        t, p = rng.uniform(0, 2 * np.pi, (2, n))
        keep = rng.uniform(0, 1 + MINOR / MAJOR, n) < 1 + MINOR / MAJOR * np.cos(p)
        theta, phi = np.concatenate([theta, t[keep]]), np.concatenate([phi, p[keep]])
    theta, phi = theta[:n], phi[:n]
    normal = np.stack([np.cos(phi) * np.cos(theta), np.cos(phi) * np.sin(theta), np.sin(phi)], 1)
    ring = np.stack([MAJOR * np.cos(theta), MAJOR * np.sin(theta), np.zeros(n)], 1)
    return OrientedPoints(CENTER + ring + MINOR * normal, normal)


def torus_distance(x: np.ndarray) -> np.ndarray:
    x = x - CENTER
    return np.hypot(np.hypot(x[:, 0], x[:, 1]) - MAJOR, x[:, 2]) - MINOR


SHAPES = {"sphere": (sphere_points, sphere_distance), "torus": (torus_points, torus_distance)}


class TorusSDF(nn.Module):
    """The exact signed distance (n, 1) of a torus about the z axis (radii 0.55, 0.23) at x (n, 3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.stack([torch.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2) - 0.55, x[:, 2]], -1)
        return (q.norm(dim=-1) - 0.23)[:, None]


class BallSDF(nn.Module):
    """The exact signed distance (n, 1) of the sphere of radius 0.5 about the origin at x (n, 3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.norm(dim=-1) - 0.5)[:, None]


def unmatched(vertices: np.ndarray, reference: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    """Indices of the vertices (V, 3) with no vertex of `reference` within `tolerance`."""
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(reference).query(vertices)
    return np.flatnonzero(distance > tolerance)


@pytest.fixture(scope="module", params=sorted(SHAPES))
def fitted(request):
    """(shape name, its SDF fit) on 5,000 oriented points, checked against 20,000 fresh ones."""
    sample, _ = SHAPES[request.param]
    outcome = fit_sdf(
        sample(5000, seed=1),
        SMALL,
        QUICK,
        BATCH,
        resolution=MESH_RESOLUTION,
        preview_size=0,
        reference=sample(20000, seed=2),
        metric_samples=20000,
        quiet=True,
    )
    return request.param, outcome


def distance_error(name: str, outcome, band: float) -> np.ndarray:
    """|Φ − true distance| in source units (2000,) at points up to `band` off the surface."""
    sample, distance = SHAPES[name]
    near = sample(2000, seed=3)
    x = near.points + near.normals * band * np.random.default_rng(4).uniform(-1, 1, (2000, 1))
    return np.abs(signed_distance(outcome.result.representation, x) - distance(x))


def test_fitted_sdf_is_within_1e_2_of_the_true_distance_near_the_surface(fitted):
    name, outcome = fitted
    near, wider = distance_error(name, outcome, NEAR), distance_error(name, outcome, 2.5 * NEAR)
    assert near.max() < 1e-2, f"{name}: max error {near.max():.4f} within {NEAR} of the surface"
    assert np.quantile(wider, 0.99) < 1e-2, (
        f"{name}: 99th percentile {np.quantile(wider, 0.99):.4f} within {2.5 * NEAR}"
    )


def test_fitted_mesh_is_within_1_percent_chamfer_l1(fitted):
    name, outcome = fitted
    assert outcome.metrics.chamfer_l1 < 0.01, f"{name}: {outcome.metrics}"
    assert outcome.metrics.normal_consistency > 0.98 and outcome.metrics.fscore > 0.9, f"{name}: {outcome.metrics}"
    assert outcome.mesh.to_trimesh().is_watertight


def test_outputs_come_back_in_source_units(fitted):
    name, outcome = fitted
    representation = outcome.result.representation
    low, high = outcome.mesh.vertices.min(0), outcome.mesh.vertices.max(0)
    reach = MAJOR + MINOR if name == "torus" else RADIUS
    half = np.array([reach, reach, MINOR if name == "torus" else RADIUS])
    cell = 2 * representation.signal["normalization"]["scale"] / (MESH_RESOLUTION - 1)  # source units
    np.testing.assert_allclose(low, CENTER - half, atol=2 * cell)
    np.testing.assert_allclose(high, CENTER + half, atol=2 * cell)
    surface = SHAPES[name][0](500, seed=10)
    step = 0.02  # source units: a slope of 1 means Φ is a distance in source units (normalized: 1/scale)
    ahead, behind = (signed_distance(representation, surface.points + s * surface.normals) for s in (step, -step))
    assert np.median((ahead - behind) / (2 * step)) == pytest.approx(1, abs=0.03)


def test_normalization_round_trips_and_survives_the_checkpoint(fitted, tmp_path):
    from sirenkit.store import save_representation

    _, outcome = fitted
    x = np.random.default_rng(5).normal(size=(100, 3)) * 7 + 3
    transform = Normalization.fitting(x)
    unit = transform.to_unit(x)
    assert np.abs(unit).max() == pytest.approx(0.9)
    np.testing.assert_allclose(transform.to_source(unit), x, atol=1e-12)
    save_representation(tmp_path / "m.safetensors", outcome.result.representation)
    again = mesh_of(load_representation(tmp_path / "m.safetensors"), MESH_RESOLUTION)
    np.testing.assert_allclose(again.vertices, outcome.mesh.vertices, atol=1e-9)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_estimated_normals_point_outward(name, tmp_path):
    sample, _ = SHAPES[name]
    points = sample(3000, seed=6)
    path = tmp_path / "cloud.xyz"
    np.savetxt(path, points.points)  # x y z only: the normals must be estimated
    estimated = load_oriented_points(path)
    assert estimated.normals.shape == points.normals.shape
    cosine = np.einsum("ni,ni->n", estimated.normals, points.normals)
    assert cosine.min() > 0, f"{int((cosine <= 0).sum())} normals point inward"
    assert np.median(cosine) > 0.99


def test_coarse_to_fine_mesh_equals_dense_on_an_exact_sdf():
    field = TorusSDF()
    for resolution, block in itertools.product((33, 50, 150), (2, 4)):  # 50, 150: blocks overhang the far faces
        dense = extract_mesh(field, resolution, method="dense")
        fine = extract_mesh(field, resolution, method="coarse-to-fine", block=block)
        assert len(fine.faces) == len(dense.faces) and len(fine.vertices) == len(dense.vertices)
        # The two paths compute float32 sample coordinates differently (a last-bit difference at some
        # resolutions), which moves a vertex by up to ~3e-6.
        tolerance = 1e-5
        assert unmatched(fine.vertices, dense.vertices, tolerance).size == 0
        assert unmatched(dense.vertices, fine.vertices, tolerance).size == 0
        assert fine.to_trimesh().is_watertight
        centers = fine.vertices[fine.faces].mean(1)
        ring = 0.55 * centers * np.array([1, 1, 0]) / np.linalg.norm(centers[:, :2], axis=1, keepdims=True)
        outward = np.einsum("ni,ni->n", fine.to_trimesh().face_normals, centers - ring)
        assert (outward > 0).all(), "faces must face outward"


def test_coarse_to_fine_mesh_agrees_with_dense_on_a_fitted_field(fitted):
    _, outcome = fitted
    field = outcome.result.representation.field
    dense = extract_mesh(field, MESH_RESOLUTION, method="dense")
    fine = extract_mesh(field, MESH_RESOLUTION, method="coarse-to-fine")
    # The two evaluate Φ in batches of other shapes, so values (and vertices) differ by float rounding.
    tolerance = 1e-4  # 0.3% of a cell
    assert unmatched(fine.vertices, dense.vertices, tolerance).size == 0, "every coarse-to-fine vertex is a dense one"
    assert unmatched(dense.vertices, fine.vertices, tolerance).size <= 0.001 * len(dense.vertices)  # pruned specks


def test_exact_sdf_has_no_surface_normal_or_eikonal_loss():
    points = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    normals = points / points.norm(dim=-1, keepdim=True)
    problem = sdf_problem(PointSet(0.5 * normals, {"normal": normals}), SDFConfig(surface_points=200))
    losses = problem.losses(BallSDF(), torch.Generator().manual_seed(1))
    for name in ("surface", "normal", "eikonal_surface", "eikonal_off"):
        assert losses[name].item() < 1e-5, (name, losses[name].item())
    assert losses["off_surface"].item() > 0


def test_sdf_problem_weights_are_the_official_loss():
    surface = PointSet(torch.zeros(10, 3), {"normal": torch.ones(10, 3)})
    weights = {
        c.name: c.weight
        for c in sdf_problem(surface, SDFConfig(surface_points=300, off_surface_points=100)).constraints
    }
    # one mean over all 400 points of the step, as the official loss takes it
    assert weights == pytest.approx(
        {
            "surface": 3e3 * 0.75,
            "normal": 1e2 * 0.75,
            "eikonal_surface": 5e1 * 0.75,
            "eikonal_off": 5e1 * 0.25,
            "off_surface": 1e2 * 0.25,
        }
    )


def test_preview_shows_a_lit_surface_on_a_plain_background():
    image = render_preview(TorusSDF(), size=24, azimuths=(0.0, 90.0))
    assert image.shape == (24, 48, 3)
    assert (image[0, 0] == 1).all(), "a corner ray misses: background"
    hit = (image != 1).any(-1)
    assert 0.1 < hit.mean() < 0.9
    assert image[hit].std() > 0.02, "shading varies with the normal"


class RodSDF(nn.Module):
    """A bound (n, 1) on the signed distance of a rod along y (a capsule of radius 0.15, half length 0.6)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        along = x[:, 1].clamp(-0.6, 0.6)
        return (torch.stack([x[:, 0], x[:, 1] - along, x[:, 2]], -1).norm(dim=-1) - 0.15)[:, None]


def extent(view: np.ndarray) -> tuple[int, int]:
    """Rows and columns (height, width) covered by the surface in one view (size, size, 3)."""
    rows, cols = np.nonzero((view != 1).any(-1))
    return np.ptp(rows) + 1, np.ptp(cols) + 1


def test_preview_up_axis_holds_the_shape_upright_and_lit_from_above():
    size = 32
    upright = render_preview(RodSDF(), size=size, azimuths=(0.0,), up="y")
    height, width = extent(upright)
    assert height > 2.5 * width, "with up = y the rod stands"
    lying = render_preview(RodSDF(), size=size, azimuths=(0.0,), up="z")
    height, width = extent(lying)
    assert width > 2.5 * height, "with up = z (seen from +x) the rod lies across the view"
    hit = (upright != 1).any(-1)
    rows = np.nonzero(hit.any(1))[0]
    top, bottom = (upright[r][hit[r]].mean() for r in (rows.min() + 2, rows.max() - 2))
    assert top > bottom, "the key light is above"
    with pytest.raises(ValueError, match="up must be"):
        render_preview(RodSDF(), size=8, up="w")


def test_shape_metrics_of_a_plane_and_its_offset_copies():
    u, v = np.meshgrid(np.linspace(0, 1, 60), np.linspace(0, 1, 60))
    plane = np.stack([u.ravel(), v.ravel(), np.zeros(u.size)], 1)
    up = np.tile([0.0, 0.0, 1.0], (len(plane), 1))
    diagonal = np.sqrt(2)
    same = shape_metrics(plane, -up, plane, up, diagonal)  # flipped normals: consistency ignores the sign
    assert (same.chamfer_l1, same.chamfer_l2, same.normal_consistency, same.fscore) == (0, 0, 1, 1)
    for offset, fscore in ((0.005, 1.0), (0.02, 0.0)):  # fractions of the diagonal; F-score at 0.01
        moved = shape_metrics(plane + [0, 0, offset * diagonal], up, plane, up, diagonal)
        assert moved.chamfer_l1 == pytest.approx(offset) and moved.chamfer_l2 == pytest.approx(offset**2)
        assert moved.fscore == fscore


def write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


BAD_SURFACES = {
    "xyz with NaN rows": (lambda t: write(t / "nan.xyz", "0 0 0\n1 0 0\nnan 1 0\n0 0 1\n"), {}, "NaN"),
    "empty file": (lambda t: write(t / "empty.xyz", ""), {}, "empty"),
    "not a mesh (ply)": (lambda t: write(t / "x.ply", "hello\n"), {}, "cannot read"),
    "not a mesh (obj)": (lambda t: write(t / "x.obj", "hello\n"), {}, "cannot read"),
    "mesh without faces, normals given": (
        lambda t: write(t / "v.obj", "".join(f"v {i} {i % 3} {i % 5}\n" for i in range(20))),
        {"normals": "given"},
        "has no normals",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SURFACES))
def test_bad_surface_file_is_one_clear_error(case, tmp_path, capsys):
    make, options, message = BAD_SURFACES[case]
    path = make(tmp_path)
    with pytest.raises(InputError, match=message):
        load_oriented_points(path, **options)
    out = tmp_path / "out"
    args = ["fit", "sdf", str(path), "--out", str(out), "--steps", "1", "--width", "8", "--quiet"]
    args += [f"--{k}={v}" for k, v in options.items()]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sirenkit: error:") and message in err, err
    assert not (out / "model.safetensors").exists()


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".off", ".stl"])
def test_meshes_are_sampled_with_outward_face_normals(suffix, tmp_path):
    import trimesh

    path = tmp_path / f"ball{suffix}"
    trimesh.creation.icosphere(subdivisions=2, radius=2.0).export(path)
    points = load_oriented_points(path, samples=500)
    assert len(points) == 500
    np.testing.assert_allclose(np.linalg.norm(points.points, axis=1), 2.0, atol=0.1)
    assert (np.einsum("ni,ni->n", points.normals, points.points) > 0).all()


def test_point_cloud_ply_keeps_its_normals(tmp_path):
    points = sphere_points(50, seed=8)
    rows = "".join(" ".join(f"{v:.9g}" for v in row) + "\n" for row in np.hstack([points.points, points.normals]))
    header = "ply\nformat ascii 1.0\nelement vertex 50\n" + "".join(
        f"property float {name}\n" for name in ("x", "y", "z", "nx", "ny", "nz")
    )
    loaded = load_oriented_points(write(tmp_path / "cloud.ply", header + "end_header\n" + rows), normals="given")
    np.testing.assert_allclose(loaded.normals, points.normals, atol=1e-6)


def test_cli_fit_sdf_and_mesh(tmp_path):
    points = sphere_points(2000, seed=9)
    path = tmp_path / "ball.xyz"
    np.savetxt(path, np.hstack([points.points, points.normals]))
    out = tmp_path / "run"
    args = ["fit", "sdf", str(path), "--out", str(out), "--steps", "200", "--width", "32", "--depth", "2"]
    args += ["--omega0", "5", "--lr", "3e-4", "--batch", "500", "--off-surface-points", "500", "--resolution", "32"]
    assert main([*args, "--preview-size", "16", "--quiet"]) == 0
    for name in ("model.safetensors", "checkpoint.safetensors", "mesh.ply", "preview.png", "summary.json", "curve.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["chamfer_l1"] < 0.02 and summary["resolution"] == 32
    assert main(["mesh", str(out / "model.safetensors"), "--resolution", "40", "--out", str(tmp_path / "m.obj")]) == 0
    import trimesh

    mesh = trimesh.load(tmp_path / "m.obj", process=False)
    np.testing.assert_allclose(mesh.bounds.mean(0), CENTER, atol=0.1)  # source units, not [-1, 1]
    assert main(["preview", str(out / "model.safetensors"), "--size", "16", "--up", "y"]) == 0
    from PIL import Image

    with Image.open(out / "preview_y.png") as preview:
        assert preview.size == (64, 16)  # four views side by side


def test_cli_mesh_rejects_a_non_sdf_checkpoint_and_a_bad_format(tmp_path, capsys):
    from sirenkit.fields import build_field
    from sirenkit.store import Representation, save_representation

    config = FieldConfig(width=8, depth=1)
    save_representation(tmp_path / "img.safetensors", Representation(build_field(config), config, {"kind": "image"}))
    assert main(["mesh", str(tmp_path / "img.safetensors")]) == 2
    assert "not a shape" in capsys.readouterr().err
    assert main(["mesh", str(tmp_path / "img.safetensors"), "--out", str(tmp_path / "m.stl")]) == 2
    assert ".ply or .obj" in capsys.readouterr().err
    assert main(["preview", str(tmp_path / "img.safetensors")]) == 2
    assert "not a shape" in capsys.readouterr().err
    assert not (tmp_path / "preview_z.png").exists()
