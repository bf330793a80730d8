"""Shape recipes: fit a signed distance field to oriented points, mesh it, preview it, measure it.

Points are normalized into [-1, 1]³ for training (`Normalization`, saved in the checkpoint), and
every output — mesh, metrics — comes back in the source's units.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field
from sirenkit.fit import FitConfig, FitResult, fit
from sirenkit.outputs import plot_curve, write_json, write_png
from sirenkit.outputs.mesh import MeshMethod, TriangleMesh, extract_mesh, write_mesh
from sirenkit.outputs.shape_metrics import METRIC_SAMPLES, ShapeMetrics, shape_metrics
from sirenkit.outputs.sphere_trace import render_preview
from sirenkit.problems import PointSet
from sirenkit.problems.sdf import SDFConfig, sdf_problem
from sirenkit.resources import check_fit, mesh_request, point_bytes, preview_request
from sirenkit.signals.points import Normalization, OrientedPoints, sample_mesh_surface
from sirenkit.store import Representation

MESH_NAME = "mesh.ply"
PREVIEW_NAME = "preview.png"

PE_OCTAVES_3D = 10
"""relu-pe octaves for 3-D coordinates: the official `PosEncodingNeRF` uses 10 when in_features is 3."""


def sdf_field_config(config: FieldConfig) -> FieldConfig:
    """The field settings for a signed distance: 3 inputs, 1 output, the official 10 PE octaves for relu-pe."""
    return replace(config, in_dim=3, out_dim=1, pe_octaves=config.pe_octaves or PE_OCTAVES_3D)


def signal_metadata(points: OrientedPoints, normalization: Normalization, source: str) -> dict:
    """What a checkpoint records of the surface it represents."""
    return {
        "kind": "sdf",
        "source": source,
        "points": len(points),
        "diagonal": points.diagonal,
        "normalization": normalization.to_dict(),
        "convention": "x_unit = (x_source - center) / scale; Phi < 0 inside, in normalized units",
    }


def normalization_of(representation: Representation) -> Normalization:
    """The source ↔ [-1, 1]³ transform saved with an SDF representation."""
    signal = representation.signal
    if signal.get("kind") != "sdf":
        raise InputError(f"this checkpoint represents a {signal.get('kind', 'unknown')} signal, not a shape (sdf)")
    return Normalization.from_dict(signal["normalization"])


def signed_distance(
    representation: Representation, points: np.ndarray, *, device: torch.device | str = "cpu", chunk: int = 65536
) -> np.ndarray:
    """Φ at points (N, 3) given in source units, in source units (N,): negative inside."""
    normalization = normalization_of(representation)
    unit = torch.as_tensor(normalization.to_unit(points), dtype=torch.float32)
    field_ = representation.field.to(device)
    with torch.no_grad():
        values = [field_(part.to(device))[:, 0].cpu() for part in unit.split(chunk)]
    return torch.cat(values).double().numpy() * normalization.scale


def mesh_of(
    representation: Representation,
    resolution: int = 256,
    *,
    method: MeshMethod = "coarse-to-fine",
    device: torch.device | str = "cpu",
) -> TriangleMesh:
    """The zero level set of an SDF representation as a mesh in the source's units."""
    normalization = normalization_of(representation)
    mesh = extract_mesh(representation.field, resolution, method=method, device=device)
    return mesh.map_vertices(normalization.to_source)


def mesh_metrics(mesh: TriangleMesh, reference: OrientedPoints, *, samples: int = METRIC_SAMPLES) -> ShapeMetrics:
    """Chamfer, normal consistency and F-score of a mesh against oriented reference points (same units).

    `samples` points are drawn on the mesh, and at most as many reference points are used;
    lengths are fractions of the whole reference's bounding-box diagonal.
    """
    if len(mesh.faces) == 0:
        raise InputError("the extracted mesh has no faces")
    diagonal = reference.diagonal
    sampled = sample_mesh_surface(mesh.to_trimesh(), samples, seed=0)
    if len(reference) > samples:
        keep = np.random.default_rng(0).choice(len(reference), samples, replace=False)
        reference = OrientedPoints(reference.points[keep], reference.normals[keep])
    return shape_metrics(sampled.points, sampled.normals, reference.points, reference.normals, diagonal)


