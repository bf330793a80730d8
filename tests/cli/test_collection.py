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
from run_helpers import LONG, start_cli, wait_for
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
        if not manifest.is_file() or len(_done_rows(run)) < 2:
            return False
        checkpoints = list((run / "groups").glob("*/checkpoint.safetensors"))
        return any(
            0 < load_train_state(path).step < 100 for path in checkpoints if path.parent.name not in _done_groups(run)
        )

    wait_for(second_group_started, child)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    assert len(_done_rows(run)) == 2 and len(Manifest.read(run / MANIFEST_NAME).rows) == 4  # two still pending
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


def _done_rows(run: Path) -> list:
    return [row for row in Manifest.read(run / MANIFEST_NAME).rows.values() if row.status == "done"]


def _done_groups(run: Path) -> set[str]:
    return {row.group for row in _done_rows(run)}


# Issue "nothing lost, nothing let in, second round": a collection holds its finished work.
def _run_files(run: Path) -> dict[str, bytes]:
    """Every file a run folder holds but its bookkeeping, by path relative to it."""
    return {
        str(path.relative_to(run)): path.read_bytes()
        for path in sorted(run.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(run).parts)
    }


def _folder(tmp_path: Path, count: int = 2) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(count):
        _image(folder / f"s{k}", k)
    return folder


def test_a_failed_overwrite_leaves_the_previous_collection_and_a_failed_first_run_leaves_nothing(tmp_path, capsys):
    folder, run = _folder(tmp_path), tmp_path / "run"
    assert run_cli(["fit", "image", str(folder), "--out", str(run), *TINY], capsys)[0] == 0
    before = _run_files(run)
    assert "packed.safetensors" in before and "signals/s0/model.safetensors" in before
    typo = ["--ray-address", "127.0.0.1"]  # no port: Ray cannot join it
    code, err = run_cli(["fit", "image", str(folder), "--out", str(run), *TINY, "--overwrite", *typo], capsys)
    assert code == 2 and "training had ended" not in err and len(err.strip().splitlines()) == 1
    assert _run_files(run) == before and not (run / ".replacing").exists()
    fresh = tmp_path / "fresh"
    code, err = run_cli(["fit", "image", str(folder), "--out", str(fresh), *TINY, *typo], capsys)
    assert code == 2 and "training had ended" not in err and not fresh.exists()


def test_an_interrupted_overwrite_keeps_the_previous_collection_until_the_new_one_is_finished(tmp_path, capsys):
    folder, run = _folder(tmp_path, 3), tmp_path / "run"
    quick = ["--width", "16", "--depth", "1", "--quiet", "--group-size", "1"]
    assert run_cli(["fit", "image", str(folder), "--out", str(run), "--steps", "3", *quick], capsys)[0] == 0
    before = _run_files(run)
    replacing = run / ".replacing"
    every = ["--checkpoint-every", "5"]
    child = start_cli(
        ["fit", "image", str(folder), "--out", str(run), "--steps", str(LONG), *quick, *every, "--overwrite"]
    )
    wait_for(lambda: next(replacing.glob("groups/*/checkpoint.safetensors"), None) is not None, child)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "untouched" in err and "--resume --overwrite" in err and "training had ended" not in err
    assert _run_files(run) == before
    step = load_train_state(next(replacing.glob("groups/*/checkpoint.safetensors"))).step
    again = ["fit", "image", str(folder), "--out", str(run), "--steps", str(step + 3), *quick, *every]
    code, err = run_cli([*again, "--overwrite", "--resume"], capsys)
    assert code == 0, err
    assert json.loads((run / "signals" / "s2" / "summary.json").read_text())["steps"] == step + 3
    assert not replacing.exists() and len(_done_rows(run)) == 3


def test_member_names_are_kept_for_good_and_never_leave_the_run_folder(tmp_path, capsys):
    folder, run = tmp_path / "c2", tmp_path / "run"
    folder.mkdir()
    _image(folder / "x", 0)
    assert run_cli(["fit", "image", str(folder), "--out", str(run), *TINY], capsys)[0] == 0
    model = (run / "signals" / "x" / "model.safetensors").read_bytes()
    save_png(folder / "x.bmp", np.eye(12))  # sorts before x.png: once it would have taken the name x
    assert run_cli(["fit", "image", str(folder), "--out", str(run), *TINY, "--resume"], capsys)[0] == 0
    rows = Manifest.read(run / MANIFEST_NAME).rows
    assert rows[str(folder / "x.png")].name == "x" and rows[str(folder / "x.bmp")].name == "x-2"
    assert (run / "signals" / "x" / "model.safetensors").read_bytes() == model
    packed = load_representation(run / "packed.safetensors").field
    index = json.loads((run / "packed.json").read_text())
    for row in index["rows"]:
        alone = load_representation(run / "signals" / row["name"] / "model.safetensors").field.state_dict()
        assert torch.equal(packed.field(row["row"]).state_dict()["head.weight"], alone["head.weight"])
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "...png").write_bytes((folder / "x.bmp").with_suffix(".png").read_bytes())
    listing = tmp_path / "odd.txt"
    listing.write_text("odd/...png\n")
    code, err = run_cli(["fit", "image", str(listing), "--out", str(tmp_path / "run2"), *TINY], capsys)
    assert code == 0, err
    assert (tmp_path / "run2" / "signals" / "signal" / "model.safetensors").is_file()
    assert not (tmp_path / "run2" / "model.safetensors").exists()


