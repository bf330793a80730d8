"""`sirenkit fit image` and `sirenkit render` of its checkpoints (`cli/image.py`): a real run end to end, bad fits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from conftest import run_cli, write
from sirenkit.cli import main


@pytest.fixture
def small_png(tmp_path, astronaut32):
    path = tmp_path / "small.png"
    PILImage.fromarray((astronaut32.pixels * 255).round().astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """`sirenkit fit image` on a small real image, run once for the tests below."""
    import skimage.data

    folder = tmp_path_factory.mktemp("fit")
    PILImage.fromarray(skimage.data.coffee()[100:140, 200:260]).save(folder / "coffee.png")
    code = main(
        [
            "fit",
            "image",
            str(folder / "coffee.png"),
            "--out",
            str(folder / "run"),
            "--steps",
            "40",
            "--width",
            "64",
            "--quiet",
        ]
    )
    assert code == 0
    return folder / "run"


def test_fit_image_writes_every_promised_file(fitted):
    for name in ["reconstruction.png", "curve.png", "metrics.jsonl", "summary.json", "model.safetensors"]:
        assert (fitted / name).stat().st_size > 0, name
    summary = json.loads((fitted / "summary.json").read_text())
    assert summary["steps"] == 40 and summary["psnr_db"] > 20 and summary["parameters"] > 0
    assert summary["weight_bytes"] == 4 * summary["parameters"]
    rows = (fitted / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 40 and "psnr" in json.loads(rows[-1])
    assert np.asarray(PILImage.open(fitted / "reconstruction.png")).shape == (40, 60, 3)


def test_render_at_any_size(fitted, tmp_path):
    out = tmp_path / "big.png"
    assert main(["render", str(fitted / "model.safetensors"), "--size", "150x100", "--out", str(out)]) == 0
    assert np.asarray(PILImage.open(out)).shape == (100, 150, 3)


def test_resume_of_a_finished_run_adds_no_steps(fitted, tmp_path):
    args = ["fit", "image", "--steps", "40", "--width", "64", "--quiet", "--resume", "--out", str(fitted)]
    import skimage.data

    PILImage.fromarray(skimage.data.coffee()[100:140, 200:260]).save(tmp_path / "coffee.png")
    assert main([*args[:2], str(tmp_path / "coffee.png"), *args[2:]]) == 0
    assert len((fitted / "metrics.jsonl").read_text().splitlines()) == 40


def test_bad_render_size(fitted, capsys):
    assert main(["render", str(fitted / "model.safetensors"), "--size", "big"]) == 2
    assert "--size must look like" in capsys.readouterr().err


def fit_args(path, out, *extra):
    return ["fit", "image", str(path), "--out", str(out), "--steps", "2", "--width", "8", "--quiet", *extra]


@pytest.mark.parametrize(("extra", "expected"), [((), 8192), (("--batch", "0"), None), (("--batch", "100"), 100)])
def test_fit_image_draws_8192_random_pixels_per_step_unless_told(extra, expected, small_png, tmp_path, monkeypatch):
    from sirenkit.recipes.image import ImageKind

    seen = {}
    real = ImageKind.problem

    def spy(self, signal, batch, device):
        seen["batch"] = batch
        return real(self, signal, batch, device)

    monkeypatch.setattr(ImageKind, "problem", spy)
    assert main(fit_args(small_png, tmp_path / "run", *extra)) == 0
    assert seen["batch"] == expected


BAD_FITS = {
    "missing file": (lambda t, png: fit_args(t / "nope.png", t / "out"), "no such file"),
    "not an image": (lambda t, png: fit_args(write(t, "x.png", b"hello"), t / "out"), "cannot read"),
    "zero-size image": (lambda t, png: fit_args(write(t, "z.png", b""), t / "out"), "empty"),
    "negative steps": (lambda t, png: fit_args(png, t / "out", "--steps", "-3"), "steps must be"),
    "width 0": (lambda t, png: fit_args(png, t / "out", "--width", "0"), "width must be"),
    "unwritable out": (lambda t, png: fit_args(png, write(t, "file", b"x") / "sub"), "cannot write"),
    "steps not a number": (lambda t, png: fit_args(png, t / "out", "--steps", "many"), "invalid int"),
    "unknown model": (lambda t, png: fit_args(png, t / "out", "--model", "gauss"), "invalid choice"),
}


@pytest.mark.parametrize("case", sorted(BAD_FITS))
def test_bad_fit_input_gives_one_clear_line_and_exit_2(case, tmp_path, small_png, capsys):
    make_args, message = BAD_FITS[case]
    code, err = run_cli(make_args(tmp_path, small_png), capsys)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err and message in err, err
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_a_tiled_resume_with_another_group_size_is_one_line_naming_the_option(small_png, tmp_path, capsys):
    args = ["fit", "image", str(small_png), "--out", str(tmp_path / "run"), "--tiles", "24", "--width", "8"]
    args += ["--depth", "1", "--quiet"]  # 32×48 pixels: 6 tiles of 24, in groups of 2 or of 4
    assert run_cli([*args, "--steps", "2", "--group-size", "2"], capsys)[0] == 0
    code, err = run_cli([*args, "--steps", "4", "--group-size", "4", "--resume"], capsys)
    assert code == 2 and "--group-size 2 -> 4" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert run_cli([*args, "--steps", "4", "--group-size", "2", "--resume"], capsys)[0] == 0
