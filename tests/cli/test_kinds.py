"""`sirenkit fit KIND` and `sirenkit render` for every kind (`cli/kinds.py`): degenerate and bad inputs, bad --out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import soundfile
import torch
from safetensors.torch import save_file

from conftest import run_cli, write

TINY = ["--steps", "2", "--width", "16", "--depth", "1", "--quiet"]


def write_png(path: Path, pixels: np.ndarray) -> Path:
    iio.imwrite(path, pixels.astype(np.uint8))
    return path


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """A WAV file whatever the name's suffix (a sound renamed as an image or a video)."""
    soundfile.write(path, samples.astype(np.float32), 8000, format="WAV")
    return path


def write_mp4(path: Path, frames: np.ndarray) -> Path:
    """(T, H, W, 3) uint8 frames; MPEG-4 part 2 takes odd sides (1×1), which H.264 refuses."""
    iio.imwrite(path, frames.astype(np.uint8), plugin="pyav", codec="mpeg4", fps=10)
    return path


def image_commands(source: Path, out: Path) -> list[tuple[list[str], list[str]]]:
    """(arguments, files each must write) of every command that takes an image, on `source`."""
    fit, model = out / "fit", str(out / "fit" / "model.safetensors")
    return [
        (["fit", "image", str(source), "--out", str(fit), *TINY], ["fit/model.safetensors", "fit/summary.json"]),
        (["render", model, "--out", str(out / "render.png")], ["render.png"]),
        (["render", model, "--size", "3x2", "--out", str(out / "render3x2.png")], ["render3x2.png"]),
        (["derivatives", model, "--out", str(out / "d")], ["d/derivatives.json", "d/network_laplacian.png"]),
        (
            ["compare", "image", str(source), "--models", "siren,relu", "--out", str(out / "c"), *TINY],
            ["c/comparison.json", "c/comparison.png"],
        ),
        (["poisson", str(source), "--out", str(out / "p"), *TINY], ["p/reconstruction.png", "p/summary.json"]),
        (
            ["poisson", str(source), "--from", "laplacian", "--out", str(out / "l"), *TINY],
            ["l/reconstruction.png", "l/summary.json"],
        ),
        (["blend", str(source), str(source), "--out", str(out / "b"), *TINY], ["b/blend.png", "b/summary.json"]),
    ]


def audio_commands(source: Path, out: Path) -> list[tuple[list[str], list[str]]]:
    """(arguments, files) of fitting and rendering a clip."""
    model = str(out / "fit" / "model.safetensors")
    return [
        (
            ["fit", "audio", str(source), "--out", str(out / "fit"), *TINY],
            ["fit/reconstruction.wav", "fit/audio.png", "fit/summary.json"],
        ),
        (["render", model, "--out", str(out / "render.wav")], ["render.wav"]),
        (["render", model, "--rate", "3", "--out", str(out / "render3.wav")], ["render3.wav"]),
    ]


def video_commands(source: Path, out: Path) -> list[tuple[list[str], list[str]]]:
    """(arguments, files) of fitting and rendering a clip."""
    model = str(out / "fit" / "model.safetensors")
    return [
        (
            ["fit", "video", str(source), "--out", str(out / "fit"), *TINY],
            ["fit/reconstruction.mp4", "fit/summary.json"],
        ),
        (["render", model, "--out", str(out / "render.mp4")], ["render.mp4"]),
        (["render", model, "--frames", "2", "--size", "3x3", "--out", str(out / "render2.mp4")], ["render2.mp4"]),
    ]


FLAT = np.full((8, 8), 90)


DEGENERATE: dict[str, tuple[Callable[[Path], Path], Callable]] = {
    "image 1x1": (lambda t: write_png(t / "a.png", np.array([[128]])), image_commands),
    "image 1xN": (lambda t: write_png(t / "a.png", np.arange(0, 200, 25)[None, :]), image_commands),
    "image flat gray": (lambda t: write_png(t / "a.png", FLAT), image_commands),
    "image flat RGB": (lambda t: write_png(t / "a.png", np.stack([FLAT, FLAT + 40, FLAT - 40], -1)), image_commands),
    "image black": (lambda t: write_png(t / "a.png", FLAT * 0), image_commands),
    "audio 1 sample": (lambda t: write_wav(t / "a.wav", np.array([0.5])), audio_commands),
    "audio silent": (lambda t: write_wav(t / "a.wav", np.zeros(200)), audio_commands),
    "video 1 frame 1x1": (lambda t: write_mp4(t / "a.mp4", np.full((1, 1, 1, 3), 100)), video_commands),
    "video 1 frame flat": (lambda t: write_mp4(t / "a.mp4", np.full((1, 8, 8, 3), 100)), video_commands),
}


