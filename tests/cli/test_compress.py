import numpy as np
import pytest
from PIL import Image as PILImage

from conftest import run_cli, save_png
from sirenkit.compression.container import MAGIC, Quantized, encode
from sirenkit.compression.quantization import TensorCode, named_tensors
from sirenkit.fields import FieldConfig, build_field
from sirenkit.store import Representation

QUICK = ["--seconds", "120", "--steps", "300", "--depth", "2", "--batch", "1536", "--precision", "fp32", "--quiet"]


def pixels(path) -> np.ndarray:
    with PILImage.open(path) as image:
        return np.asarray(image, np.float64) / 255


@pytest.fixture
def photo(tmp_path, astronaut32):
    return save_png(tmp_path / "photo.png", astronaut32.pixels)


@pytest.fixture
def packed(tmp_path, photo, capsys):
    out = tmp_path / "photo.skz"
    code, err = run_cli(["compress", str(photo), "--out", str(out), "--bpp", "6", *QUICK], capsys)
    assert code == 0, err
    return out


def test_compress_then_decompress_gives_the_image_back_at_any_size(tmp_path, photo, packed, capsys):
    assert packed.read_bytes()[:3] == MAGIC
    assert 8 * packed.stat().st_size / (32 * 48) <= 6
    out = tmp_path / "back.png"
    code, err = run_cli(["decompress", str(packed), "--out", str(out), "--device", "cpu"], capsys)
    assert code == 0, err
    back, original = pixels(out), pixels(photo)
    assert back.shape == original.shape
    assert 10 * np.log10(1 / np.mean((back - original) ** 2)) > 20
    again = tmp_path / "again.png"
    assert run_cli(["decompress", str(packed), "--out", str(again), "--device", "cpu"], capsys)[0] == 0
    assert again.read_bytes() == out.read_bytes()
    large = tmp_path / "large.png"
    assert run_cli(["decompress", str(packed), "--out", str(large), "--size", "96x64"], capsys)[0] == 0
    assert pixels(large).shape == (64, 96, 3)


def test_a_psnr_target_gives_a_file_that_reaches_it(tmp_path, photo, capsys):
    out = tmp_path / "target.skz"
    code, err = run_cli(["compress", str(photo), "--out", str(out), "--psnr", "18", "--max-fits", "2", *QUICK], capsys)
    assert code == 0, err
    assert (
        run_cli(["compress", str(photo), "--out", str(out), "--psnr", "99", "--max-fits", "1", *QUICK], capsys)[0] == 2
    )


def one_error(code: int, err: str) -> str:
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_bad_files_are_one_line_and_exit_2_with_nothing_written(tmp_path, photo, packed, capsys):
    out = tmp_path / "out.png"
    data = packed.read_bytes()
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0xFF
    cases = {
        "corrupt.skz": bytes(damaged),
        "truncated.skz": data[: len(data) // 2],
        "foreign.skz": photo.read_bytes(),
        "empty.skz": b"",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        err = one_error(*run_cli(["decompress", str(path), "--out", str(out)], capsys))
        assert name in err or "empty" in err
    assert "no such file" in one_error(
        *run_cli(["decompress", str(tmp_path / "missing.skz"), "--out", str(out)], capsys)
    )
    config = FieldConfig(in_dim=1, out_dim=1, width=4, depth=1)
    sound = Representation(build_field(config), config, {"kind": "audio", "rate": 8000})
    codes = [TensorCode.of_bits(8) for _ in named_tensors(sound.field)]
    (tmp_path / "sound.skz").write_bytes(encode(Quantized.of(sound, codes)))
    assert "audio" in one_error(*run_cli(["decompress", str(tmp_path / "sound.skz"), "--out", str(out)], capsys))
    assert not out.exists()


def test_outputs_are_never_replaced_silently_nor_the_input(tmp_path, photo, packed, capsys):
    before = packed.read_bytes()
    err = one_error(*run_cli(["compress", str(photo), "--out", str(packed), "--bpp", "6", *QUICK], capsys))
    assert "--overwrite" in err and packed.read_bytes() == before
    err = one_error(
        *run_cli(["compress", str(photo), "--out", str(photo), "--bpp", "6", "--overwrite", *QUICK], capsys)
    )
    assert "input" in err
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"mine")
    one_error(*run_cli(["decompress", str(packed), "--out", str(existing)], capsys))
    assert existing.read_bytes() == b"mine"
    assert run_cli(["decompress", str(packed), "--out", str(existing), "--overwrite"], capsys)[0] == 0
    one_error(*run_cli(["decompress", str(packed), "--out", str(tmp_path / "out.txt")], capsys))


def test_a_rate_too_low_or_bad_settings_are_refused_before_anything_is_written(tmp_path, photo, capsys):
    out = tmp_path / "small.skz"
    assert "too small" in one_error(
        *run_cli(["compress", str(photo), "--out", str(out), "--bpp", "0.1", *QUICK], capsys)
    )
    one_error(*run_cli(["compress", str(photo), "--out", str(out), "--bpp", "-1", *QUICK], capsys))
    one_error(*run_cli(["compress", str(photo), "--out", str(out), "--bpp", "2", "--qat", "1.5", *QUICK], capsys))
    one_error(*run_cli(["compress", str(tmp_path / "missing.png"), "--out", str(out), "--bpp", "2"], capsys))
    sound = tmp_path / "sound.wav"
    sound.write_bytes(b"RIFF")
    assert "takes image signals" in one_error(
        *run_cli(["compress", str(sound), "--out", str(out), "--bpp", "2"], capsys)
    )
    assert not out.exists()
