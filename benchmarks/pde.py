"""Solving PDEs: sirenkit against DeepXDE's own published examples at equal wall-clock budgets.

    python benchmarks/pde.py [--problems helmholtz,poisson,heat] [--budgets 60,300]
                             [--marks 5,10,20,30,60,120,300] [--plot docs/pde_error_vs_time.png]

Three of DeepXDE's forward examples (examples/pinn_forward/ at commit 99b6620, stated in
`pde_deepxde.py`, each run in its own process on DeepXDE's PyTorch backend; the `bench` extra):
  helmholtz  Helmholtz_Dirichlet_2d: −Δu − (4π)²u = f on [0, 1]², u = 0 on the boundary,
             u = sin(4πx)·sin(4πy); DeepXDE: 3×150 sin, hard boundary, 480 fixed points, Adam 1e-3
  poisson    Poisson_Dirichlet_1d: −u'' = π² sin(πx) on [−1, 1], u = sin(πx) at the ends;
             DeepXDE: 3×50 tanh, 18 fixed points, Adam 1e-3
  heat       heat: u_t = 0.4 u_xx on [0, 1] × [0, 1], u(x, 0) = sin(πx), u = 0 at x = 0, 1;
             DeepXDE: 3×20 tanh, 2,780 fixed points, Adam 1e-3 (20,000 iterations) then L-BFGS
and the same problems in sirenkit (`recipes.pde.solve` on `problems.pde`'s built-ins, the
defaults of `sirenkit solve`: a SIREN 2×128, ω0 = 8 on the box scaled into [−1, 1]^d, soft
conditions, fresh points each step, Adam 3e-4 with cosine decay over the first 80% of the
budget, then L-BFGS, fp32).

Each sirenkit budget is its own run (its schedule spans that budget); DeepXDE runs once for the
largest budget (its schedule does not depend on the budget; see `pde_deepxde.py` for how it
goes on past its published iterations). Both clocks pause while the error is measured at the
marks. The error is the relative L2 error ‖u − u_exact‖ / ‖u_exact‖ on one grid for both
(`recipes.pde.GRID_POINTS` per axis: 200×200 in 2-D, 1,000 points in 1-D). Printed: per
problem, the error at each budget and the ratio DeepXDE / sirenkit, then both time curves.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from machine import describe_machine

HERE = Path(__file__).resolve().parent
DEEPXDE_NETWORKS = {
    "helmholtz": "FNN 2-150-150-150-1 sin, Glorot uniform (45,601 parameters)",
    "poisson": "FNN 1-50-50-50-1 tanh, Glorot uniform (5,251 parameters)",
    "heat": "FNN 2-20-20-20-1 tanh, Glorot normal (921 parameters)",
}


def run_sirenkit(name: str, budget: float, marks: list[float]) -> dict:
    """One sirenkit solve of `budget` seconds; the error at each mark (clock paused) and at the end."""
    from sirenkit.recipes.pde import GRID_POINTS, SOLVE_FIELD, SOLVE_FIT, make_pde, solve

    pde = make_pde(name)  # the built-ins' defaults are DeepXDE's examples' settings
    reference = pde.reference(GRID_POINTS[len(pde.low)])
    pending = sorted(m for m in marks if m < budget)
    curve: list[dict] = []
    clock = {"paused": 0.0, "start": time.perf_counter()}

    def on_step(step: int, representation) -> None:
        now = time.perf_counter() - clock["start"] - clock["paused"]
        if pending and now >= pending[0]:
            begin = time.perf_counter()
            error = reference.l2_error(pde.problem.solution(representation.field))
            while pending and now >= pending[0]:
                curve.append({"seconds": pending.pop(0), "steps": step, "error": error})
            clock["paused"] += time.perf_counter() - begin

    config = replace(SOLVE_FIT, steps=10**9, max_seconds=budget, checkpoint_every=0, checkpoint_seconds=0)
    solved = solve(pde, SOLVE_FIELD, config, error_every=10**9, quiet=True, on_step=on_step)
    curve.append({"seconds": budget, "steps": solved.result.steps, "error": solved.l2_error})
    parameters = sum(p.numel() for p in solved.result.representation.field.parameters())
    return {"curve": curve, "error": solved.l2_error, "steps": solved.result.steps, "parameters": parameters}


def run_deepxde(name: str, seconds: float, marks: list[float], grid: Path) -> dict | None:
    """DeepXDE's example in its own process; None when DeepXDE is not installed."""
    try:
        import deepxde  # noqa: F401
    except ImportError:
        return None
    command = [sys.executable, str(HERE / "pde_deepxde.py"), name, "--seconds", str(seconds)]
    command += ["--marks", ",".join(f"{m:g}" for m in marks if m <= seconds), "--grid", str(grid)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"DeepXDE's {name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def error_at(curve: list[dict], seconds: float) -> float | None:
    """The error measured at the mark `seconds` (None when the curve has no such mark)."""
    return next((row["error"] for row in curve if row["seconds"] == seconds), None)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.4 * len(results), 3.4), dpi=110, squeeze=False)
    for ax, (name, result) in zip(axes[0], results.items()):
        longest = result["sirenkit"][max(result["sirenkit"])]
        ax.loglog(*zip(*[(r["seconds"], r["error"]) for r in longest["curve"]]), "o-", label="sirenkit")
        shorter = [
            (budget, run["error"]) for budget, run in result["sirenkit"].items() if budget != max(result["sirenkit"])
        ]
        if shorter:
            ax.loglog(*zip(*shorter), "*", ms=12, color="C0", label="sirenkit, shorter budget")
        if result["deepxde"] is not None:
            ax.loglog(*zip(*[(r["seconds"], r["error"]) for r in result["deepxde"]["curve"]]), "s-", label="DeepXDE")
        ax.set_title(name)
        ax.set_xlabel("wall-clock seconds")
        ax.set_ylabel("L2 relative error")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="helmholtz,poisson,heat")
    parser.add_argument("--budgets", default="60,300", help="sirenkit's budgets in seconds (default: 60,300)")
    parser.add_argument("--marks", default="5,10,20,30,60,120,300", help="seconds at which the error is measured")
    parser.add_argument("--plot", type=Path, help="write the error-against-time curves here (PNG)")
    args = parser.parse_args()
    names = [n for n in args.problems.split(",") if n]
    budgets = sorted(float(b) for b in args.budgets.split(","))
    marks = sorted({float(m) for m in args.marks.split(",")} | set(budgets))
    print(describe_machine() + "; sirenkit fp32")
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            from sirenkit.recipes.pde import GRID_POINTS, make_pde

            pde = make_pde(name)  # the built-ins' defaults are DeepXDE's examples' settings
            x = pde.grid(GRID_POINTS[len(pde.low)])
            grid = Path(scratch) / f"{name}.npz"
            np.savez(grid, x=x.numpy(), u=pde.exact(x).numpy())
            deepxde = run_deepxde(name, budgets[-1], marks, grid)
            ours = {budget: run_sirenkit(name, budget, marks) for budget in budgets}
            results[name] = {"sirenkit": ours, "deepxde": deepxde}
            print(
                f"\n{name}: sirenkit SIREN 2×128 ω0 8 ({ours[budgets[0]]['parameters']:,} parameters); "
                f"DeepXDE {DEEPXDE_NETWORKS[name]}"
            )
            if deepxde is None:
                print("  DeepXDE is not installed (pip install -e '.[bench]'): sirenkit's figures only")
            print(f"  {'budget':>7} | {'sirenkit':>9} | {'DeepXDE':>9} | DeepXDE / sirenkit")
            for budget in budgets:
                theirs = error_at(deepxde["curve"], budget) if deepxde else None
                mine = ours[budget]["error"]
                ratio = f"{theirs / mine:.1f}×" if theirs is not None else "-"
                shown = f"{theirs:.2e}" if theirs is not None else "-"
                print(
                    f"  {budget:>6.0f}s | {mine:.2e} | {shown:>9} | {ratio}  (sirenkit {ours[budget]['steps']} steps)"
                )
            longest = ours[budgets[-1]]["curve"]
            print("  time curve (s):     " + " ".join(f"{r['seconds']:>8g}" for r in longest))
            print("  sirenkit error:     " + " ".join(f"{r['error']:8.1e}" for r in longest))
            if deepxde is not None:
                print(
                    "  DeepXDE error:      "
                    + " ".join(f"{error_at(deepxde['curve'], r['seconds']) or float('nan'):8.1e}" for r in longest)
                )
                print(f"  DeepXDE steps: {deepxde['steps']} in {deepxde['seconds']:.0f} s")
    if args.plot is not None:
        plot(results, args.plot)
        print(f"\nwrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
