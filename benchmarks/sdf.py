"""Shapes from meshes: SIREN against ReLU-PE after the same wall-clock budget, then meshing at 512³
dense against coarse-to-fine, on the Stanford bunny and Spot.

    python benchmarks/sdf.py [--minutes 20] [--shapes bunny spot] [--models siren relu-pe]
                             [--resolution 256] [--extract-resolution 512]

For each shape (../shared/data/meshes), `--points` points are sampled on the mesh with their face
normals (the training set) and as many fresh ones again (the reference of the metrics). Each model
(3 hidden layers × 256, `sirenkit fit sdf`'s losses and batch, Adam at the official lr 1e-4,
constant) trains for the same wall-clock budget; its mesh is extracted coarse-to-fine at
--resolution³ and compared with the reference: Chamfer-L1 as a fraction of the bounding-box
diagonal, normal consistency (1 is perfect), F-score at 1% of the diagonal; with seconds per
training step. Then the first shape's SIREN is meshed at --extract-resolution³ coarse-to-fine and
dense, with wall time and peak resident memory (the peak of the whole process, and its rise over
the process with the model loaded). Every fit and every extraction runs in a fresh child process,
one after another, so each gets the machine alone and none inherits another's memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SHAPES = {"bunny": "meshes/stanford-bunny.obj", "spot": "meshes/spot.obj"}
MODELS = ("siren", "relu-pe")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fit_worker(shape: str, model: str, run_dir: Path, args: argparse.Namespace) -> None:
    """Child process: train one model on one shape for the budget and print one JSON line with
    its metrics against fresh reference points."""
    from sirenkit.fields import FieldConfig
    from sirenkit.fit import FitConfig
    from sirenkit.recipes.sdf import fit_sdf
    from sirenkit.signals.points import load_oriented_points

    path = SHARED / SHAPES[shape]
    points = load_oriented_points(path, samples=args.points, seed=0)
    reference = load_oriented_points(path, samples=args.points, seed=1)
    fit_config = FitConfig(
        steps=10**9,
        lr=1e-4,
        max_seconds=args.minutes * 60,
        checkpoint_every=0,
        log_every=100,
        seed=0,
        retain_memory=True,
    )
    outcome = fit_sdf(
        points,
        FieldConfig(model=model, width=args.width, depth=args.depth, omega0=args.omega0),
        fit_config,
        resolution=args.resolution,
        preview_size=args.preview_size,
        reference=reference,
        source=str(path),
        run_dir=run_dir,
        quiet=True,
    )
    print(json.dumps(outcome.summary()))


def extract_worker(checkpoint: str, method: str, resolution: int) -> None:
    """Child process: mesh a checkpoint once and print one JSON line with time and memory."""
    from sirenkit.recipes.sdf import mesh_of
    from sirenkit.store import load_representation

    representation = load_representation(checkpoint)
    before = peak_rss_mb()
    begin = time.perf_counter()
    mesh = mesh_of(representation, resolution, method=method)
    seconds = time.perf_counter() - begin
    peak = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "faces": len(mesh.faces), "peak_mb": peak, "rise_mb": peak - before}))


def in_child(*worker: str, args: argparse.Namespace | None = None) -> dict:
    """Run this script's hidden worker mode in a fresh process; its last stdout line as JSON."""
    settings = []
    if args is not None:
        for name in ("minutes", "points", "width", "depth", "omega0", "resolution", "preview_size"):
            settings += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    done = subprocess.run([sys.executable, __file__, *settings, *worker], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(worker)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20, help="training budget per model and shape")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--points", type=int, default=100_000, help="points sampled on each mesh (and again)")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--omega0", type=float, default=30.0, help="SIREN's first-layer ω0 (the paper's 30)")
    parser.add_argument("--resolution", type=int, default=256, help="mesh grid of the metrics")
    parser.add_argument("--extract-resolution", type=int, default=512, help="0: skip the meshing comparison")
    parser.add_argument("--preview-size", type=int, default=256, help="pixels per preview view (0: none)")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--extract-worker", nargs=3, metavar=("CKPT", "METHOD", "RES"), help=argparse.SUPPRESS)
    parser.add_argument("--fit-worker", nargs=3, metavar=("SHAPE", "MODEL", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.extract_worker:
        checkpoint, method, resolution = args.extract_worker
        return extract_worker(checkpoint, method, int(resolution))
    if args.fit_worker:
        shape, model, run_dir = args.fit_worker
        return fit_worker(shape, model, Path(run_dir), args)

    import torch

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.depth}x{args.width} fields "
        f"(SIREN ω0 {args.omega0:g}), "
        f"{args.minutes:g} min per model, Adam lr 1e-4 constant; metrics on a {args.resolution}^3 mesh against "
        f"{args.points:,} fresh surface samples, lengths as fractions of the bounding-box diagonal"
    )
    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        print(
            f"\n  {'shape':6s} {'model':8s} {'Chamfer-L1':>10s} {'normal c.':>9s} {'F@1%':>6s} {'steps':>7s} {'s/step':>7s}"
        )
        checkpoints = {}
        for shape in args.shapes:
            for model in args.models:
                run_dir = root / f"{shape}-{model}"
                s = in_child("--fit-worker", shape, model, str(run_dir), args=args)
                checkpoints[shape, model] = run_dir / "model.safetensors"
                print(
                    f"  {shape:6s} {model:8s} {s['chamfer_l1']:10.3%} {s['normal_consistency']:9.4f} "
                    f"{s['fscore']:6.3f} {s['steps']:7d} {s['seconds_per_step']:7.4f}",
                    flush=True,
                )
        if args.extract_resolution:
            shape, model = args.shapes[0], args.models[0]
            print(f"\n  marching cubes of {shape}/{model} at {args.extract_resolution}^3 (each in a fresh process)")
            for method in ("coarse-to-fine", "dense"):
                r = in_child("--extract-worker", str(checkpoints[shape, model]), method, str(args.extract_resolution))
                print(
                    f"  {method:15s} {r['seconds']:8.1f} s  peak RSS {r['peak_mb']:7.0f} MB "
                    f"(+{r['rise_mb']:.0f} MB over the loaded model)  {r['faces']:,} faces",
                    flush=True,
                )
        if args.out:
            print(f"\nruns (mesh.ply, preview.png, summary.json) in {root}")


if __name__ == "__main__":
    main()
