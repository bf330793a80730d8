"""engine.shards: shards here or as Ray tasks; collections on a local Ray and on a two-node cluster.

The Ray tests start Ray on 127.0.0.1 only and stop it when they end; they skip where the `ray`
extra is not installed (`bash install.sh test ray`, which `make test` runs)."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_cli, save_png
from run_helpers import start_cli
from sirenkit.cli.image import COMMAND as IMAGE_COMMAND
from sirenkit.engine import shards
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.recipes.collection import MANIFEST_NAME, Manifest, fit_collection
from sirenkit.recipes.image import ImageKind
from sirenkit.recipes.tiles import fit_tiles, tile_group_folder
from sirenkit.signals import load_image
from sirenkit.store import load_representation, load_train_state

FIELD = FieldConfig(width=16, depth=1)


def _images(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    ramp = np.linspace(0, 1, 144).reshape(12, 12)
    return [save_png(folder / f"s{k}.png", ramp ** (k + 1)) for k in range(count)]


def _collect(sources, run: Path, steps: int, **engine):
    config = FitConfig(steps=steps, lr=1e-3, checkpoint_every=1, precision="fp32")
    return fit_collection(
        sources, ImageKind, load_image, FIELD, config, run_dir=run, group_size=1, quiet=True, **engine
    )


def _weights(run: Path, name: str) -> dict[str, torch.Tensor]:
    return load_representation(run / "signals" / name / "model.safetensors").field.state_dict()


def test_shards_run_here_in_order_and_bad_engine_settings_are_refused(monkeypatch):
    assert list(shards(lambda x: x * x, [1, 2, 3])) == [1, 4, 9]
    with pytest.raises(InputError, match="at least 1"):
        list(shards(abs, [1], workers=0))
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(InputError, match=r"pip install 'sirenkit\[ray\]'"):
        list(shards(abs, [1], workers=2))


def test_workers_apply_to_collections_and_say_what_to_install(tmp_path, capsys, monkeypatch):
    source = _images(tmp_path / "in", 1)[0]
    code, err = run_cli(["fit", "image", str(source), "--out", str(tmp_path / "one"), "--workers", "2"], capsys)
    assert code == 2 and "fit collections" in err and not (tmp_path / "one").exists()
    monkeypatch.setitem(sys.modules, "ray", None)
    code, err = run_cli(
        ["fit", "image", str(tmp_path / "in"), "--out", str(tmp_path / "run"), "--workers", "2"], capsys
    )
    assert code == 2 and "sirenkit[ray]" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_ray_address_that_does_not_answer_is_one_line_and_exit_2(tmp_path, capsys):
    pytest.importorskip("ray")
    source = _images(tmp_path / "in", 1)[0]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # free once closed: nothing listens there
    args = ["fit", "image", str(source.parent), "--out", str(tmp_path / "run"), "--ray-address", f"127.0.0.1:{port}"]
    begin = time.monotonic()
    code, err = run_cli(args, capsys)
    assert code == 2 and f"no Ray cluster answers at 127.0.0.1:{port}" in err and len(err.strip().splitlines()) == 1
    assert time.monotonic() - begin < 30 and not (tmp_path / "run").exists()


LOCAL_RAY = """
import socket
from sirenkit.engine import shards

def where(_):
    import ray

    host, port = ray.get_runtime_context().gcs_address.rsplit(":", 1)
    try:  # the machine's own address, where one routes out (no packet is sent)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            outside = probe.getsockname()[0]
    except OSError:
        outside = "127.0.0.1"
    with socket.socket() as knock:
        answered = outside != "127.0.0.1" and knock.connect_ex((outside, int(port))) == 0
    return ray.nodes()[0]["NodeManagerAddress"], host, answered