@dataclass
class SDFFit:
    """An SDF fit's outcome: the fit, its mesh in source units and the mesh's quality."""

    result: FitResult
    mesh: TriangleMesh
    metrics: ShapeMetrics
    resolution: int

    def summary(self) -> dict:
        field_ = self.result.representation.field
        steps = max(self.result.steps, 1)
        return {
            "model": self.result.representation.config.model,
            "steps": self.result.steps,
            "seconds": round(self.result.seconds, 3),
            "seconds_per_step": round(self.result.seconds / steps, 5),
            "resolution": self.resolution,
            "vertices": len(self.mesh.vertices),
            "faces": len(self.mesh.faces),
            **{k: round(v, 6) for k, v in self.metrics.to_dict().items()},
            "metric_convention": "lengths as fractions of the source bounding-box diagonal; F-score at 1% of it",
            "parameters": sum(p.numel() for p in field_.parameters()),
        }


def fit_sdf(
    points: OrientedPoints,
    field_config: FieldConfig,
    fit_config: FitConfig,
    sdf_config: SDFConfig | None = None,
    *,
    resolution: int = 256,
    preview_size: int = 256,
    preview_up: str = "z",
    reference: OrientedPoints | None = None,
    metric_samples: int = METRIC_SAMPLES,
    source: str = "",
    device: torch.device | str = "cpu",
    run_dir: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    identity: dict | None = None,
) -> SDFFit:
    """Fit a signed distance field to oriented points (source units) and mesh its zero level set.

    `sdf_config` None takes the official weights (`SDFConfig()`). The field is initialized from
    `fit_config.seed`. The mesh is extracted coarse-to-fine at `resolution`³ and compared with
    `reference` (the points themselves by default) on `metric_samples` points. With `run_dir`,
    files: model.safetensors, mesh.ply (source units), preview.png (`preview_size` pixels per
    view, around the `preview_up` axis; 0 skips it), curve.png (loss per step), summary.json, metrics.jsonl,
    checkpoint.safetensors.
    """
    if resolution < 2:
        raise InputError(f"resolution must be at least 2, got {resolution}")
    if preview_size < 0:
        raise InputError(f"preview size must be at least 0, got {preview_size}")
    if metric_samples < 1:
        raise InputError(f"metric samples must be at least 1, got {metric_samples}")
    config = sdf_field_config(field_config)
    sdf_config = SDFConfig() if sdf_config is None else sdf_config
    outputs = [mesh_request(resolution), preview_request(preview_size, option="--preview-size")]
    points_per_step = sdf_config.surface_points + sdf_config.off_surface_points
    check_fit(config, points_per_step, order=1, data_bytes=point_bytes(len(points), 6), outputs=outputs, device=device)
    normalization = Normalization.fitting(points.points)
    unit = points.normalized(normalization)
    representation = Representation(
        build_field(config, seed=fit_config.seed), config, signal_metadata(points, normalization, source)
    )
    surface = PointSet(
        torch.as_tensor(unit.points, dtype=torch.float32, device=device),
        {"normal": torch.as_tensor(unit.normals, dtype=torch.float32, device=device)},
    )
    result = fit(
        representation,
        sdf_problem(surface, SDFConfig() if sdf_config is None else sdf_config),
        fit_config,
        device=device,
        run_dir=run_dir,
        resume=resume,
        quiet=quiet,
        identity=identity,
    )
    mesh = mesh_of(representation, resolution, device=device)
    metrics = mesh_metrics(mesh, points if reference is None else reference, samples=metric_samples)
    outcome = SDFFit(result, mesh, metrics, resolution)
    if run_dir is not None:
        run_dir = Path(run_dir)
        write_mesh(run_dir / MESH_NAME, mesh)
        if preview_size:
            write_png(
                run_dir / PREVIEW_NAME,
                render_preview(representation.field, size=preview_size, up=preview_up, device=device),
            )
        plot_curve(result.history, run_dir / "curve.png", key="loss", label="loss", title=f"{config.model}: SDF loss")
        write_json(run_dir / "summary.json", outcome.summary())
    return outcome
