"""Poisson reconstruction (gray and colour, from gradients and from the Laplacian), gradient-domain
fusion, and their commands, on small real images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from conftest import run_cli
from sirenkit.cli import COMPILE_VARIABLE, main
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.problems import Problem
from sirenkit.recipes.gradient_domain import BlendConfig, PoissonConfig, blend_images, reconstruct_image
from sirenkit.signals import Image, image_from_array, load_image

FAST = FitConfig(steps=300, lr=1e-3, schedule="cosine", checkpoint_every=0)
"""The CLI's schedule (Adam at 1e-3 with cosine decay), cut to a CI budget."""


@pytest.fixture(scope="module")
def camera_small() -> Image:
    """The whole `skimage.data.camera()` shrunk to 64×64 (anti-aliased): the paper's image at test size.

    The Sobel filter smooths across the derivative's direction, so even a perfect fit of its
    gradients stays below the image: on this image fits level off near 32 dB (the fixture
    `camera64`, a close-up with more fine texture, levels off near 30.5 dB).
    """
    import skimage.data
    import skimage.transform

    pixels = skimage.transform.resize(skimage.data.camera() / 255.0, (64, 64), anti_aliasing=True)
    return image_from_array(pixels.astype(np.float32))


def test_gray_from_gradients_reaches_30_db(camera_small):
    outcome = reconstruct_image(camera_small, FieldConfig(width=64), FAST, PoissonConfig(source="gradient"), quiet=True)
    assert outcome.settings["anchor"] == "mean"
    assert outcome.psnr >= 30.0, outcome.summary()


def test_colour_from_gradients_keeps_its_colours_only_with_an_anchor(astronaut32):
    config = FitConfig(steps=150, lr=1e-3, schedule="cosine", checkpoint_every=0)
    anchored = reconstruct_image(astronaut32, FieldConfig(width=64), config, PoissonConfig(), quiet=True)
    free = reconstruct_image(astronaut32, FieldConfig(width=64), config, PoissonConfig(anchor="none"), quiet=True)
    assert anchored.image.shape == (32, 48, 3)
    assert max(anchored.mean_error) < 1 / 255, anchored.summary()
    assert max(free.mean_error) > 1 / 255, free.summary()  # the option matters: without it colours shift
    assert anchored.psnr > free.psnr


def test_siren_beats_relu_pe_from_the_laplacian(camera_small):
    config = FitConfig(steps=150, lr=1e-3, schedule="cosine", checkpoint_every=0)
    psnr = {
        model: reconstruct_image(
            camera_small, FieldConfig(model=model, width=64), config, PoissonConfig(source="laplacian"), quiet=True
        ).psnr
        for model in ("siren", "relu-pe")
    }
    assert psnr["siren"] > psnr["relu-pe"] + 1.0, psnr


def test_blend_paste_keeps_a_outside_the_mask_and_b_s_detail_inside():
    import skimage.data

    a = image_from_array(np.ascontiguousarray(skimage.data.coffee()[100:132, 200:232]))
    b = image_from_array(np.ascontiguousarray(skimage.data.astronaut()[200:232, 180:212]))
    mask = np.zeros((32, 32), dtype=bool)
    mask[8:24, 8:24] = True
    config = FitConfig(steps=300, lr=1e-3, schedule="cosine", checkpoint_every=0)
    outcome = blend_images(a, b, FieldConfig(width=64), config, BlendConfig(mode="paste"), mask=mask, quiet=True)
    outside = ~np.pad(np.ones((20, 20), dtype=bool), 6)  # two pixels away from the seam
    inside = np.pad(np.ones((12, 12), dtype=bool), 10)
    error_a = np.abs(outcome.image - a.pixels)
    assert error_a[outside].mean() < 0.05
    detail = lambda p: p[inside] - p[inside].mean(0)  # noqa: E731  B's detail, whatever its offset
    assert (
        np.abs(detail(outcome.image) - detail(b.pixels)).mean() < np.abs(detail(a.pixels) - detail(b.pixels)).mean() / 2
    )


# The commands


def save_png(path, pixels: np.ndarray):
    PILImage.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8).squeeze()).save(path)
    return path


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


def test_configs_reject_bad_values():
    with pytest.raises(InputError, match="anchor-points"):
        PoissonConfig(anchor_points=0)
    with pytest.raises(InputError, match="unknown source"):
        PoissonConfig(source="hessian")
    with pytest.raises(InputError, match="unknown blend mode"):
        BlendConfig(mode="multiply")
    assert PoissonConfig(source="laplacian").resolved_anchor == "border+mean"
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True
    assert BlendConfig().resolved_anchor(mask) == "outside" and BlendConfig().resolved_anchor(None) == "mean"
    assert BlendConfig(mode="paste").resolved_anchor(np.ones((4, 4), dtype=bool)) == "mean"  # nothing outside
    with pytest.raises(InputError, match="unknown anchor"):
        PoissonConfig(anchor="outside")  # there is no mask in a reconstruction


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
