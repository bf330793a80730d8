"""Checkpoints and resume of the fit loop (`sirenkit.fit`): kills, interrupts, checked resumes, torn logs."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import run_cli
from run_helpers import LONG, fit_args, metric_steps, start_cli, tiny_image_fit, wait_for
from sirenkit.fields import FieldConfig, build_field
from sirenkit.fit import CHECKPOINT_NAME, FitConfig, fit
from sirenkit.problems import PointSet, fitting_problem
from sirenkit.recipes.image import fit_image
from sirenkit.store import Representation, load_representation, load_train_state


class Killed(Exception):
    pass


@pytest.mark.parametrize("model,batch", [("siren", 700), ("ff", None)])
def test_killed_and_resumed_run_ends_with_the_same_weights(camera64, tmp_path, model, batch):
    field_config = FieldConfig(model=model, width=24, depth=2, ff_features=8)
    config = FitConfig(steps=12, lr=1e-3, schedule="cosine", checkpoint_every=5, precision="fp32")
    whole = fit_image(camera64, field_config, config, batch=batch, quiet=True)

    def kill_at_8(step, _rep):
        if step == 8:
            raise Killed

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    from sirenkit.recipes import image as recipe

    config_full = recipe.image_field_config(camera64, field_config)
    rep = Representation(build_field(config_full, seed=config.seed), config_full, recipe.signal_metadata(camera64))
    problem = fitting_problem(PointSet(camera64.coordinates(), {"target": camera64.values()}), points=batch)
    with pytest.raises(Killed):
        fit(rep, problem, config, run_dir=run_dir, quiet=True, on_step=kill_at_8)
    assert load_train_state(run_dir / CHECKPOINT_NAME).step == 5
    resumed = fit_image(camera64, field_config, config, batch=batch, run_dir=run_dir, resume=True, quiet=True)
    for a, b in zip(
        whole.result.representation.field.state_dict().values(),
        resumed.result.representation.field.state_dict().values(),
    ):
        assert torch.equal(a, b)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert [r["loss"] for r in rows] == [r["loss"] for r in whole.result.history]


@pytest.fixture
def other_image(tmp_path: Path, camera64) -> Path:
    path = tmp_path / "other.png"
    iio.imwrite(path, np.round(camera64.pixels[32:, 32:, 0] * 255).astype(np.uint8))
    return path


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


# 6. Interrupts keep progress (divergence: test_fit.py).
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


@pytest.mark.parametrize(
    "damage",
    [
        lambda state: state.extra.update(loss_watch="not a mapping"),
        lambda state: state.extra.update(identity=7),
        lambda state: state.extra.update(rollbacks=[1]),
        lambda state: state.optimizer["param_groups"][0].update(params=[0, 1]),
    ],
)
def test_a_checkpoint_whose_training_state_is_damaged_is_one_input_error(camera64, tmp_path, damage):
    from sirenkit.errors import InputError
    from sirenkit.store import save_train_state

    rep, problem = tiny_image_fit(camera64)
    config = FitConfig(steps=4, checkpoint_every=2, lr=1e-3, precision="fp32")
    fit(rep, problem, config, run_dir=tmp_path, quiet=True)
    state = load_train_state(tmp_path / CHECKPOINT_NAME)
    damage(state)
    save_train_state(tmp_path / CHECKPOINT_NAME, state)
    with pytest.raises(InputError, match="damaged|param"):
        fit(
            tiny_image_fit(camera64)[0],
            problem,
            FitConfig(steps=8, checkpoint_every=2, lr=1e-3, precision="fp32"),
            run_dir=tmp_path,
            resume=True,
            quiet=True,
        )
