"""Synthetic signals with known answers, shared by the tests of several rooms: a chirp, sliding colour
bars, a smooth volume, a sphere and a torus (points, distances, an exact SDF), and vertex matching."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sirenkit.outputs.video import to_uint8
from sirenkit.signals.points import OrientedPoints

# Audio

RATE = 8000


def chirp(seconds: float = 0.25, rate: int = RATE) -> np.ndarray:
    """A linear chirp from 200 Hz to 1200 Hz at half scale, (N,) float32."""
    t = np.arange(round(seconds * rate)) / rate
    sweep = 200 * t + (1000 / (2 * seconds)) * t**2
    return (0.5 * np.sin(2 * np.pi * sweep)).astype(np.float32)


# Video

FPS = 25.0


def moving_bars(frames: int = 6, height: int = 24, width: int = 40) -> np.ndarray:
    """(T, H, W, 3) uint8: vertical colour bars sliding right by 2 pixels per frame."""
    columns = np.arange(width)[None, None, :] + 2 * np.arange(frames)[:, None, None]
    red = (np.sin(columns / 3.0) * 0.5 + 0.5) * np.ones((1, height, 1))
    green = np.linspace(0, 1, height)[None, :, None] * np.ones((frames, 1, width))
    return to_uint8(np.stack([red, green, 1 - red], axis=-1))


# Volumes


def analytic_volume(side: int = 20) -> np.ndarray:
    """A smooth field in arbitrary units (about -100 … 200) on a (side, side, side) grid."""
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, side)] * 3, indexing="ij")
    return ((np.sin(3 * x) * np.cos(2 * y) + z**2) * 100).astype(np.float32)


# Shapes

CENTER = np.array([0.3, -0.2, 0.5])
"""The analytic shapes sit off the origin so that normalization has something to undo."""
RADIUS, MAJOR, MINOR = 1.0, 1.0, 0.4


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


def unmatched(vertices: np.ndarray, reference: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    """Indices of the vertices (V, 3) with no vertex of `reference` within `tolerance`."""
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(reference).query(vertices)
    return np.flatnonzero(distance > tolerance)
