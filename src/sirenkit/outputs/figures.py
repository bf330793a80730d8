"""Figures drawn with matplotlib (Agg backend; no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sirenkit.outputs.metrics import format_metric
from sirenkit.store import atomic_write


def plot_curve(
    rows: Sequence[dict[str, float]],
    path: str | Path,
    *,
    key: str = "psnr",
    label: str = "PSNR (dB)",
    title: str = "",
    log: bool = False,
) -> None:
    """A metric against the step (on a log axis with `log`), from the rows of metrics.jsonl, saved
    as PNG; nothing is written when no row has the metric (a collection's member: its group's
    metrics.jsonl holds the steps)."""
    if not any(key in r for r in rows):
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows if key in r]
    values = [np.nan if r[key] is None else r[key] for r in rows if key in r]  # null: not finite
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.plot(steps, values, lw=1.2)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(label)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def plot_solution(path: str | Path, pde, values: np.ndarray, title: str) -> None:
    """A PDE's solution (or its error) on `pde.grid(n)`, values (n^d, 1), saved as PNG: a curve
    in 1-D, a map over the box in 2-D (time up for a time-dependent problem), and in 3-D five
    maps of the first two axes at evenly spaced values of the last (its time, or z)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dim = len(pde.low)
    n = round(values.shape[0] ** (1 / dim))
    grid = values.reshape((n,) * dim)
    if dim == 1:
        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
        ax.plot(np.linspace(pde.low[0], pde.high[0], n), grid, lw=1.2)
        ax.set_xlabel(pde.axes[0])
        ax.grid(alpha=0.3)
        ax.set_title(title)
    else:
        slices = [grid] if dim == 2 else [grid[..., i] for i in np.linspace(0, n - 1, 5).round().astype(int)]
        limit = float(np.abs(values).max()) or 1.0
        fig, axes = plt.subplots(1, len(slices), figsize=(4.2 * len(slices), 3.6), dpi=110, squeeze=False)
        for index, (ax, part) in enumerate(zip(axes[0], slices)):
            extent = (pde.low[0], pde.high[0], pde.low[1], pde.high[1])
            image = ax.imshow(
                part.T, origin="lower", extent=extent, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto"
            )
            ax.set_xlabel(pde.axes[0])
            ax.set_ylabel(pde.axes[1])
            if dim == 3:
                at = pde.low[2] + (pde.high[2] - pde.low[2]) * index / (len(slices) - 1)
                ax.set_title(f"{pde.axes[2]} = {at:.3g}")
        fig.colorbar(image, ax=axes[0].tolist(), shrink=0.85)
        fig.suptitle(title)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def colorize(values: np.ndarray, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    """(H, W) values → (H, W, 3) RGB in [0, 1] through a matplotlib colormap over [vmin, vmax] (clipped)."""
    from matplotlib import colormaps

    scaled = np.clip((values - vmin) / (vmax - vmin), 0, 1)
    return colormaps[cmap](scaled)[..., :3]


def plot_derivative_grid(
    path: str | Path, rows: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray, dict | None]]
) -> None:
    """One row per (label, image (H, W, C) in [0, 1], gradient RGB, Laplacian RGB, metrics or None), as PNG.

    Column titles carry the row's PSNRs (image, gradient, Laplacian) when metrics are given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 3, figsize=(7.5, 2.6 * len(rows)), dpi=110, squeeze=False)
    for row, (label, pixels, gradient, laplacian, metrics) in zip(axes, rows):
        gray = pixels.shape[2] == 1
        panels = [pixels[..., 0] if gray else pixels[..., :3], gradient, laplacian]
        titles = ["image", "gradient |∇|", "Laplacian Δ"]
        if metrics:
            keys = ["psnr_db", "gradient_psnr_db", "laplacian_psnr_db"]
            titles = [f"{t} ({format_metric(metrics[k], '.1f', ' dB')})" for t, k in zip(titles, keys)]
        for ax, panel, title in zip(row, panels, titles):
            ax.imshow(np.clip(panel, 0, 1), cmap="gray" if panel.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(label, fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
