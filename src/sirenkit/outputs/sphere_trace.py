"""A shaded preview of a signed distance field, rendered by sphere tracing (Hart 1996) on the CPU.

Each pixel's ray starts where it enters the cube [-1, 1]³ and steps forward by Φ(x) (scaled by
`STEP_SCALE`, since a fitted field is only approximately 1-Lipschitz) until Φ < `HIT_TOLERANCE`
or it leaves the cube. Normals at the hits are ∇Φ from `sirenkit.calculus.jet`; shading is
Lambertian under a key light and a head light with some ambient. Several views around the
vertical axis (+z by default; `up` names another, for y-up meshes such as the bunny) are placed
side by side in one image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from sirenkit.calculus import jet
from sirenkit.fields import MLPField

STEP_SCALE = 0.9
"""Fraction of Φ taken as each step; below 1 so an approximate SDF does not step through the surface."""
HIT_TOLERANCE = 1e-3
"""|Φ| below which a ray has hit the surface, in normalized coordinates (1/1000 of the half cube)."""
MAX_STEPS = 96
"""Sphere-tracing iterations per ray."""
CAMERA_DISTANCE = 3.2
"""Camera distance from the origin; with FIELD_OF_VIEW the cube's inscribed sphere fills the view."""
FIELD_OF_VIEW = 36.0
"""Vertical field of view in degrees."""
ELEVATION = 20.0
"""Camera elevation above the horizontal plane, in degrees."""
AMBIENT = 0.15
"""Ambient light level; the rest is split between the key light and the head light."""
SURFACE_COLOR = (0.85, 0.78, 0.62)
"""RGB albedo of the surface."""
BACKGROUND = 1.0
"""Gray level of pixels whose ray misses."""
KEY_LIGHT = (0.5, 0.3, 0.8)
"""Direction toward the key light in the camera rig's frame (z up): above and beside the first view."""
UP_AXES = ("x", "y", "z")
"""Axes a preview can hold vertical."""


def rig_to_world(up: str) -> Tensor:
    """(3, 3) rotation taking the camera rig's frame (z up) to the field's, with `up` vertical.

    A cyclic permutation of the axes (so right-handed): for up = y, the rig's x, y, z are the
    field's z, x, y, and the view at azimuth 0 looks along −z at the +z side.
    """
    if up not in UP_AXES:
        raise ValueError(f"up must be one of {', '.join(UP_AXES)}, got {up!r}")
    shift = (UP_AXES.index(up) + 1) % 3
    return torch.eye(3).roll(shift, dims=0)


