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
    """A PDE's solution (or its error) on `pde.grid(n)`, values (n^d, c) with c = len(pde.channels),
    saved as PNG: a curve per channel in 1-D, a map over the box per channel in 2-D (time up for a
    time-dependent problem, space in true proportion otherwise), and in 3-D five maps of the first
    two axes at evenly spaced values of the last (its time, or z). Points without a value (NaN)
    are left blank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dim = len(pde.low)
    n = round(values.shape[0] ** (1 / dim))
    channels = values.reshape((n,) * dim + (-1,))
    if dim == 1:
        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
        for index, name in enumerate(pde.channels):
            ax.plot(np.linspace(pde.low[0], pde.high[0], n), channels[:, index], lw=1.2, label=name)
        if len(pde.channels) > 1:
            ax.legend()
        ax.set_xlabel(pde.axes[0])
        ax.grid(alpha=0.3)
        ax.set_title(title)
    else:
        if dim == 2:
            panels = [(channels[..., c], name) for c, name in enumerate(pde.channels)]
        else:
            at = np.linspace(0, n - 1, 5).round().astype(int)
            panels = [
                (channels[..., i, 0], f"{pde.axes[2]} = {pde.low[2] + (pde.high[2] - pde.low[2]) * i / (n - 1):.3g}")
                for i in at
            ]
        limit = float(np.nanmax(np.abs(values))) or 1.0
        aspect = "auto" if pde.axes[-1] == "t" else "equal"  # space in true proportion; time stretched to fit
        fig, axes = plt.subplots(
            1, len(panels), figsize=(4.2 * len(panels), 3.6), dpi=110, squeeze=False, layout="constrained"
        )
        for ax, (part, label) in zip(axes[0], panels):
            extent = (pde.low[0], pde.high[0], pde.low[1], pde.high[1])
            image = ax.imshow(
                part.T, origin="lower", extent=extent, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect=aspect
            )
            ax.set_xlabel(pde.axes[0])
            ax.set_ylabel(pde.axes[1])
            if len(panels) > 1:
                ax.set_title(label)
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