def test_a_resume_checks_the_collection_and_its_settings(tmp_path, capsys):
    folder, run = _folder(tmp_path), tmp_path / "run"
    assert run_cli(["fit", "image", str(folder), "--out", str(run), *TINY], capsys)[0] == 0
    before = _run_files(run)
    changed = ["fit", "image", str(folder), "--out", str(run), *TINY, "--resume", "--width", "32", "--lr", "0.5"]
    code, err = run_cli(changed, capsys)
    assert code == 2 and "--width 16 -> 32" in err and "--lr" in err and len(err.strip().splitlines()) == 1
    assert "kept in" not in err  # a refused resume wrote nothing: its message is the refusal alone
    other = tmp_path / "other"
    other.mkdir()
    _image(other / "o", 3)
    code, err = run_cli(["fit", "image", str(other), "--out", str(run), *TINY, "--resume"], capsys)
    assert code == 2 and f"not {other.absolute()}" in err
    assert _run_files(run) == before
    code, err = run_cli(
        ["fit", "image", str(folder), "--out", str(run), *TINY[:-1], "--steps", "5", "--resume"], capsys
    )
    assert code == 0 and "resume changes --steps 3 -> 5" in err


def test_a_done_member_whose_file_is_gone_for_a_moment_stays_done_and_exported(tmp_path, capsys):
    folder, run = _folder(tmp_path), tmp_path / "run"
    assert run_cli(["fit", "image", str(folder), "--out", str(run), *TINY], capsys)[0] == 0
    (folder / "s1.png").rename(tmp_path / "aside.png")
    (folder / "s1.png").symlink_to(tmp_path / "nowhere.png")  # a dangling link where the file was
    code, err = run_cli(["fit", "image", str(folder), "--out", str(run), *TINY, "--resume"], capsys)
    assert code == 0, err
    assert "earlier fit" in err and "signals/s1" in err
    assert [row.status for row in Manifest.read(run / MANIFEST_NAME).rows.values()] == ["done", "done"]
    assert load_representation(run / "packed.safetensors").field.count == 2


def test_a_dangling_link_in_a_folder_is_an_error_row(tmp_path, capsys):
    folder, run = _folder(tmp_path), tmp_path / "run"
    (folder / "loop.png").symlink_to(folder / "loop.png")
    (folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    code, _ = run_cli(["fit", "image", str(folder), "--out", str(run), *TINY], capsys)
    assert code == 0
    rows = Manifest.read(run / MANIFEST_NAME).rows
    assert rows[str(folder / "loop.png")].status == rows[str(folder / "gone.png")].status == "error"
    assert sum(row.status == "done" for row in rows.values()) == 2


def test_inputs_and_the_folders_inside_a_run_are_protected(tmp_path, capsys):
    folder, run = _folder(tmp_path), tmp_path / "r"
    run.mkdir()
    listing = run / "files.txt"
    listing.write_text(f"{folder / 's0.png'}\n")
    code, err = run_cli(["fit", "image", str(listing), "--out", str(run), *TINY, "--overwrite"], capsys)
    assert code == 2 and "lies inside the output folder" in err and listing.is_file()
    listing.rename(tmp_path / "files.txt")
    assert (
        run_cli(["fit", "image", str(tmp_path / "files.txt"), "--out", str(run), *TINY, "--overwrite"], capsys)[0] == 0
    )
    member = run / "signals" / "s0"
    before = (member / "model.safetensors").read_bytes()
    code, err = run_cli(["fit", "image", str(folder / "s1.png"), "--out", str(member), *TINY, "--overwrite"], capsys)
    assert code == 2 and f"lies inside the run folder {run}" in err
    assert (member / "model.safetensors").read_bytes() == before
    pattern = str(tmp_path / "**" / "*.png")
    code, err = run_cli(["fit", "image", pattern, "--out", str(tmp_path / "in" / "run"), *TINY], capsys)
    assert code == 2 and "reaches into the output folder" in err and not (tmp_path / "in" / "run").exists()
    flat = str(folder / "*.png")  # files in `in/` only: a run in in/run is never among them
    assert run_cli(["fit", "image", flat, "--out", str(folder / "run"), *TINY], capsys)[0] == 0
    assert run_cli(["fit", "image", flat, "--out", str(folder / "run"), *TINY, "--resume"], capsys)[0] == 0
