"""`sirenkit fit KIND DIR|GLOB|LIST.txt`: collections from the command line, for every kind."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from conftest import run_cli, save_png
from run_helpers import start_cli, wait_for
from signal_helpers import FPS, RATE, analytic_volume, chirp, moving_bars, sphere_points
from sirenkit.outputs.video import write_mp4
from sirenkit.recipes.collection import MANIFEST_NAME, Manifest
from sirenkit.store import load_representation, load_train_state

TINY = ["--steps", "3", "--width", "16", "--depth", "1", "--quiet"]


def _image(path: Path, k: int) -> Path:
    return save_png(path.with_suffix(".png"), np.linspace(0, 1, 144).reshape(12, 12) ** (k + 1))


def _audio(path: Path, k: int) -> Path:
    soundfile.write(path.with_suffix(".wav"), chirp(0.05) * (0.5 + 0.2 * k), RATE)
    return path.with_suffix(".wav")


def _video(path: Path, k: int) -> Path:
    write_mp4(path.with_suffix(".mp4"), iter(np.roll(moving_bars(4, 16, 16), k, axis=2)), FPS)
    return path.with_suffix(".mp4")


def _volume(path: Path, k: int) -> Path:
    np.save(path.with_suffix(".npy"), analytic_volume(8) * (1 + k))
    return path.with_suffix(".npy")


def _points(path: Path, k: int) -> Path:
    points = sphere_points(300, seed=k)
    np.savetxt(path.with_suffix(".xyz"), np.hstack([points.points, points.normals]))
    return path.with_suffix(".xyz")


KINDS = {
    "image": (_image, []),
    "audio": (_audio, []),
    "video": (_video, []),
    "volume": (_volume, []),
    "sdf": (_points, ["--batch", "64", "--off-surface-points", "64", "--resolution", "16", "--preview-size", "8"]),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_fits_a_folder_as_a_collection(kind, tmp_path, capsys):
    make, options = KINDS[kind]
    folder = tmp_path / "in"
    folder.mkdir()
    sources = [make(folder / f"s{k}", k) for k in range(2)]
    run = tmp_path / "run"
    code, err = run_cli(["fit", kind, str(folder), "--out", str(run), *TINY, *options], capsys)
    assert code == 0, err
    rows = Manifest.read(run / MANIFEST_NAME).rows
    assert [rows[str(source)].status for source in sources] == ["done", "done"]
    assert len({row.group for row in rows.values()}) == 1
    for source in sources:
        member = load_representation(run / "signals" / source.stem / "model.safetensors")
        assert member.signal["kind"] == kind
        assert json.loads((run / "signals" / source.stem / "summary.json").read_text())["steps"] == 3
    packed = load_representation(run / "packed.safetensors")
    assert packed.field.count == 2 and packed.signal["member_kind"] == kind


def test_patterns_and_lists_select_files_and_a_packed_file_does_not_render(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    sources = [_image(folder / f"s{k}", k) for k in range(3)]
    code, err = run_cli(["fit", "image", str(folder / "s[02].png"), "--out", str(tmp_path / "glob"), *TINY], capsys)
    assert code == 0, err
    assert set(Manifest.read(tmp_path / "glob" / MANIFEST_NAME).rows) == {str(sources[0]), str(sources[2])}
    listing = tmp_path / "pick.txt"
    listing.write_text("in/s1.png\nin/missing.png\n")
    code, err = run_cli(["fit", "image", str(listing), "--out", str(tmp_path / "list"), *TINY], capsys)
    assert code == 0, err
    rows = Manifest.read(tmp_path / "list" / MANIFEST_NAME).rows
    assert [row.status for row in rows.values()] == ["done", "error"]
    code, err = run_cli(["render", str(tmp_path / "list" / "packed.safetensors")], capsys)
    assert code == 2 and "collection" in err and len(err.strip().splitlines()) == 1
    code, err = run_cli(["fit", "image", str(tmp_path / "*.jpg"), "--out", str(tmp_path / "none"), *TINY], capsys)
    assert code == 2 and "names no files" in err and not (tmp_path / "none").exists()


def test_mixed_kinds_and_a_folder_with_nothing_readable_are_one_line_and_exit_2(tmp_path, capsys):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _image(mixed / "a", 0), _audio(mixed / "b", 0)
    code, err = run_cli(["fit", "image", str(mixed), "--out", str(tmp_path / "run1"), *TINY], capsys)
    assert code == 2 and "mixes kinds: 1 audio file(s)" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run1").exists()
    code, err = run_cli(["fit", "audio", str(mixed / "*.wav"), "--out", str(tmp_path / "run2"), *TINY], capsys)
    assert code == 0, err  # a pattern picks one kind's files
    broken = tmp_path / "broken"
    broken.mkdir()
    for k in range(2):
        (broken / f"s{k}.png").write_bytes(b"not a png")
    code, err = run_cli(["fit", "image", str(broken), "--out", str(tmp_path / "run3"), *TINY], capsys)
    assert code == 2 and "no file of the collection could be fitted (2 tried)" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run3").exists()


def test_a_collection_killed_mid_group_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(4):
        _image(folder / f"s{k}", k)
    args = [
        "--steps",
        "400",
        "--width",
        "16",
        "--depth",
        "1",
        "--quiet",
        "--group-size",
        "2",
        "--checkpoint-every",
        "1",
    ]
    whole = tmp_path / "whole"
    assert run_cli(["fit", "image", str(folder), "--out", str(whole), *args], capsys)[0] == 0
    run = tmp_path / "run"
    child = start_cli(["fit", "image", str(folder), "--out", str(run), *args])

    def second_group_started() -> bool:
        manifest = run / MANIFEST_NAME
        if not manifest.is_file() or len(Manifest.read(manifest).rows) < 2:
            return False
        checkpoints = list((run / "groups").glob("*/checkpoint.safetensors"))
        return any(
            0 < load_train_state(path).step < 100 for path in checkpoints if path.parent.name not in _done_groups(run)
        )

    wait_for(second_group_started, child)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    done_before = Manifest.read(run / MANIFEST_NAME).rows
    assert len(done_before) == 2
    stamps = {name: (run / "signals" / name / "model.safetensors").stat().st_mtime_ns for name in ("s0", "s1")}
    code, err = run_cli(["fit", "image", str(folder), "--out", str(run), *args, "--resume"], capsys)
    assert code == 0, err
    assert "resuming" in err
    assert {name: (run / "signals" / name / "model.safetensors").stat().st_mtime_ns for name in ("s0", "s1")} == stamps
    for name in ("s0", "s1", "s2", "s3"):
        ours = load_representation(run / "signals" / name / "model.safetensors").field.state_dict()
        theirs = load_representation(whole / "signals" / name / "model.safetensors").field.state_dict()
        for key in theirs:
            assert torch.equal(ours[key], theirs[key]), (name, key)
    rows = Manifest.read(run / MANIFEST_NAME).rows
    assert len(rows) == 4 and all(row.status == "done" for row in rows.values())


def _done_groups(run: Path) -> set[str]:
    return {row.group for row in Manifest.read(run / MANIFEST_NAME).rows.values() if row.group}