def strict_json(path: Path) -> dict:
    """The document, refusing NaN and Infinity (not JSON)."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in {path.name}")

    return json.loads(path.read_text(), parse_constant=refuse)


# 11. Degenerate inputs work.
@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_signals_go_through_every_command_of_their_kind(case, tmp_path, capsys):
    make_source, commands = DEGENERATE[case]
    out = tmp_path / "out"
    for args, files in commands(make_source(tmp_path), out):
        code, err = run_cli(args, capsys)
        assert code == 0, f"{' '.join(args[:2])}: {err}"
        for name in files:
            assert (out / name).stat().st_size > 0, name
    for document in out.rglob("*.json"):
        strict_json(document)


# 12. Messages name what the user typed.
def random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    return path


def text(path: Path) -> Path:
    path.write_text("these are notes, renamed\n" * 5)
    return path


def directory(path: Path) -> Path:
    path.mkdir()
    return path


def truncated_png(path: Path) -> Path:
    iio.imwrite(path, np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:200])
    return path


def truncated_mp4(path: Path) -> Path:
    write_mp4(path, np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3)))
    path.write_bytes(path.read_bytes()[:200])
    return path


FIT = ["--out", "out", "--steps", "2"]


BAD_FILES: dict[str, tuple[str, Callable[[Path], Path], list[str], str]] = {
    # case: (file name as typed, how it is made, command before the file, reason expected in the line)
    "image: random bytes": ("x.png", random_bytes, ["fit", "image"], "not an image format"),
    "image: text renamed": ("notes.jpg", text, ["fit", "image"], "not an image format"),
    "image: a sound": ("a.wav", lambda p: write_wav(p, np.zeros(100)), ["fit", "image"], "not an image format"),
    "image: truncated": ("t.png", truncated_png, ["fit", "image"], "truncated"),
    "image: empty folder (a collection)": ("d.png", directory, ["fit", "image"], "names no files"),
    "image: missing": ("none.png", lambda p: p, ["fit", "image"], "no such file"),
    "poisson: random bytes": ("x.png", random_bytes, ["poisson"], "not an image format"),
    "compare: text renamed": ("x.png", text, ["compare", "image"], "not an image format"),
    "blend: directory mask": ("m.png", directory, ["blend", "a.png", "a.png", "--mask"], "is a directory"),
    "audio: random bytes": ("x.wav", random_bytes, ["fit", "audio"], "(Format not recognised)"),
    "audio: text renamed": ("x.flac", text, ["fit", "audio"], "(Format not recognised)"),
    "audio: empty folder (a collection)": ("d.wav", directory, ["fit", "audio"], "names no files"),
    "video: random bytes": ("x.mp4", random_bytes, ["fit", "video"], "(Invalid data found"),
    "video: truncated": ("t.mp4", truncated_mp4, ["fit", "video"], "(Invalid data found"),
    "video: a sound": ("a.mp4", lambda p: write_wav(p, np.zeros(100)), ["fit", "video"], "no video stream"),
    "video: empty folder (a collection)": ("d.mp4", directory, ["fit", "video"], "names no files"),
    "mesh: random bytes": ("x.ply", random_bytes, ["fit", "sdf"], "damaged or not PLY"),
    "mesh: text renamed": ("x.off", text, ["fit", "sdf"], "damaged or not OFF"),
    "points: binary": ("x.xyz", random_bytes, ["fit", "sdf"], "binary data"),
    "mesh: empty folder (a collection)": ("d.ply", directory, ["fit", "sdf"], "names no files"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_ends_in_one_line_naming_the_path_as_typed(case, tmp_path, monkeypatch, capsys):
    name, make, command, reason = BAD_FILES[case]
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "a.png", FLAT)
    typed = f"in/../{name}"  # as typed: relative, not normalized
    (tmp_path / "in").mkdir()
    make(tmp_path / name)
    code, err = run_cli([*command, typed, *FIT], capsys)
    assert code == 2
    assert err.startswith("sirenkit: error: ") and err.count("\n") == 1, err
    assert typed in err and reason in err, err
    assert not (tmp_path / "out" / "model.safetensors").exists()


# Checkpoints and --out of `sirenkit render`


def foreign_safetensors(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    return path


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


REFUSED_OUT = {
    "unknown suffix, before reading the checkpoint": ("missing", "x.xyz", "unknown render format '.xyz'"),
    "no suffix": ("missing", "x", "(no suffix)"),
    "audio suffix for an image": ("image", "x.wav", "unknown image format '.wav'"),
    "image suffix for audio": ("audio", "x.png", "unknown audio format '.png'"),
    "FLAC above its highest rate": ("audio-fast", "x.flac", "FLAC holds sample rates up to 655,350 Hz"),
    "video suffix MP4 only": ("video", "x.webp", "unknown video format '.webp'"),
}


@pytest.mark.parametrize("case", sorted(REFUSED_OUT))
def test_unknown_or_mismatched_out_is_refused_before_work(case, checkpoints, tmp_path, capsys, monkeypatch):
    kind, name, message = REFUSED_OUT[case]
    import sirenkit.recipes.audio
    import sirenkit.recipes.image
    import sirenkit.recipes.video

    def never(*args, **kwargs):
        raise AssertionError("rendered before the format was checked")

    for module, name_ in ((sirenkit.recipes.image, "render_image"), (sirenkit.recipes.audio, "render_audio")):
        monkeypatch.setattr(module, name_, never)
    monkeypatch.setattr(sirenkit.recipes.video, "render_video", never)
    checkpoint = tmp_path / "missing.safetensors" if kind == "missing" else checkpoints[kind.split("-")[0]]
    extra = ["--rate", "1000000"] if kind == "audio-fast" else []
    code, err = run_cli(["render", str(checkpoint), "--out", str(tmp_path / "o" / name), *extra], capsys)
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
