"""Writing files (`outputs/files.py`): the image format a suffix names, what it cannot hold, failed writes."""

from __future__ import annotations

import json
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image as PILImage

from run_helpers import limit_file_size
from sirenkit.cli import main
from sirenkit.outputs import write_json
from sirenkit.outputs.files import image_encoding, write_image


def test_a_write_error_keeps_the_previous_file_intact(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"psnr_db": 30.0})
    code = f"from sirenkit.outputs import write_json; write_json({str(path)!r}, {{'blob': 'x' * 100_000}})"
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=limit_file_size(10_000)
    )
    assert child.returncode != 0 and str(path) in child.stderr and "File too large" in child.stderr
    assert json.loads(path.read_text()) == {"psnr_db": 30.0}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


@pytest.mark.parametrize(
    ("suffix", "magic"), [(".jpg", b"\xff\xd8\xff"), (".JPEG", b"\xff\xd8\xff"), (".webp", b"RIFF")]
)
def test_render_writes_the_image_format_its_suffix_names(suffix, magic, checkpoints, tmp_path):
    out = tmp_path / f"x{suffix}"
    assert main(["render", str(checkpoints["image"]), "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(magic) and (suffix != ".webp" or data[8:12] == b"WEBP")
    assert iio.imread(out).shape == (6, 8, 3)


def test_jpeg_drops_alpha_and_webp_takes_8_bits_and_the_line_says_so(checkpoints, tmp_path, capsys):
    assert main(["render", str(checkpoints["rgba"]), "--out", str(tmp_path / "a.jpg")]) == 0
    assert "alpha dropped" in capsys.readouterr().out
    assert iio.imread(tmp_path / "a.jpg").shape == (6, 8, 3)
    assert main(["render", str(checkpoints["gray16"]), "--out", str(tmp_path / "g.webp")]) == 0
    assert "16-bit reduced to 8-bit" in capsys.readouterr().out
    assert main(["render", str(checkpoints["gray16"]), "--out", str(tmp_path / "g.png")]) == 0
    assert "reduced" not in capsys.readouterr().out
    with PILImage.open(tmp_path / "g.png") as png:
        assert png.mode == "I;16"


def test_write_image_keeps_what_png_holds_and_says_what_it_cannot():
    assert image_encoding("PNG", 4, 8).notes == ()
    assert image_encoding("PNG", 1, 16).bit_depth == 16
    assert image_encoding("PNG", 3, 16).bit_depth == 8  # Pillow writes no 16-bit colour PNG
    assert image_encoding("JPEG", 2, 8).drop_alpha and not image_encoding("WEBP", 4, 8).drop_alpha


def test_a_16_bit_colour_png_is_written_rather_than_failing(tmp_path):
    notes = write_image(tmp_path / "c.png", np.full((4, 5, 3), 0.5), 16)
    assert "16-bit reduced to 8-bit" in notes[0] and iio.imread(tmp_path / "c.png").shape == (4, 5, 3)
