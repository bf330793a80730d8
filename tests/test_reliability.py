"""Nothing a user made is ever lost: one owner per run folder, no surprise replacement, checked
resumes, inputs never outputs, trained work saved first, interrupts and divergence that keep
progress, write errors as errors, logs that survive kills, files as users expect.

Processes that must really be signalled or killed run the command line in a child process.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import run_cli
from sirenkit.fields import FieldConfig, build_field
from sirenkit.fit import FitConfig, TrainingDiverged, fit
from sirenkit.outputs import write_json
from sirenkit.problems import PointSet, fitting_problem
from sirenkit.run_folder import OWNER_NAME
from sirenkit.store import Representation, load_representation, load_train_state

TINY = ["--width", "16", "--depth", "1", "--quiet"]
LONG = 10**6


@pytest.fixture
def image_file(tmp_path: Path, camera64) -> Path:
    path = tmp_path / "input.png"
    iio.imwrite(path, np.round(camera64.pixels[:32, :32, 0] * 255).astype(np.uint8))
    return path


@pytest.fixture
def other_image(tmp_path: Path, camera64) -> Path:
    path = tmp_path / "other.png"
    iio.imwrite(path, np.round(camera64.pixels[32:, 32:, 0] * 255).astype(np.uint8))
    return path


def fit_args(image: Path, out: Path, *extra: str, steps: int = 20) -> list[str]:
    return ["fit", "image", str(image), "--out", str(out), "--steps", str(steps), *TINY, *extra]


def start_cli(args: list[str], **kwargs) -> subprocess.Popen:
    """The command line in a child process, its stderr captured."""
    code = "import sys; from sirenkit.cli import main; sys.exit(main(sys.argv[1:]))"
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


# 3. Resume checks what it resumes.
def test_resume_refuses_another_input_and_changed_settings_but_takes_more_steps(
    image_file, other_image, tmp_path, capsys
):
    run = tmp_path / "run"
    assert run_cli(fit_args(image_file, run), capsys)[0] == 0
    code, err = run_cli(fit_args(other_image, run, "--resume", steps=30), capsys)
    assert code == 2 and f"{other_image} is not the input" in err
    code, err = run_cli(fit_args(image_file, run, "--resume", "--lr", "0.5", steps=30), capsys)
    assert code == 2 and "--lr 0.001 -> 0.5" in err
    assert load_train_state(run / "checkpoint.safetensors").step == 20
    code, err = run_cli(fit_args(image_file, run, "--resume", steps=30), capsys)
    assert code == 0 and "--steps 20 -> 30" in err
    assert metric_steps(run) == list(range(1, 31))


def test_a_resume_names_a_setting_the_command_line_has_no_option_for_by_its_name(camera64, tmp_path, capsys):
    rep, problem = tiny_image_fit(camera64)
    fit(rep, problem, FitConfig(steps=2, compile="auto"), run_dir=tmp_path, quiet=True)
    rep, problem = tiny_image_fit(camera64)
    fit(rep, problem, FitConfig(steps=3, compile="off"), run_dir=tmp_path, resume=True, quiet=True)
    err = capsys.readouterr().err
    assert "the compile setting auto -> off" in err and "--compile" not in err


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


# 5 and 8. Trained work is saved before anything can fail; write errors are errors.
def limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_write_error_after_training_keeps_the_model_and_names_the_file(image_file, tmp_path):
    run = tmp_path / "run"
    child = start_cli(fit_args(image_file, run, steps=3), preexec_fn=limit_file_size(16_000))
    _, err = child.communicate(timeout=120)
    assert child.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sirenkit: error: ") and "Traceback" not in err
    assert "File too large" in err and str(run / "curve.png") in err and "model is saved" in err
    assert load_representation(run / "model.safetensors").signal["kind"] == "image"
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


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


# 6. Interrupts and divergence keep progress.
@pytest.mark.parametrize("signal_number,exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_finishes_the_step_and_saves(image_file, tmp_path, signal_number, exit_code):
    run = tmp_path / "run"
    child = start_cli(fit_args(image_file, run, "--checkpoint-every", "0", "--checkpoint-seconds", "0", steps=LONG))
    wait_for(lambda: len(metric_steps(run)) > 3, child)
    child.send_signal(signal_number)
    _, err = child.communicate(timeout=60)
    assert child.returncode == exit_code
    step = load_train_state(run / "checkpoint.safetensors").step
    assert step == metric_steps(run)[-1] > 3
    assert f"interrupted at step {step} of {LONG}" in err and "continue with --resume" in err
    assert load_representation(run / "model.safetensors").config.width == 16


def test_checkpoints_are_also_written_by_wall_clock_time(camera64, tmp_path):
    field_config = FieldConfig(width=8, depth=1, in_dim=2, out_dim=1)
    rep = Representation(build_field(field_config), field_config, {"kind": "image"})
    problem = fitting_problem(PointSet(camera64.coordinates(), {"target": camera64.values()}), points=64)
    seen = []

    def record(step: int, _rep: Representation) -> None:
        path = tmp_path / "checkpoint.safetensors"
        seen.append(load_train_state(path).step if path.is_file() else None)

    config = FitConfig(steps=4, checkpoint_every=0, checkpoint_seconds=1e-9)
    fit(rep, problem, config, run_dir=tmp_path, quiet=True, on_step=record)
    assert seen == [None, 1, 2, 3]


class NaNAt:
    """A fitting problem whose loss is NaN at the given calls (counted from 1)."""

    def __init__(self, problem, calls: set[int] | None) -> None:
        self.problem, self.calls, self.count = problem, calls, 0

    def losses(self, field_, generator, device, compiler):
        self.count += 1
        terms = self.problem.losses(field_, generator, device, compiler)
        if self.calls is None or self.count in self.calls:
            terms["fit"] = terms["fit"] * torch.nan
        return terms


def tiny_image_fit(camera64):
    field_config = FieldConfig(width=8, depth=1, in_dim=2, out_dim=1)
    rep = Representation(build_field(field_config), field_config, {"kind": "image"})
    return rep, fitting_problem(PointSet(camera64.coordinates(), {"target": camera64.values()}), points=64)


def test_a_non_finite_loss_rolls_back_and_halves_the_learning_rate(camera64, tmp_path, capsys):
    rep, problem = tiny_image_fit(camera64)
    config = FitConfig(steps=8, lr=1e-3, checkpoint_every=0)
    result = fit(rep, NaNAt(problem, {5}), config, run_dir=tmp_path, quiet=True)
    assert "rolled back to step 0 with the learning rate halved (1 of 3" in capsys.readouterr().err
    assert [row["step"] for row in result.history] == list(range(1, 9))
    assert [row["lr"] for row in result.history] == [5e-4] * 8
    assert metric_steps(tmp_path) == list(range(1, 9))
    assert load_train_state(tmp_path / "checkpoint.safetensors").extra["lr_scale"] == 0.5


def test_divergence_that_persists_ends_with_the_last_finite_state_saved(camera64, tmp_path):
    rep, problem = tiny_image_fit(camera64)
    problem_ = NaNAt(problem, set(range(4, 100)))
    with pytest.raises(TrainingDiverged, match=r"after 2 rollback\(s\).*step 0\) is saved in"):
        fit(rep, problem_, FitConfig(steps=8, max_rollbacks=2, checkpoint_every=0), run_dir=tmp_path, quiet=True)
    assert load_train_state(tmp_path / "checkpoint.safetensors").step == 0
    saved = load_representation(tmp_path / "model.safetensors")
    assert all(torch.isfinite(t).all() for t in saved.field.state_dict().values())


# 6 (kill -9). A fit killed at random moments and resumed each time ends as an uninterrupted one.
def test_runs_killed_at_random_moments_resume_to_identical_weights(image_file, tmp_path, capsys):
    steps, kills = 2000, 5
    whole = tmp_path / "whole"
    assert run_cli(fit_args(image_file, whole, "--checkpoint-every", "1", steps=steps), capsys)[0] == 0
    run = tmp_path / "run"
    moments = random.Random(14)
    for kill in range(kills):
        before = load_train_state(run / "checkpoint.safetensors").step if kill else 0
        resume = ["--resume"] if kill else []
        child = start_cli(fit_args(image_file, run, "--checkpoint-every", "1", *resume, steps=steps))
        wait_for(lambda before=before: (metric_steps(run) or [0])[-1] > before + 5, child)
        time.sleep(moments.uniform(0.0, 0.3))
        child.kill()
        child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
    assert 0 < load_train_state(run / "checkpoint.safetensors").step < steps
    assert run_cli(fit_args(image_file, run, "--checkpoint-every", "1", "--resume", steps=steps), capsys)[0] == 0
    expected, got = load_file(whole / "model.safetensors"), load_file(run / "model.safetensors")
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)
    assert metric_steps(run) == list(range(1, steps + 1))


# 9. Logs survive kills.
def test_a_torn_last_metrics_line_is_dropped_on_resume(image_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli(fit_args(image_file, run), capsys)[0] == 0
    with open(run / "metrics.jsonl", "a") as log:
        log.write('{"step": 21, "loss": 0.1')
    code, err = run_cli(fit_args(image_file, run, "--resume", steps=25), capsys)
    assert code == 0 and "torn last line" in err
    assert metric_steps(run) == list(range(1, 26))


# 10. Files as users expect.
def test_outputs_honour_the_umask_and_json_is_strict(tmp_path, capsys, camera64):
    path = tmp_path / "tiny.png"
    iio.imwrite(path, np.round(camera64.pixels[:5, :5, 0] * 255).astype(np.uint8))
    previous = os.umask(0o027)
    try:
        assert run_cli(fit_args(path, tmp_path / "run", steps=3), capsys)[0] == 0
    finally:
        os.umask(previous)
    for name in ("model.safetensors", "summary.json", "metrics.jsonl", "reconstruction.png", "checkpoint.safetensors"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o640, name

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in strict JSON")

    summary = json.loads((tmp_path / "run" / "summary.json").read_text(), parse_constant=refuse)
    assert summary["ssim"] is None and "undefined" in summary["undefined"]["ssim"].lower()
