"""`sirenkit solve` (`cli/solve.py`, `recipes/pde.py`): the files of a solve, its error against the
exact solution while it trains and at the end, the solution loaded back, and bad input refused."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
import torch

from conftest import run_cli
from run_helpers import start_cli
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
    "a wavenumber of 1e200": (
        ["solve", "helmholtz", "--wavenumber", "1e200"],
        "the wavenumber must be a positive number from 1e-06 to 1e+04 (so that k·|x| over the box lies in",
    ),
    "a frequency of 1e200": (["solve", "poisson", "--frequency", "1e200"], "frequency must be a positive number from"),
    "a point source's wavenumber of 1e200": (["solve", "point-source", "--wavenumber", "1e200"], "from 1e-06 to 1e+04"),
    "a diffusivity of 1e300": (
        ["solve", "heat", "--diffusivity", "1e300"],
        "diffusivity must be a positive number from",
    ),
    "a pulse too narrow for float32": (["solve", "wave", "--pulse-width", "1e-30"], "pulse width must be a positive"),
    "a box too small for float32": (["solve", "poisson", "--low", "0", "--high", "1e-30"], "sides from 1e-06 to 1e+06"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gives_one_clear_line_exit_2_and_no_output(case, tmp_path, capsys):
    args, message = BAD[case]
    out = tmp_path / "out"
    code, err = run_cli([*args, "--out", str(out), "--steps", "2", "--quiet"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert not out.exists()


BOUNDED = {
    "a wavenumber of 1e7": (["helmholtz", "--wavenumber", "1e7"], "the wavenumber must be a positive number from"),
    "a 3-D box of side 100": (["helmholtz", "--low", "0", "0", "0", "--high", "100", "100", "100"], "is an eigenvalue"),
    "a box of side 1e200": (["helmholtz", "--low", "0", "0", "--high", "1e200", "1e200"], "the box needs sides from"),
    "the largest 3-D wavenumber in range": (
        ["helmholtz", "--low", "-1", "-1", "-1", "--high", "1", "1", "1", "--wavenumber", "1e4"],
        "is an eigenvalue",
    ),
}
"""Problems whose checks before training once enumerated up to 10^13 lattice points or more in Python."""


@pytest.mark.parametrize("case", sorted(BOUNDED))
def test_the_checks_before_training_end_in_bounded_time(case, tmp_path):
    args, message = BOUNDED[case]
    out = tmp_path / "out"
    child = start_cli(["solve", *args, "--out", str(out), "--steps", "2", "--quiet"])
    try:
        _, err = child.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail(f"{case}: still checking the problem after 120 s")
    assert child.returncode == 2 and err.count("\n") == 1 and message in err, err
    assert not out.exists()


OVERSIZE = {
    "--batch": ["helmholtz", "--batch", "1000000000000"],
    "--collocation": ["heat", "--collocation", "1000000000000"],
    "--collocation, refined": ["point-source", "--collocation", "100000000", "--refine-every", "10"],
}


@pytest.mark.parametrize("case", sorted(OVERSIZE))
def test_a_step_too_large_for_memory_is_refused_with_its_estimate_and_option(case, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_cli(["solve", *OVERSIZE[case], "--out", str(out), "--steps", "2", "--quiet"], capsys)
    option = case.split(",")[0]
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(r"needs about [\d.]+ [KMGTPE]i?B of memory, but [\d.]+ [KMGTPE]?i?B is available", err), err
    assert f"lower {option}" in err and not out.exists(), err


OPTION = r"--[a-z][a-z0-9-]*"


def offered_options(problem: str, capsys) -> set[str]:
    """The options `sirenkit solve PROBLEM` offers, from its help."""
    with pytest.raises(SystemExit):
        main(["solve", problem, "--help"])
    return set(re.findall(OPTION, capsys.readouterr().out))


def test_a_refused_resume_names_each_changed_setting_as_the_command_takes_it(tmp_path, capsys):
    tiny = ["--steps", "2", "--width", "8", "--depth", "1", "--quiet", "--batch", "16", "--error-every", "1"]
    helmholtz, wave = tmp_path / "helmholtz", tmp_path / "wave"
    assert main(["solve", "helmholtz", "--out", str(helmholtz), *tiny]) == 0
    assert main(["solve", "wave", "--out", str(wave), *tiny]) == 0
    refusals = {
        "--wavenumber 12.566370614359172 -> 10.0": ["helmholtz", "--out", str(helmholtz), "--wavenumber", "10"],
        "--pulse-width 0.1 -> 0.2": ["wave", "--out", str(wave), "--pulse-width", "0.2"],
        "the problem helmholtz -> poisson": ["poisson", "--low", "0", "0", "--high", "1", "1", "--out", str(helmholtz)],
    }
    for change, args in refusals.items():
        code, err = run_cli(["solve", *args, *tiny, "--resume"], capsys)
        assert code == 2 and f"other settings ({change})" in err, err
        named = set(re.findall(OPTION, err))
        assert named <= offered_options(args[0], capsys), named  # every option the refusal names exists
