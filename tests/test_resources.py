"""Memory checks before work (`sirenkit.resources`): oversize requests refused, legal large ones still run."""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import replace

import imageio.v3 as iio
import numpy as np
import pytest
import soundfile
from PIL import Image as PILImage

from conftest import run_cli
from sirenkit.cli import main
from sirenkit.fields import FieldConfig
from sirenkit.resources import available_memory, cgroup_headroom, mesh_request, training_request
from sirenkit.signals import load_image

REFUSAL = re.compile(r"needs about [\d.]+ [KMGTPE]?i?B of memory, but [\d.]+ [KMGTPE]?i?B is available")


GiB = 1 << 30


def _png_header_only(path, width: int, height: int):
    """A PNG whose header claims width × height RGB pixels, with almost no pixel data (68 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def small_png(tmp_path):
    path = tmp_path / "small.png"
    PILImage.fromarray(np.arange(8 * 6 * 3, dtype=np.uint8).reshape(6, 8, 3)).save(path)
    return path


def files_written(folder) -> list:
    """Files under `folder`, leaving out hidden bookkeeping (locks)."""
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")] if folder.exists() else []


FIT = "--steps 2 --width 16 --depth 1 --quiet"


OVERSIZE = {
    "render image --size": ("render {image} --size 1000000x1000000 --out {o}/x.png", "--size"),
    "render video --size": ("render {video} --size 1000000x1000000 --out {o}/x.mp4", "--size"),
    "render audio --rate": ("render {audio} --rate 10000000000000 --out {o}/x.wav", "--rate"),
    "mesh coarse-to-fine": ("mesh {sdf} --resolution 100000 --out {o}/m.ply", "--resolution"),
    "mesh dense": ("mesh {sdf} --resolution 20000 --method dense --out {o}/m.ply", "--method coarse-to-fine"),
    "preview --size": ("preview {sdf} --size 1000000 --out {o}/p.png", "--size"),
    "fit image, huge header": (f"fit image {{huge_png}} --out {{o}} {FIT}", "resize"),
    "fit image --batch 0, huge width": (f"fit image {{png}} --out {{o}} {FIT} --batch 0 --width 10000000", "--batch"),
    "fit audio --batch": (f"fit audio {{wav}} --out {{o}} {FIT} --batch 1000000000000", "--batch"),
    "poisson, huge width": (f"poisson {{png}} --out {{o}} {FIT} --width 10000000", "--width"),
    "fit sdf --resolution": (f"fit sdf {{xyz}} --out {{o}} {FIT} --resolution 100000", "--resolution"),
    "fit sdf --preview-size": (f"fit sdf {{xyz}} --out {{o}} {FIT} --preview-size 1000000", "--preview-size"),
}
"""Command lines (filled in with the checkpoints and inputs below) that cannot fit, and the option the error names."""


def _inputs(tmp_path, small_png) -> dict:
    """Input files for OVERSIZE: a PNG header claiming 10^6 x 10^6 pixels, a short tone, a sphere's points."""
    wav, xyz = tmp_path / "tone.wav", tmp_path / "ball.xyz"
    soundfile.write(wav, np.sin(np.arange(800) / 5.0).astype(np.float32), 8000)
    normals = np.random.default_rng(0).normal(size=(200, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    np.savetxt(xyz, np.hstack([0.5 * normals, normals]))
    huge = _png_header_only(tmp_path / "huge.png", 10**6, 10**6)
    return {"huge_png": huge, "png": small_png, "wav": wav, "xyz": xyz, "o": tmp_path / "o"}


@pytest.mark.parametrize("case", sorted(OVERSIZE))
def test_oversize_requests_are_refused_before_work_with_the_estimate(case, checkpoints, tmp_path, small_png, capsys):
    command, option = OVERSIZE[case]
    args = command.format(**checkpoints, **_inputs(tmp_path, small_png)).split()
    code, err = run_cli(args, capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sirenkit: error: "), err
    assert REFUSAL.search(err) and option in err, err
    assert files_written(tmp_path / "o") == []


def test_available_memory_is_positive_and_below_physical_memory():
    import os

    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < available_memory("cpu") <= physical


def test_cgroup_headroom_is_the_limit_less_what_cannot_be_reclaimed(tmp_path):
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "memory.current").write_text("300\n")
    assert cgroup_headroom(tmp_path, "memory.max", "memory.current") is None  # no limit
    (tmp_path / "memory.max").write_text("1000\n")
    (tmp_path / "memory.stat").write_text("anon 200\ninactive_file 100\n")
    assert cgroup_headroom(tmp_path, "memory.max", "memory.current") == 800  # inactive cache is reclaimable
    (tmp_path / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # cgroup v1's "no limit"
    assert cgroup_headroom(tmp_path, "memory.limit_in_bytes", "memory.current") is None


def test_coarse_to_fine_meshing_makes_a_resolution_legal_that_dense_cannot_hold():
    dense, coarse = mesh_request(2048, "dense"), mesh_request(2048)
    assert dense.bytes > 32 * GiB  # the float32 grid alone is 32 GiB
    assert coarse.bytes < 16 * GiB  # bounded by the surface, not the grid


def test_training_estimate_follows_the_derivative_path():
    """Values < one output's gradient by autograd; the forward jet grows with its rows (d + 2 for the Laplacian)."""
    config = FieldConfig(in_dim=2, out_dim=1, width=256, depth=3)
    value, gradient, laplacian = (training_request(config, 65536, order=k).bytes for k in (0, 1, 2))
    assert value < laplacian < gradient
    assert training_request(config, 2 * 65536).bytes > 1.9 * value  # activations scale with the points


def test_a_pde_step_estimate_follows_its_points_derivative_path_and_refinement():
    """A time-dependent problem's unmixed second derivatives (autograd) cost several times the
    forward Laplacian of a stationary one; a refined set is counted at its largest, its candidates
    and the collocation draw apart; L-BFGS's history counts per parameter."""
    from sirenkit.problems.pde import PDEOptions, heat, helmholtz
    from sirenkit.recipes.pde import SOLVE_FIELD, SOLVE_FIT, PDEKind

    config = FieldConfig(**{**SOLVE_FIELD.to_dict(), "in_dim": 2, "out_dim": 1})
    adam = PDEKind(fit=replace(SOLVE_FIT, lbfgs=0.0))
    stationary, timed = (
        adam.requests(make(options=PDEOptions(points=4096)), config, None, "cpu") for make in (helmholtz, heat)
    )
    assert "on 5,120 points per step" in stationary[0].what and "on 6,144 points per step" in timed[0].what
    assert timed[0].bytes > 5 * stationary[0].bytes and "--batch" in stationary[0].option
    refined = helmholtz(options=PDEOptions(collocation=1024, refine_every=100))
    step, drawing, refining, *grid = PDEKind().requests(refined, config, None, "cpu")
    grown = 1024 + SOLVE_FIT.steps // 100 * (1024 // 16)
    assert f"on {grown + 256:,} points per step" in step.what and step.option.startswith("--collocation")
    assert "collocation points" in drawing.what and "8,192 candidates" in refining.what
    assert [r.device for r in grid] == ["cpu", "cpu"]
    assert step.bytes > adam.requests(refined, config, None, "cpu")[0].bytes


def test_a_large_sdf_mesh_and_render_that_fit_still_run(checkpoints, tmp_path):
    out = tmp_path / "plane.obj"
    assert main(["mesh", str(checkpoints["sdf"]), "--resolution", "96", "--out", str(out)]) == 0
    import trimesh

    mesh = trimesh.load(out, process=False)
    np.testing.assert_allclose(mesh.vertices[:, 0], 0.1, atol=1e-5)  # the plane x = 0.1
    big = tmp_path / "big.png"
    assert main(["render", str(checkpoints["image"]), "--size", "1024x768", "--out", str(big)]) == 0
    assert iio.imread(big).shape == (768, 1024, 3)


def test_an_image_above_pillows_bomb_limit_that_fits_is_read(tmp_path):
    path = tmp_path / "wide.png"
    PILImage.new("L", (10000, 9000), 128).save(path)  # 90 megapixels: over Pillow's 89.5 MP warning limit
    image = load_image(path)
    assert image.shape == (9000, 10000) and image.pixels[0, 0, 0] == np.float32(128 / 255)
    assert PILImage.MAX_IMAGE_PIXELS is not None  # Pillow's own setting is restored
