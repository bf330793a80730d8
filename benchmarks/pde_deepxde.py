"""DeepXDE's published forward examples, as `benchmarks/pde.py` runs them: one per process.

    python benchmarks/pde_deepxde.py {helmholtz,poisson,heat} --seconds 300 --marks 5,10,20,30,60,120,300

Each problem is stated exactly as DeepXDE's example file states it (lululxvi/deepxde,
examples/pinn_forward/, read at commit 99b6620): the geometry, the PDE, the conditions, the
number of training points, the network, the initializer, the optimizer and its learning rate,
and the optimizer sequence (Adam for the published iterations, then L-BFGS where the example
does). Only the stopping changes: training stops when --seconds of wall-clock time have passed
(a callback), and where the published run ends earlier, Adam goes on at its learning rate
until the budget is spent, so the example is never cut short of what it was given. At each
mark the clock is paused and the L2 relative error is measured on the benchmark's grid
(`pde.py` states it per problem); one JSON object with the curve is printed last.

Needs the `bench` extra (deepxde); runs on DeepXDE's PyTorch backend.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("DDE_BACKEND", "pytorch")

import numpy as np  # noqa: E402


def helmholtz(dde):
    """examples/pinn_forward/Helmholtz_Dirichlet_2d.py (hard_constraint = True): −Δu − k0²u = f on
    [0, 1]², k0 = 4π, u = sin(k0x)·sin(k0y); 3×150 sin, Glorot uniform, output transform
    x(1−x)y(1−y)·N, 400 + 80 points, Adam 1e-3 for 5,000 iterations."""
    from deepxde.backend import torch

    k0 = 4 * np.pi

    def pde(x, y):
        dy_xx = dde.grad.hessian(y, x, i=0, j=0)
        dy_yy = dde.grad.hessian(y, x, i=1, j=1)
        f = k0**2 * torch.sin(k0 * x[:, 0:1]) * torch.sin(k0 * x[:, 1:2])
        return -dy_xx - dy_yy - k0**2 * y - f

    def transform(x, y):
        return x[:, 0:1] * (1 - x[:, 0:1]) * x[:, 1:2] * (1 - x[:, 1:2]) * y

    nx_train = int(1 / (0.5 / 10))
    geom = dde.geometry.Rectangle([0, 0], [1, 1])
    data = dde.data.PDE(geom, pde, [], num_domain=nx_train**2, num_boundary=4 * nx_train)
    net = dde.nn.FNN([2] + [150] * 3 + [1], "sin", "Glorot uniform")
    net.apply_output_transform(transform)
    return dde.Model(data, net), [("adam", {"lr": 1e-3}, 5000)]


def poisson(dde):
    """examples/pinn_forward/Poisson_Dirichlet_1d.py: −u'' = π²·sin(πx) on [−1, 1], u = sin(πx) on
    the boundary; 3×50 tanh, Glorot uniform, 16 + 2 points, Adam 1e-3 for 10,000 iterations."""
    from deepxde.backend import torch

    def pde(x, y):
        return -dde.grad.hessian(y, x) - np.pi**2 * torch.sin(np.pi * x)

    geom = dde.geometry.Interval(-1, 1)
    bc = dde.icbc.DirichletBC(geom, lambda x: np.sin(np.pi * x), lambda _, on_boundary: on_boundary)
    data = dde.data.PDE(geom, pde, bc, 16, 2)
    net = dde.nn.FNN([1] + [50] * 3 + [1], "tanh", "Glorot uniform")
    return dde.Model(data, net), [("adam", {"lr": 1e-3}, 10000)]


def heat(dde):
    """examples/pinn_forward/heat.py: u_t = a·u_xx on [0, 1] × [0, 1], a = 0.4, u = 0 at x = 0, 1,
    u(x, 0) = sin(πx); 3×20 tanh, Glorot normal, 2540 + 80 + 160 points, Adam 1e-3 for 20,000
    iterations, then L-BFGS."""
    a = 0.4

    def pde(x, y):
        return dde.grad.jacobian(y, x, i=0, j=1) - a * dde.grad.hessian(y, x, i=0, j=0)

    geom = dde.geometry.Interval(0, 1)
    geomtime = dde.geometry.GeometryXTime(geom, dde.geometry.TimeDomain(0, 1))
    bc = dde.icbc.DirichletBC(geomtime, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geomtime, lambda x: np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(geomtime, pde, [bc, ic], num_domain=2540, num_boundary=80, num_initial=160)
    net = dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal")
    return dde.Model(data, net), [("adam", {"lr": 1e-3}, 20000), ("L-BFGS", {}, None)]


PROBLEMS = {"helmholtz": helmholtz, "poisson": poisson, "heat": heat}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=sorted(PROBLEMS))
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--marks", default="5,10,20,30,60,120,300")
    parser.add_argument("--grid", required=True, help="an .npz with the grid x (n, d) and the reference u (n, 1)")
    args = parser.parse_args()
    import deepxde as dde

    reference = np.load(args.grid)
    grid, exact = reference["x"].astype(np.float32), reference["u"]
    model, schedule = PROBLEMS[args.problem](dde)
    marks = sorted(float(m) for m in args.marks.split(",") if float(m) <= args.seconds)
    curve: list[dict[str, float]] = []
    clock = {"spent": 0.0, "since": time.perf_counter(), "steps": 0}

    def spent() -> float:
        return clock["spent"] + time.perf_counter() - clock["since"]

    class Budget(dde.callbacks.Callback):
        """Pauses the clock at each mark to measure the error; stops training when the budget is spent."""

        def on_epoch_end(self) -> None:
            clock["steps"] += 1
            now = spent()
            while marks and now >= marks[0]:
                clock["spent"], mark = now, marks.pop(0)
                error = float(np.linalg.norm(model.predict(grid) - exact) / np.linalg.norm(exact))
                curve.append({"seconds": mark, "measured_at": round(now, 2), "steps": clock["steps"], "error": error})
                clock["since"] = time.perf_counter()
            if now >= args.seconds:
                self.model.stop_training = True

    budget = Budget()
    if len(schedule) == 1:  # the published run is all Adam: Adam goes on until the budget is spent
        schedule = [(schedule[0][0], schedule[0][1], 10**9)]
    for optimizer, options, iterations in schedule:
        if spent() >= args.seconds:
            break
        if optimizer == "L-BFGS":
            dde.optimizers.set_LBFGS_options(maxiter=10**9)
        model.compile(optimizer, **options)
        model.train(iterations=iterations, callbacks=[budget], display_every=10**9, verbose=0)
    if marks:  # training ended before the budget: the final error stands for the marks left
        error = float(np.linalg.norm(model.predict(grid) - exact) / np.linalg.norm(exact))
        curve += [
            {"seconds": m, "measured_at": round(spent(), 2), "steps": clock["steps"], "error": error} for m in marks
        ]
    print(json.dumps({"problem": args.problem, "curve": curve, "seconds": spent(), "steps": clock["steps"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
