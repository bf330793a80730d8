"""Shape recipes: fit a signed distance field to oriented points, mesh it, preview it, measure it.

Points are normalized into [-1, 1]³ for training (`Normalization`, saved in the checkpoint), and
every output — mesh, metrics — comes back in the source's units.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig, FitResult
from sirenkit.outputs import plot_curve, write_json, write_png
from sirenkit.outputs.mesh import MeshMethod, TriangleMesh, extract_mesh, write_mesh
from sirenkit.outputs.shape_metrics import METRIC_SAMPLES, ShapeMetrics, shape_metrics
from sirenkit.outputs.sphere_trace import render_preview
from sirenkit.problems import PointSet, Problem
from sirenkit.problems.sdf import SDFConfig, sdf_problem
from sirenkit.recipes.kind import fit_signal, kind_name, register_kind
from sirenkit.resources import Request, mesh_request, point_bytes, preview_request, training_request
from sirenkit.signals.points import Normalization, OrientedPoints, sample_mesh_surface
from sirenkit.store import Representation

MESH_NAME = "mesh.ply"
PREVIEW_NAME = "preview.png"

SDF_FIT = FitConfig(steps=3000, lr=1e-4, schedule="cosine", precision="fp32")
"""Training settings of `fit_sdf` and `sirenkit fit sdf`: the official Adam lr 1e-4 with cosine
decay, fp32 (the loss is on gradients); `python benchmarks/sdf.py` measures what a budget of
steps gives on the bunny and Spot."""

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
    kind_name(representation, "sdf")
    return Normalization.from_dict(representation.signal["normalization"])


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

    def headline(self) -> str:
        """One line for the command line: model, Chamfer-L1, normal consistency, F-score, steps and time."""
        return (
            f"{self.result.representation.config.model}: Chamfer-L1 {self.metrics.chamfer_l1:.3%} of the diagonal, "
            f"normal consistency {self.metrics.normal_consistency:.4f}, F-score {self.metrics.fscore:.4f} "
            f"{self.result.effort()}"
        )


@register_kind
@dataclass(frozen=True)
class SDFKind:
    """A surface as a signed distance field: 3 inputs, 1 output, fitted to oriented points.

    `sdf_config` None takes the official weights (`SDFConfig()`). The mesh is extracted
    coarse-to-fine at `resolution`³ and compared with `reference` (the points themselves by
    default) on `metric_samples` points; the preview has `preview_size` pixels per view (0: none)
    around the `preview_up` axis. `source` names the points' file in the checkpoint.
    """

    name: ClassVar[str] = "sdf"
    noun: ClassVar[str] = "a shape (sdf)"
    sdf_config: SDFConfig | None = None
    resolution: int = 256
    preview_size: int = 256
    preview_up: str = "z"
    reference: OrientedPoints | None = None
    metric_samples: int = METRIC_SAMPLES
    source: str = ""

    def __post_init__(self) -> None:
        if self.resolution < 2:
            raise InputError(f"resolution must be at least 2, got {self.resolution}")
        if self.preview_size < 0:
            raise InputError(f"preview size must be at least 0, got {self.preview_size}")
        if self.metric_samples < 1:
            raise InputError(f"metric samples must be at least 1, got {self.metric_samples}")

    @property
    def weights(self) -> SDFConfig:
        return SDFConfig() if self.sdf_config is None else self.sdf_config

    def field_config(self, signal: OrientedPoints, config: FieldConfig) -> FieldConfig:
        return sdf_field_config(config)

    def metadata(self, signal: OrientedPoints) -> dict[str, Any]:
        return signal_metadata(signal, Normalization.fitting(signal.points), self.source)

    def problem(self, signal: OrientedPoints, batch: int | None, device: torch.device | str) -> Problem:
        unit = signal.normalized(Normalization.fitting(signal.points))
        surface = PointSet(
            torch.as_tensor(unit.points, dtype=torch.float32, device=device),
            {"normal": torch.as_tensor(unit.normals, dtype=torch.float32, device=device)},
        )
        return sdf_problem(surface, self.weights)

    def requests(
        self, signal: OrientedPoints, config: FieldConfig, batch: int | None, device: torch.device | str
    ) -> list[Request]:
        points = self.weights.surface_points + self.weights.off_surface_points
        return [
            training_request(config, points, order=1, data_bytes=point_bytes(len(signal), 6), device=device),
            mesh_request(self.resolution),
            preview_request(self.preview_size, option="--preview-size"),
        ]

    def live_metrics(self, signal: OrientedPoints) -> None:
        return None

    def finish(
        self, result: FitResult, signal: OrientedPoints, device: torch.device | str, run_dir: Path | None
    ) -> SDFFit:
        representation = result.representation
        mesh = mesh_of(representation, self.resolution, device=device)
        reference = signal if self.reference is None else self.reference
        outcome = SDFFit(result, mesh, mesh_metrics(mesh, reference, samples=self.metric_samples), self.resolution)
        if run_dir is not None:
            write_mesh(run_dir / MESH_NAME, mesh)
            if self.preview_size:
                preview = render_preview(
                    representation.field, size=self.preview_size, up=self.preview_up, device=device
                )
                write_png(run_dir / PREVIEW_NAME, preview)
            title = f"{representation.config.model}: SDF loss"
            plot_curve(result.history, run_dir / "curve.png", key="loss", label="loss", title=title)
            write_json(run_dir / "summary.json", outcome.summary())
        return outcome


def fit_sdf(
    points: OrientedPoints,
    field_config: FieldConfig | None = None,
    fit_config: FitConfig = SDF_FIT,
    sdf_config: SDFConfig | None = None,
    *,
    resolution: int = 256,
    preview_size: int = 256,
    preview_up: str = "z",
    reference: OrientedPoints | None = None,
    metric_samples: int = METRIC_SAMPLES,
    source: str = "",
    **settings: Any,
) -> SDFFit:
    """Fit a signed distance field to oriented points (source units) and mesh its zero level set
    (`recipes.kind.fit_signal` with `SDFKind`; keywords as there: device, run_dir, resume, quiet,
    identity, on_step).

    Files with `run_dir`: model.safetensors, mesh.ply (source units), preview.png, curve.png (loss
    per step), summary.json, metrics.jsonl, checkpoint.safetensors.
    """
    kind = SDFKind(sdf_config, resolution, preview_size, preview_up, reference, metric_samples, source)
    return fit_signal(kind, points, field_config or FieldConfig(), fit_config, **settings)
