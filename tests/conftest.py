"""Shared fixtures: small real images (scikit-image ships them offline) and the shared data folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sirenkit.cli import main
from sirenkit.signals import Image, image_from_array

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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
def astronaut32() -> Image:
    """A 32×48 RGB crop of `skimage.data.astronaut()` (non-square on purpose)."""
    import skimage.data

    return image_from_array(np.ascontiguousarray(skimage.data.astronaut()[100:132, 180:228]))


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or skip the test with a one-line reason when it is absent."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"needs ../shared/data/{relative}, which this checkout does not have")
    return path


def run_cli(args, capsys) -> tuple[int, str]:
    """Exit code and stderr of one command, whether it returns or argparse exits."""
    try:
        code = main(args)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err