@dataclass(frozen=True)
class Camera:
    """A pinhole camera looking at the origin: rays (H·W, 3) from `rays`."""

    azimuth: float
    """Degrees around the up axis; at 0 (up = z) the camera sits on the +x side and looks toward the origin."""
    size: int
    """Pixels per side of the square view."""
    up: str = "z"
    """The field's axis shown vertical (x, y or z)."""

    def rays(self, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        """Origin (3,) and unit directions (size², 3), row-major from the top-left pixel, in the field's frame."""
        az, el = math.radians(self.azimuth), math.radians(ELEVATION)
        eye = CAMERA_DISTANCE * torch.tensor([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        forward = -eye / eye.norm()
        right = torch.linalg.cross(forward, torch.tensor([0.0, 0.0, 1.0]))
        right = right / right.norm()
        up = torch.linalg.cross(right, forward)
        half = math.tan(math.radians(FIELD_OF_VIEW) / 2)
        t = (torch.arange(self.size, dtype=torch.float32) + 0.5) / self.size * 2 - 1
        v, u = torch.meshgrid(-t * half, t * half, indexing="ij")
        directions = forward + u.reshape(-1, 1) * right + v.reshape(-1, 1) * up
        to_world = rig_to_world(self.up)
        directions = (directions / directions.norm(dim=-1, keepdim=True)) @ to_world.T
        return (to_world @ eye).to(device), directions.to(device)

    def key_light(self, device: torch.device | str = "cpu") -> Tensor:
        """Unit direction (3,) toward the key light, in the field's frame."""
        key = rig_to_world(self.up) @ torch.tensor(KEY_LIGHT)
        return (key / key.norm()).to(device)


def box_interval(origin: Tensor, directions: Tensor) -> tuple[Tensor, Tensor]:
    """Entry and exit distances (n,) of rays through the cube [-1, 1]³ (entry > exit: a miss)."""
    inverse = 1.0 / torch.where(directions.abs() < 1e-12, torch.full_like(directions, 1e-12), directions)
    t1, t2 = (-1 - origin) * inverse, (1 - origin) * inverse
    return torch.minimum(t1, t2).amax(-1).clamp(min=0), torch.maximum(t1, t2).amin(-1)


def sphere_trace(field: nn.Module, origin: Tensor, directions: Tensor, chunk: int) -> tuple[Tensor, Tensor]:
    """Hit points (n, 3) and a hit mask (n,) of rays from `origin` (3,) along `directions` (n, 3)."""
    near, far = box_interval(origin, directions)
    t = near.clone()
    alive = near < far
    hit = torch.zeros_like(alive)
    with torch.no_grad():
        for _ in range(MAX_STEPS):
            index = torch.nonzero(alive).squeeze(-1)
            if index.numel() == 0:
                break
            x = origin + t[index, None] * directions[index]
            phi = torch.cat([field(x[b : b + chunk])[:, 0].float() for b in range(0, len(index), chunk)])
            close = phi < HIT_TOLERANCE  # negative: a step went past the surface of an approximate SDF
            hit[index[close]] = True
            t[index] += STEP_SCALE * phi
            alive[index] = ~close & (t[index] < far[index])
    return origin + t[:, None] * directions, hit


def unit_gradient(field: nn.Module, x: Tensor) -> Tensor:
    """∇Φ/‖∇Φ‖ (n, 3) at points (n, 3), with no graph kept: the forward path under no_grad for an
    MLPField, autograd (detached) for any other module."""
    method = "forward" if isinstance(field, MLPField) else "autograd"
    with torch.no_grad():
        gradient = jet(field, x, order=1, method=method).required("gradient").detach()[:, 0, :]
    return gradient / gradient.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def shade(normals: Tensor, directions: Tensor, key: Tensor) -> Tensor:
    """Gray levels (n,) of unit normals (n, 3) seen along unit view directions (n, 3), lit from the unit direction `key` (3,)."""
    diffuse = (normals @ key).clamp(min=0)
    head = (-(normals * directions).sum(-1)).clamp(min=0)
    return AMBIENT + (1 - AMBIENT) * (0.6 * diffuse + 0.4 * head)


def render_view(
    field: nn.Module, camera: Camera, *, device: torch.device | str = "cpu", chunk: int = 65536
) -> np.ndarray:
    """One shaded view (size, size, 3) in [0, 1] of the zero level set of Φ (field already on `device`)."""
    origin, directions = camera.rays(device)
    points, hit = sphere_trace(field, origin, directions, chunk)
    image = torch.full((directions.shape[0], 3), BACKGROUND, device=directions.device)
    albedo = torch.tensor(SURFACE_COLOR, device=directions.device)
    index = torch.nonzero(hit).squeeze(-1)
    key = camera.key_light(directions.device)
    for begin in range(0, len(index), chunk):
        part = index[begin : begin + chunk]
        image[part] = shade(unit_gradient(field, points[part]), directions[part], key)[:, None] * albedo
    return image.reshape(camera.size, camera.size, 3).clamp(0, 1).cpu().numpy()


def render_preview(
    field: nn.Module,
    *,
    size: int = 256,
    azimuths: tuple[float, ...] = (30.0, 120.0, 210.0, 300.0),
    up: str = "z",
    device: torch.device | str = "cpu",
    chunk: int = 65536,
) -> np.ndarray:
    """Views from the given azimuths (degrees around the `up` axis) side by side: (size, size·views, 3) in [0, 1]."""
    if size < 1 or not azimuths:
        raise ValueError("a preview needs a size of at least 1 and one view")
    field = field.to(device)
    views = [render_view(field, Camera(a, size, up), device=device, chunk=chunk) for a in azimuths]
    return np.concatenate(views, axis=1)
