"""`sirenkit derivatives` and `sirenkit compare image` (`cli/derivatives.py`): maps, numbers, tables, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from conftest import run_cli
from sirenkit.cli import main


@pytest.fixture(scope="module")
def fitted_cli(tmp_path_factory, camera):
    folder = tmp_path_factory.mktemp("derivatives")
    PILImage.fromarray((camera.pixels[::16, ::16, 0] * 255).round().astype(np.uint8)).save(folder / "camera.png")
    run = folder / "run"
    assert (
        main(
            ["fit", "image", str(folder / "camera.png"), "--out", str(run), "--steps", "20", "--width", "32", "--quiet"]
        )
        == 0
    )
    return folder


def test_derivatives_command_writes_maps_and_numbers(fitted_cli, capsys):
    run = fitted_cli / "run"
    assert main(["derivatives", str(run / "model.safetensors"), "--size", "48x40"]) == 0
    assert "gradient: PSNR" in capsys.readouterr().out
    for name in ("network_gradient.png", "network_laplacian.png", "data_gradient.png", "data_laplacian.png"):
        assert (run / name).stat().st_size > 0, name
    assert np.asarray(PILImage.open(run / "network_gradient.png")).shape == (40, 48, 3)
    numbers = json.loads((run / "derivatives.json").read_text())
    assert np.isfinite(numbers["gradient_psnr_db"]) and numbers["laplacian_relative_error"] > 0


def test_compare_command_writes_the_figure_and_table(fitted_cli, capsys, tmp_path):
    args = ["compare", "image", str(fitted_cli / "camera.png"), "--out", str(tmp_path), "--models", "siren,tanh"]
    assert main([*args, "--steps", "6", "--snapshots", "3,6", "--width", "16", "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "zero map" in table and table.count("siren") == 2
    rows = json.loads((tmp_path / "comparison.json").read_text())["rows"]
    assert [(r["model"], r["step"]) for r in rows] == [("siren", 3), ("siren", 6), ("tanh", 3), ("tanh", 6)]
    assert (tmp_path / "comparison.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--image", "OTHER"], "fitted to"),
        (["--image", "MISSING"], "no such file"),
    ],
)
def test_derivatives_bad_input_is_one_clear_line(fitted_cli, capsys, extra, message, camera):
    other = fitted_cli / "other.png"
    PILImage.fromarray((camera.pixels[:20, :30, 0] * 255).astype(np.uint8)).save(other)
    extra = [str(other) if e == "OTHER" else str(fitted_cli / "missing.png") if e == "MISSING" else e for e in extra]
    assert main(["derivatives", str(fitted_cli / "run" / "model.safetensors"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_compare_refuses_unknown_models_and_snapshots_past_the_end(fitted_cli, capsys, tmp_path):
    image = str(fitted_cli / "camera.png")
    assert main(["compare", "image", image, "--out", str(tmp_path), "--models", "siren,mlp"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["compare", "image", image, "--out", str(tmp_path), "--steps", "5", "--snapshots", "9"]) == 2
    assert "snapshot steps" in capsys.readouterr().err


def test_a_tiled_model_takes_its_derivatives_through_autograd_and_forward_is_refused(tmp_path, camera, capsys):
    source = tmp_path / "camera.png"
    PILImage.fromarray((camera.pixels[::16, ::16, 0] * 255).round().astype(np.uint8)).save(source)
    fit = ["fit", "image", str(source), "--out", str(tmp_path / "run"), "--tiles", "20", "--tile-overlap", "4"]
    code, err = run_cli([*fit, "--steps", "3", "--width", "8", "--depth", "1", "--quiet"], capsys)
    assert code == 0, err
    model = str(tmp_path / "run" / "model.safetensors")
    code, err = run_cli(["derivatives", model, "--method", "forward", "--out", str(tmp_path / "new" / "maps")], capsys)
    assert code == 2 and "use --method autograd" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "new").exists()  # a refused run leaves no folder it made
    code, err = run_cli(["derivatives", model, "--out", str(tmp_path / "maps")], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "maps" / "derivatives.json").read_text())["laplacian_relative_error"] > 0


def test_a_refused_run_leaves_no_folder_it_made(fitted_cli, camera, tmp_path, capsys):
    other = tmp_path / "other.png"
    PILImage.fromarray((camera.pixels[:20, :30, 0] * 255).astype(np.uint8)).save(other)
    model = str(fitted_cli / "run" / "model.safetensors")
    for extra, message in ((["--image", str(other)], "fitted to"), (["--image", str(tmp_path / "no.png")], "no such")):
        code, err = run_cli(["derivatives", model, *extra, "--out", str(tmp_path / "out" / "maps")], capsys)
        assert code == 2 and message in err, err
        assert not (tmp_path / "out").exists()
