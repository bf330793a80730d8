import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image as PILImage

from conftest import run_cli, save_png
from run_helpers import start_cli, wait_for
from sirenkit.compression.container import MAGIC, Quantized, encode
from sirenkit.compression.quantization import TensorCode, named_tensors
from sirenkit.fields import FieldConfig, build_field
from sirenkit.fit import FitInterrupted
from sirenkit.recipes.compress import decompress, field_parameters
from sirenkit.store import Representation

QUICK = ["--seconds", "120", "--steps", "300", "--depth", "2", "--batch", "1536", "--precision", "fp32", "--quiet"]


def pixels(path) -> np.ndarray:
    with PILImage.open(path) as image:
        return np.asarray(image, np.float64) / 255


@pytest.fixture
def photo(tmp_path, astronaut32):
    return save_png(tmp_path / "photo.png", astronaut32.pixels)


@pytest.fixture
def tiny(tmp_path, astronaut32):
    return save_png(tmp_path / "tiny.png", astronaut32.pixels[:16, :16])


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


def test_a_rate_past_what_the_image_can_use_gives_a_field_no_larger_than_the_image(tmp_path, tiny):
    out = tmp_path / "huge.skz"
    quick = [*QUICK[:2], "--steps", "4", *QUICK[4:]]
    child = start_cli(["compress", str(tiny), "--out", str(out), "--bpp", "1e9", *quick], stdout=subprocess.DEVNULL)
    try:
        _, err = child.communicate(timeout=120)  # a field as wide as a fixed cap allows would take hours here
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert field_parameters(decompress(out.read_bytes()).config) <= 16 * 16 * 3


def test_an_interrupt_during_training_says_what_was_not_written(tmp_path, photo, capsys, monkeypatch):
    import sirenkit.recipes.compress as codec

    def interrupted(*args, **kwargs):
        raise FitInterrupted(7, 100, signal.SIGINT, None)

    monkeypatch.setattr(codec, "fit_signal", interrupted)
    out = tmp_path / "never.skz"
    code, err = run_cli(["compress", str(photo), "--out", str(out), "--bpp", "6", *QUICK], capsys)
    assert code == 130 and err.strip() == f"sirenkit: interrupted at training step 7; {out} was not written", err
    assert not out.exists()


SLOW_SEARCH = """
import pathlib, signal, sys
import brotli, numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)
import sirenkit.recipes.compress as codec
from sirenkit.cli import main

mark, args = pathlib.Path(sys.argv[1]), sys.argv[2:]
blob = (np.random.default_rng(0).normal(0, 20, 8_000_000).clip(-63, 63) + 63).astype(np.uint8).tobytes()
sensitivities, encode = codec.sensitivities, codec.encode

def started(*args, **kwargs):  # the search after training has begun: from now on, every encode takes seconds
    mark.touch()
    return sensitivities(*args, **kwargs)

def slow(quantized):
    if mark.exists():
        brotli.compress(blob, quality=11, lgwin=24)  # one call into brotli, as a large field's encode is
    return encode(quantized)

codec.sensitivities, codec.encode = started, slow
sys.exit(main(args))
"""


def test_ctrl_c_in_the_quantization_search_acts_at_once_even_mid_encode(tmp_path, tiny):
    mark, out = tmp_path / "searching", tmp_path / "stopped.skz"
    args = ["compress", str(tiny), "--out", str(out), "--bpp", "24", *QUICK[:2], "--steps", "4", *QUICK[4:]]
    child = subprocess.Popen([sys.executable, "-c", SLOW_SEARCH, str(mark), *args], stderr=subprocess.PIPE, text=True)
    wait_for(mark.exists, child)
    time.sleep(0.5)  # into the first slow encode
    child.send_signal(signal.SIGINT)
    sent = time.monotonic()
    said = child.stderr.readline()  # the command's last words, as soon as it acts (the exit takes torch's teardown)
    assert time.monotonic() - sent < 2.5, said
    assert said.strip() == "sirenkit: interrupted; nothing was written or changed", said
    child.communicate(timeout=120)
    assert child.returncode == 130 and not out.exists()
