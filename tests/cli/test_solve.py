"""`sirenkit solve` (`cli/solve.py`, `recipes/pde.py`): the files of a solve, its error against the
exact solution while it trains and at the end, the solution loaded back, and bad input refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from sirenkit.cli import main
from sirenkit.problems.pde import SOURCE_CORE
from sirenkit.recipes.pde import GRID_POINTS, load_solution

QUICK = ["--width", "32", "--quiet", "--error-every", "10", "--batch", "128"]


def test_solve_writes_the_solution_its_error_and_a_curve_of_the_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["solve", "poisson", "--out", str(out), "--steps", "80", "--lr", "1e-3", *QUICK]) == 0
    assert "poisson: L2 relative error" in capsys.readouterr().out
    for name in ["model.safetensors", "solution.png", "error.png", "curve.png", "metrics.jsonl"]:
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problem"] == "poisson" and summary["steps"] == 80
    assert summary["problem_parameters"] == {"low": [-1.0], "high": [1.0], "frequency": 1.0, "hard": False}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    errors = [row["l2_error"] for row in rows if "l2_error" in row]
    assert (
        len(errors) == 8
        and errors[-1] < errors[0] / 2
        and summary["l2_relative_error"] == pytest.approx(errors[-1], rel=1e-4)
    )
    pde, solution = load_solution(out / "model.safetensors")
    x = pde.grid(GRID_POINTS[1])
    with torch.no_grad():
        error = float((solution(x) - pde.exact(x)).norm() / pde.exact(x).norm())
    assert error == pytest.approx(summary["l2_relative_error"], rel=1e-5)


def test_a_time_dependent_problem_with_hard_conditions_and_its_own_box(tmp_path):
    out = tmp_path / "heat"
    args = ["solve", "heat", "--low", "0", "0", "--high", "2", "0.5", "--diffusivity", "0.2", "--hard"]
    assert main([*args, "--out", str(out), "--steps", "4", *QUICK]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problem_parameters"]["high"] == [2.0, 0.5] and summary["problem_parameters"]["hard"]
    pde, solution = load_solution(out / "model.safetensors")
    start = pde.grid(16)[pde.grid(16)[:, 1] == 0]
    with torch.no_grad():
        np.testing.assert_allclose(solution(start).numpy(), pde.exact(start).numpy(), atol=1e-6)
    more = ["--out", str(out), "--steps", "8", "--resume", *QUICK]
    assert main([*args, *more]) == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 8


def test_a_complex_point_source_solves_to_two_channels_and_loads_back(tmp_path):
    out = tmp_path / "source"
    args = ["solve", "point-source", "--low", "-1", "--high", "1", "--source", "0.2", "--wavenumber", "10"]
    assert main([*args, "--out", str(out), "--steps", "30", "--lr", "1e-3", *QUICK]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problem"] == "point_source" and summary["problem_parameters"]["source"] == [0.2]
    for name in ["solution.png", "error.png", "curve.png"]:
        assert (out / name).stat().st_size > 0, name
    pde, solution = load_solution(out / "model.safetensors")
    x = pde.grid(GRID_POINTS[1])
    exact = pde.exact(x)
    known = torch.isfinite(exact).all(1)
    core = (x[:, 0] - 0.2).abs() < SOURCE_CORE * pde.parameters["source_width"]
    assert pde.channels == ("Re u", "Im u") and torch.equal(~known, core) and bool(core.any())
    with torch.no_grad():
        values = solution(x)
    assert values.shape == (GRID_POINTS[1], 2)
    error = float((values[known] - exact[known]).norm() / exact[known].norm())
    assert error == pytest.approx(summary["l2_relative_error"], rel=1e-5)


BAD = {
    "an unknown problem": (["solve", "laplace"], "invalid choice: 'laplace'"),
    "a zero wavenumber": (["solve", "helmholtz", "--wavenumber", "0"], "wavenumber must be a positive number"),
    "a resonant wavenumber": (["solve", "helmholtz", "--wavenumber", str(np.pi * np.sqrt(2))], "eigenvalue"),
    "an empty box": (["solve", "poisson", "--low", "1", "--high", "1"], "finite low < high"),
    "a box of two lengths": (["solve", "helmholtz", "--low", "0", "0", "--high", "1"], "of one length"),
    "a weight without a number": (["solve", "poisson", "--weight", "boundary"], "give NAME=NUMBER"),
    "a weight of no constraint": (["solve", "poisson", "--weight", "initial_value=2"], "initial_value"),
    "too few points": (["solve", "poisson", "--batch", "0"], "at least 4"),
    "a negative speed": (["solve", "wave", "--speed", "-1"], "speed must be a positive number"),
    "a source in the layer": (["solve", "point-source", "--source", "0.9", "0"], "outside the PML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gives_one_clear_line_exit_2_and_no_output(case, tmp_path, capsys):
    args, message = BAD[case]
    out = tmp_path / "out"
    code, err = run_cli([*args, "--out", str(out), "--steps", "2", "--quiet"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert not out.exists()
