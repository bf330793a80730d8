"""Figures drawn with matplotlib (Agg backend; no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sirenkit.store import atomic_write


def plot_curve(
    rows: Sequence[dict[str, float]], path: str | Path, *, key: str = "psnr", label: str = "PSNR (dB)", title: str = ""
) -> None:
    """A metric against the step, from the rows of metrics.jsonl, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows if key in r]
    values = [r[key] for r in rows if key in r]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.plot(steps, values, lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel(label)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
