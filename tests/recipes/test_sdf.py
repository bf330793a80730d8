"""The shape recipe (`recipes/sdf.py`): SDF fits of a sphere and a torus, their meshes, in source units."""

from __future__ import annotations

import numpy as np
import pytest

from signal_helpers import CENTER, MAJOR, MINOR, RADIUS, SHAPES, unmatched
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.outputs.mesh import extract_mesh
from sirenkit.problems.sdf import SDFConfig
from sirenkit.recipes.sdf import fit_sdf, mesh_of, signed_distance
from sirenkit.signals.points import Normalization
from sirenkit.store import load_representation

SMALL = FieldConfig(width=96, depth=2, omega0=5.0)
"""ω0 = 5 in the first layer: these smooth shapes need no high frequencies, and with the paper's 30 a
few hundred steps leave ghost surfaces (zero crossings away from the data) that long fits lose."""


QUICK = FitConfig(steps=300, lr=3e-4, schedule="cosine", checkpoint_every=0)


BATCH = SDFConfig(surface_points=1000, off_surface_points=1000)


MESH_RESOLUTION = 64


NEAR = 0.02
"""'Near the surface': within this distance of it, in source units (2% of the sphere's radius)."""


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


def test_coarse_to_fine_mesh_agrees_with_dense_on_a_fitted_field(fitted):
    _, outcome = fitted
    field = outcome.result.representation.field
    dense = extract_mesh(field, MESH_RESOLUTION, method="dense")
    fine = extract_mesh(field, MESH_RESOLUTION, method="coarse-to-fine")
    # The two evaluate Φ in batches of other shapes, so values (and vertices) differ by float rounding.
    tolerance = 1e-4  # 0.3% of a cell
    assert unmatched(fine.vertices, dense.vertices, tolerance).size == 0, "every coarse-to-fine vertex is a dense one"
    assert unmatched(dense.vertices, fine.vertices, tolerance).size <= 0.001 * len(dense.vertices)  # pruned specks
