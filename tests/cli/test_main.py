"""The entry point (`sirenkit.cli.main`, `python -m sirenkit`): the warning display and the SIRENKIT_COMPILE setting."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch

from conftest import run_cli, save_png
from sirenkit.cli import COMPILE_VARIABLE, main
from sirenkit.problems import Problem


def test_python_dash_m_entry_point_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sirenkit", "render", str(tmp_path / "none.safetensors")], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no such file" in done.stderr


def test_main_leaves_the_warning_display_as_it_found_it(tmp_path, capsys):
    before = warnings.showwarning
    code, _ = run_cli(["render", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "x.png")], capsys)
    assert code == 2 and warnings.showwarning is before
    with pytest.raises(SystemExit):
        main(["--help"])
    assert warnings.showwarning is before


# SIRENKIT_COMPILE, through a command whose fit takes the Laplacian (the compiled kernels)


def poisson_args(tmp_path, camera_small) -> list[str]:
    path = save_png(tmp_path / "camera.png", camera_small.pixels)
    return ["poisson", str(path), "--from", "laplacian", "--out", str(tmp_path / "out"), "--steps", "2", "--quiet"]


def test_a_bad_compile_setting_gives_one_clear_line_and_no_output(tmp_path, camera_small, capsys, monkeypatch):
    monkeypatch.setenv(COMPILE_VARIABLE, "fast")
    code, err = run_cli(poisson_args(tmp_path, camera_small), capsys)
    assert code == 2
    assert err.count("\n") == 1 and "SIRENKIT_COMPILE=fast: choose one of auto, on, off" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("default::UserWarning")
def test_a_failed_compile_is_one_warning_line_and_the_command_still_succeeds(
    tmp_path, camera_small, capsys, monkeypatch
):
    def without_compiler(kernel, **options):
        def call(*args):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")

        return call

    monkeypatch.setattr(torch, "compile", without_compiler)
    monkeypatch.setenv(COMPILE_VARIABLE, "on")
    code, err = run_cli(poisson_args(tmp_path, camera_small), capsys)
    assert code == 0
    assert err == (
        "sirenkit: warning: torch.compile failed (RuntimeError: InvalidCxxCompiler: No working C++ compiler found); "
        "sirenkit runs the eager kernels (set SIRENKIT_COMPILE=off to skip trying)\n"
    )
    assert (tmp_path / "out" / "reconstruction.png").stat().st_size > 0


@pytest.mark.parametrize(("setting", "mode"), [(None, "auto"), (" OFF ", "off")])
def test_the_compile_setting_reaches_the_fit_as_its_compile_mode(
    setting, mode, tmp_path, camera_small, capsys, monkeypatch
):
    modes = []
    losses = Problem.losses

    def recording(self, field_, generator, device="cpu", compiler=None):
        modes.append(compiler.mode)
        return losses(self, field_, generator, device, compiler)

    monkeypatch.setattr(Problem, "losses", recording)
    if setting is None:
        monkeypatch.delenv(COMPILE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(COMPILE_VARIABLE, setting)
    code, err = run_cli(poisson_args(tmp_path, camera_small), capsys)
    assert code == 0, err
    assert modes == [mode, mode]
