"""`sirenkit poisson` and `sirenkit blend` (`cli/poisson.py`): every file written, one clear line per bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli, save_png
from sirenkit.cli import main
from sirenkit.signals import load_image


def test_poisson_command_writes_every_file_and_renders_back(tmp_path, astronaut32, capsys):
    doubled = astronaut32.pixels.repeat(2, axis=0).repeat(2, axis=1)
    path = save_png(tmp_path / "astronaut.png", doubled)
    out = tmp_path / "run"
    args = ["poisson", str(path), "--from", "laplacian", "--downscale", "2", "--out", str(out), "--steps", "5"]
    args += ["--width", "32", "--quiet"]
    assert main(args) == 0
    assert "PSNR" in capsys.readouterr().out
    for name in ["reconstruction.png", "supervision_laplacian.png", "network_laplacian.png", "curve.png"]:
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"] == "laplacian" and summary["anchor"] == "border+mean" and summary["steps"] == 5
    assert len(summary["channel_mean_error"]) == 3 and np.isfinite(summary["psnr_db"])
    assert load_image(out / "reconstruction.png").pixels.shape == (32, 48, 3)
    assert main(["render", str(out / "model.safetensors"), "--size", "96x64", "--out", str(tmp_path / "x2.png")]) == 0
    assert load_image(tmp_path / "x2.png").pixels.shape == (64, 96, 3)


@pytest.mark.parametrize("mode", ["average", "max", "paste"])
def test_blend_command(tmp_path, mode, capsys):
    import skimage.data

    a = save_png(tmp_path / "a.png", skimage.data.coffee()[100:132, 200:248] / 255)
    b = save_png(tmp_path / "b.png", skimage.data.astronaut()[200:232, 180:228] / 255)
    mask = np.zeros((32, 48))
    mask[8:24, 12:36] = 1
    save_png(tmp_path / "mask.png", mask)
    out = tmp_path / mode
    args = ["blend", str(a), str(b), "--mode", mode, "--out", str(out), "--steps", "5", "--width", "32", "--quiet"]
    args += ["--downscale", "2"]
    assert main([*args, "--mask", str(tmp_path / "mask.png")] if mode == "paste" else args) == 0
    assert "blend" in capsys.readouterr().out
    assert load_image(out / "blend.png").pixels.shape == (16, 24, 3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == mode and summary["anchor"] == ("outside" if mode == "paste" else "mean")


def write_bad_inputs(tmp_path) -> dict:
    import skimage.data

    files = {
        "a": save_png(tmp_path / "a.png", skimage.data.coffee()[:16, :24] / 255),
        "small": save_png(tmp_path / "small.png", skimage.data.coffee()[:8, :8] / 255),
        "gray": save_png(tmp_path / "gray.png", skimage.data.camera()[:16, :24] / 255),
        "black": save_png(tmp_path / "black.png", np.zeros((16, 24))),
        "corrupt": tmp_path / "corrupt.png",
    }
    files["corrupt"].write_bytes(b"not a png at all")
    return files


BAD_COMMANDS = {
    "poisson missing file": (lambda f: ["poisson", "missing.png"], "no such file"),
    "poisson corrupt file": (lambda f: ["poisson", str(f["corrupt"])], "cannot read"),
    "poisson bad anchor": (lambda f: ["poisson", str(f["a"]), "--anchor", "middle"], "invalid choice"),
    "poisson bad source": (lambda f: ["poisson", str(f["a"]), "--from", "hessian"], "invalid choice"),
    "poisson bad anchor weight": (lambda f: ["poisson", str(f["a"]), "--anchor-weight", "-1"], "anchor-weight"),
    "blend missing b": (lambda f: ["blend", str(f["a"]), "missing.png"], "no such file"),
    "blend other size": (lambda f: ["blend", str(f["a"]), str(f["small"])], "same size"),
    "blend other channels": (lambda f: ["blend", str(f["a"]), str(f["gray"])], "same size and channels"),
    "blend mask of other size": (
        lambda f: ["blend", str(f["a"]), str(f["a"]), "--mask", str(f["small"])],
        "the mask is",
    ),
    "blend empty mask": (lambda f: ["blend", str(f["a"]), str(f["a"]), "--mask", str(f["black"])], "mask is empty"),
    "blend corrupt mask": (lambda f: ["blend", str(f["a"]), str(f["a"]), "--mask", str(f["corrupt"])], "cannot read"),
    "blend paste without mask": (lambda f: ["blend", str(f["a"]), str(f["a"]), "--mode", "paste"], "needs --mask"),
    "blend outside without mask": (
        lambda f: ["blend", str(f["a"]), str(f["a"]), "--anchor", "outside"],
        "needs a --mask",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_COMMANDS))
def test_bad_input_gives_one_clear_line_exit_2_and_no_output(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_args, message = BAD_COMMANDS[case]
    out = tmp_path / "out"
    code, err = run_cli([*make_args(write_bad_inputs(tmp_path)), "--out", str(out), "--steps", "2", "--quiet"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err and message in err, err
    assert not out.exists()
