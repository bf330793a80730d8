"""Helpers for the tests of runs (the fit loop, its run folder, its files): quick fit settings, tiny
image fits, the command line in a child process, and the steps a run's log holds.

Processes that must really be signalled or killed run the command line in a child process.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from sirenkit.fields import FieldConfig, build_field
from sirenkit.problems import PointSet, fitting_problem
from sirenkit.store import Representation

FAST = dict(lr=1e-3, schedule="cosine", checkpoint_every=0, precision="fp32")
TINY = ["--width", "16", "--depth", "1", "--quiet"]
LONG = 10**6


def fit_args(image: Path, out: Path, *extra: str, steps: int = 20) -> list[str]:
    return ["fit", "image", str(image), "--out", str(out), "--steps", str(steps), *TINY, *extra]


def start_cli(args: list[str], **kwargs) -> subprocess.Popen:
    """The command line in a child process, its stderr captured. SIGINT is left at its default in
    the child even when pytest runs where it is ignored (a background job of a script), since the
    command keeps an ignored signal ignored and the interrupt tests send it."""
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from sirenkit.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return subprocess.Popen([sys.executable, "-c", code, *args], stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for(condition, child: subprocess.Popen, seconds: float = 120.0) -> None:
    """Poll `condition` until it holds; fail with the child's stderr if the child ends first."""
    deadline = time.monotonic() + seconds
    while not condition():
        if child.poll() is not None:
            raise AssertionError(f"the child process ended with {child.returncode}: {child.communicate()[1]}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError(f"timed out waiting for the child process: {child.communicate()[1]}")
        time.sleep(0.02)


def metric_steps(run: Path) -> list[int]:
    lines = (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").is_file() else []
    return [json.loads(line)["step"] for line in lines if line.endswith("}")]


def limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def tiny_image_fit(camera64):
    field_config = FieldConfig(width=8, depth=1, in_dim=2, out_dim=1)
    rep = Representation(build_field(field_config), field_config, {"kind": "image"})
    return rep, fitting_problem(PointSet(camera64.coordinates(), {"target": camera64.values()}), points=64)
