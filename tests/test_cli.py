"""The command line: a small real run end to end, and one clear error line for every bad input."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from safetensors.torch import save_file

from conftest import run_cli
from sirenkit.cli import build_parser, main


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


def test_python_dash_m_entry_point_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sirenkit", "render", str(tmp_path / "none.safetensors")], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no such file" in done.stderr


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


def write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def foreign_safetensors(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    return path


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


BAD_CHECKPOINTS = {
    "missing": (lambda t: t / "none.safetensors", "no such file"),
    "corrupt": (lambda t: write(t, "c.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage"), "not a readable"),
    "foreign": (foreign_safetensors, "not a sirenkit checkpoint"),
}


@pytest.mark.parametrize("case", sorted(BAD_CHECKPOINTS))
def test_bad_checkpoint_gives_one_clear_line_and_exit_2(case, tmp_path, capsys):
    make_path, message = BAD_CHECKPOINTS[case]
    out = tmp_path / "r.png"
    code, err = run_cli(["render", str(make_path(tmp_path)), "--out", str(out)], capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_bad_render_size(fitted, capsys):
    assert main(["render", str(fitted / "model.safetensors"), "--size", "big"]) == 2
    assert "--size must look like" in capsys.readouterr().err


def fit_commands(parser) -> list:
    """Every (sub)command parser that takes the fit loop's options (those with --retain-memory)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += fit_commands(sub)
        elif action.dest == "retain_memory":
            found.append(parser)
    return found


def test_every_fit_command_tunes_the_allocator_while_the_library_does_not_unless_asked():
    from sirenkit.fit import FitConfig

    assert FitConfig().retain_memory is False
    commands = fit_commands(build_parser())
    assert len(commands) >= 7
    for command in commands:
        assert command.get_default("retain_memory") is True, command.prog


def test_main_leaves_the_warning_display_as_it_found_it(tmp_path, capsys):
    before = warnings.showwarning
    code, _ = run_cli(["render", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "x.png")], capsys)
    assert code == 2 and warnings.showwarning is before
    with pytest.raises(SystemExit):
        main(["--help"])
    assert warnings.showwarning is before


@pytest.mark.parametrize(
    "command,module,fit_name,batch_name",
    [
        (["fit", "image"], "image", "IMAGE_FIT", "IMAGE_BATCH"),
        (["fit", "audio"], "audio", "AUDIO_FIT", "AUDIO_BATCH"),
        (["fit", "video"], "video", "VIDEO_FIT", "VIDEO_BATCH"),
        (["fit", "volume"], "volume", "VOLUME_FIT", "VOLUME_BATCH"),
        (["fit", "sdf"], "sdf", "SDF_FIT", None),
        (["poisson"], "gradient_domain", "POISSON_FIT", None),
        (["blend", "b.png"], "gradient_domain", "POISSON_FIT", None),
        (["compare", "image"], "derivative_maps", "COMPARE_FIT", None),
    ],
)
def test_the_library_defaults_are_the_commands_defaults(command, module, fit_name, batch_name):
    """Each command's options default to its recipe's settings (the allocator tuning aside)."""
    import importlib
    from dataclasses import asdict, fields

    from sirenkit.fit import FitConfig

    recipe = importlib.import_module(f"sirenkit.recipes.{module}")
    args = build_parser().parse_args([*command, "a.png", "--out", "out"])
    library = asdict(getattr(recipe, fit_name))
    for f in fields(FitConfig):
        if hasattr(args, f.name) and f.name != "retain_memory":
            assert getattr(args, f.name) == library[f.name], f.name
    if batch_name is not None:
        assert args.batch == getattr(recipe, batch_name)