print(*next(shards(where, [0], workers=1)))
"""


def test_a_local_ray_listens_on_the_loopback_address_only_and_prints_no_notice(tmp_path):
    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs the ray extra (bash install.sh test ray)")
    unset = {"RAY_AUTH_MODE", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}  # as a user's shell leaves them
    environment = {key: value for key, value in os.environ.items() if key not in unset}
    child = subprocess.run(
        [sys.executable, "-c", LOCAL_RAY],
        capture_output=True,
        text=True,
        timeout=240,
        env={**environment, "HOME": str(tmp_path)},  # Ray keeps its token in ~/.ray
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["127.0.0.1", "127.0.0.1", "False"], child.stdout
    assert "Token authentication" not in child.stderr and "Traceback" not in child.stderr, child.stderr


def _task_pids() -> list[int]:
    """Processes running a shard as a Ray task (Ray titles them ray::run_shard)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"ray::run_shard" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_a_worker_killed_mid_shard_is_retried_and_the_manifest_ends_complete_and_equal(local_ray, tmp_path):
    sources = _images(tmp_path / "in", 3)
    steps = 300
    _collect(sources, tmp_path / "whole", steps, workers=2)
    killed: list[int] = []
    run = tmp_path / "run"

    def kill_one_mid_shard() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for checkpoint in run.glob("groups/*/checkpoint.safetensors"):
                try:
                    step = load_train_state(checkpoint).step
                except InputError:
                    continue
                pids = _task_pids()
                if 20 < step < steps - 50 and pids:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_mid_shard)
    killer.start()
    _collect(sources, run, steps, workers=2)
    killer.join()
    assert killed, "no worker was caught mid-shard"
    rows = Manifest.read(run / MANIFEST_NAME).rows
    assert len(rows) == 3 and all(row.status == "done" and row.steps == steps for row in rows.values())
    for source in sources:
        ours, theirs = _weights(run, source.stem), _weights(tmp_path / "whole", source.stem)
        assert all(torch.equal(ours[key], theirs[key]) for key in theirs), source.stem
    assert load_representation(run / "packed.safetensors").field.count == 3


def test_tiles_run_as_ray_tasks_end_as_tiles_fitted_here(local_ray, tmp_path):
    ramp = np.linspace(0, 1, 48 * 40).reshape(48, 40, 1) ** 2
    image = load_image(save_png(tmp_path / "in.png", ramp))
    config = FitConfig(steps=30, lr=1e-3, checkpoint_every=10, precision="fp32")

    def tiles(run: Path, **engine):
        return fit_tiles(
            ImageKind(),
            image,
            image.shape,
            IMAGE_COMMAND.tiling.crop,  # a lambda: Ray workers get it by value
            FIELD,
            config,
            tile=24,
            group_size=2,
            run_dir=run,
            quiet=True,
            **engine,
        )

    here, there = tiles(tmp_path / "here"), tiles(tmp_path / "there", workers=2)  # 6 tiles in 3 groups
    assert all(
        (tile_group_folder(tmp_path / "there", number) / "checkpoint.safetensors").is_file() for number in range(3)
    )
    ours, theirs = there.result.representation.field.state_dict(), here.result.representation.field.state_dict()
    for key in theirs:
        torch.testing.assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-5)
    assert there.psnr == pytest.approx(here.psnr, abs=0.01)


def test_the_command_runs_a_collection_on_a_two_node_cluster_by_its_address(tmp_path, monkeypatch, capsys):
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    # Both nodes and the command's driver on 127.0.0.1: Ray's single-machine setting keeps the
    # driver from replacing the loopback address by the machine's address.
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    local = {"num_cpus": 1, "node_ip_address": "127.0.0.1"}
    sources = _images(tmp_path / "in", 3)
    args = ["fit", "image", str(tmp_path / "in"), "--steps", "30", "--width", "16", "--depth", "1", "--quiet"]
    args += ["--group-size", "1", "--precision", "fp32"]
    cluster = Cluster(initialize_head=True, head_node_args={**local, "include_dashboard": False})
    try:
        cluster.add_node(**local)
        cluster.wait_for_nodes()
        child = start_cli([*args, "--out", str(tmp_path / "run"), "--ray-address", cluster.address])
        _, err = child.communicate(timeout=240)
    finally:
        cluster.shutdown()
    assert child.returncode == 0, err
    rows = Manifest.read(tmp_path / "run" / MANIFEST_NAME).rows
    assert len(rows) == 3 and all(row.status == "done" for row in rows.values())
    assert run_cli([*args, "--out", str(tmp_path / "here")], capsys)[0] == 0
    for source in sources:
        ours, theirs = _weights(tmp_path / "run", source.stem), _weights(tmp_path / "here", source.stem)
        for key in theirs:
            torch.testing.assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-5)
