"""Shared fixtures: small real images (scikit-image ships them offline), input files and checkpoints
used by the tests of several rooms, the shared data folder, and helpers to run the command line."""

from __future__ import annotations

import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from signal_helpers import FPS, analytic_volume, moving_bars
from sirenkit.cli import main
from sirenkit.engine import LOCAL_SETTINGS
from sirenkit.fields import FieldConfig, build_field
from sirenkit.outputs.video import write_mp4
from sirenkit.recipes import audio as audio_recipe
from sirenkit.recipes import image as image_recipe
from sirenkit.recipes import video as video_recipe
from sirenkit.signals import Image, Video, audio_from_array, image_from_array
from sirenkit.store import Representation, save_representation

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

for _name, _value in LOCAL_SETTINGS.items():  # before any test imports Ray: a local Ray listens on 127.0.0.1 only
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def camera() -> Image:
    """The 512×512 grayscale `skimage.data.camera()`."""
    import skimage.data

    return image_from_array(skimage.data.camera())


@pytest.fixture(scope="session")
def camera64(camera: Image) -> Image:
    """A 64×64 crop of camera around the photographer's head and tripod (real texture and edges)."""
    return camera.crop(96, 224, 64, 64)


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def astronaut32() -> Image:
    """A 32×48 RGB crop of `skimage.data.astronaut()` (non-square on purpose)."""
    import skimage.data

    return image_from_array(np.ascontiguousarray(skimage.data.astronaut()[100:132, 180:228]))


@pytest.fixture
def image_file(tmp_path: Path, camera64) -> Path:
    path = tmp_path / "input.png"
    iio.imwrite(path, np.round(camera64.pixels[:32, :32, 0] * 255).astype(np.uint8))
    return path


@pytest.fixture
def bars_mp4(tmp_path):
    path = tmp_path / "bars.mp4"
    write_mp4(path, iter(moving_bars()), FPS)
    return path


@pytest.fixture
def volume_npy(tmp_path):
    path = tmp_path / "field.npy"
    np.save(path, analytic_volume())
    return path


def _save(path, config: FieldConfig, signal: dict, field=None):
    save_representation(path, Representation(field or build_field(config), config, signal))
    return path


def _config(in_dim: int, out_dim: int) -> FieldConfig:
    return FieldConfig(in_dim=in_dim, out_dim=out_dim, width=16, depth=1)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """Untrained checkpoints of each kind (rendering cost does not depend on training)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    rgb = image_from_array(np.zeros((6, 8, 3), np.uint8))
    rgba = image_from_array(np.zeros((6, 8, 4), np.uint8))
    gray16 = image_from_array(np.zeros((6, 8), np.uint16))
    clip = audio_from_array(np.zeros(800, np.float32), 8000)
    video = Video(np.zeros((3, 8, 10, 3), np.uint8), 10.0)
    plane = FieldConfig(model="relu", in_dim=3, out_dim=1, width=2, depth=0)
    field = build_field(plane)
    with torch.no_grad():  # Φ(x) = relu(x0) − relu(−x0) − 0.1 = x0 − 0.1: the plane x0 = 0.1, an exact SDF
        field.layers[0].weight.copy_(torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]]))
        field.layers[0].bias.zero_()
        field.head.weight.copy_(torch.tensor([[1.0, -1.0]]))
        field.head.bias.fill_(-0.1)
    sdf_signal = {"kind": "sdf", "normalization": {"center": [0.0, 0.0, 0.0], "scale": 1.0}}
    return {
        "image": _save(folder / "rgb.safetensors", _config(2, 3), image_recipe.signal_metadata(rgb)),
        "rgba": _save(folder / "rgba.safetensors", _config(2, 4), image_recipe.signal_metadata(rgba)),
        "gray16": _save(folder / "gray16.safetensors", _config(2, 1), image_recipe.signal_metadata(gray16)),
        "audio": _save(folder / "audio.safetensors", _config(1, 1), audio_recipe.signal_metadata(clip)),
        "video": _save(folder / "video.safetensors", _config(3, 3), video_recipe.signal_metadata(video, 1.0)),
        "sdf": _save(folder / "plane.safetensors", plane, sdf_signal, field),
    }


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or skip the test with a one-line reason when it is absent."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"needs ../shared/data/{relative}, which this checkout does not have")
    return path


def write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def save_png(path, pixels: np.ndarray):
    PILImage.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8).squeeze()).save(path)
    return path


def run_cli(args, capsys) -> tuple[int, str]:
    """Exit code and stderr of one command, whether it returns or argparse exits."""
    try:
        code = main(args)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err
