"""The run folder (`sirenkit.run_folder`): one owner, no surprise replacement, resumes need a checkpoint, inputs."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from conftest import run_cli
from run_helpers import LONG, fit_args, metric_steps, start_cli, wait_for
from sirenkit.run_folder import OWNER_NAME


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


# 1. A run folder has one owner.
def test_a_second_process_on_a_busy_folder_exits_at_once_naming_the_owner(image_file, tmp_path, capsys):
    run = tmp_path / "run"
    child = start_cli(fit_args(image_file, run, steps=LONG))
    try:
        wait_for(lambda: (run / OWNER_NAME).is_file() and len(metric_steps(run)) > 2, child)
        code, err = run_cli(fit_args(image_file, run, "--resume"), capsys)
        assert code == 2 and f"{run} is in use by another sirenkit run (process {child.pid}" in err
    finally:
        child.send_signal(signal.SIGINT)
        child.communicate(timeout=60)
    assert child.returncode == 130


# 2. Existing results are never replaced by surprise.
def test_a_new_run_refuses_a_folder_that_holds_files(image_file, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    code, err = run_cli(fit_args(image_file, run), capsys)
    assert code == 2 and "--resume" in err and "--overwrite" in err
    assert [p.name for p in run.iterdir() if not p.name.startswith(".")] == ["notes.txt"]


def test_a_failed_replacement_leaves_the_previous_run_as_it_was(image_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli(fit_args(image_file, run), capsys)[0] == 0
    before = snapshot(run)
    diverging = fit_args(image_file, run, "--overwrite", "--model", "relu", "--lr", "1e30", "--max-rollbacks", "0")
    code, err = run_cli(diverging, capsys)
    assert code == 2 and "diverged" in err and "untouched" in err
    assert snapshot(run) == before
    code, _ = run_cli(fit_args(image_file, run, "--overwrite", "--steps", "5"), capsys)
    assert code == 0 and json.loads((run / "summary.json").read_text())["steps"] == 5
    assert [p.name for p in run.iterdir() if p.name == ".replacing"] == []


def test_resume_without_a_checkpoint_is_refused(image_file, tmp_path, capsys):
    code, err = run_cli(fit_args(image_file, tmp_path / "empty", "--resume"), capsys)
    assert code == 2 and "no checkpoint to resume" in err


# 4. Inputs are never outputs.
def test_an_input_inside_the_output_folder_is_refused_before_any_work(image_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli(fit_args(image_file, run), capsys)[0] == 0
    own = run / "reconstruction.png"
    before = own.read_bytes()
    code, err = run_cli(fit_args(own, run, "--overwrite"), capsys)
    assert code == 2 and "lies inside the output folder" in err
    assert own.read_bytes() == before
    checkpoint = str(run / "model.safetensors")
    assert run_cli(["derivatives", checkpoint, "--image", str(image_file), "--out", str(run)], capsys)[0] == 0
    data_map = run / "data_gradient.png"
    before = data_map.read_bytes()
    code, err = run_cli(["derivatives", checkpoint, "--image", str(data_map), "--out", str(run)], capsys)
    assert code == 2 and f"is the input {data_map}" in err
    assert data_map.read_bytes() == before


def test_a_folder_is_not_replaced_while_a_run_inside_it_is_in_progress(tmp_path):
    import pytest

    from sirenkit.errors import InputError
    from sirenkit.run_folder import RunFolder

    outer = tmp_path / "outer"
    with RunFolder(outer / "inner") as inner:
        (inner.work / "checkpoint.safetensors").write_text("in progress")
        with (
            pytest.raises(InputError, match="inner inside .* is in use by another sirenkit run"),
            RunFolder(outer, overwrite=True),
        ):
            pass
        assert (outer / "inner" / "checkpoint.safetensors").is_file()
    with pytest.raises(InputError, match="lies inside the run folder"), RunFolder(outer / "inner" / "deeper"):
        pass
