"""The fit loop on real images: quality, determinism, checkpoints, resume, divergence."""

from __future__ import annotations

import json

import pytest
import torch

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field
from sirenkit.fit import CHECKPOINT_NAME, FitConfig, TrainingDiverged, fit
from sirenkit.problems import PointSet, fitting_problem
from sirenkit.recipes.image import fit_image, render_image
from sirenkit.store import Representation, load_representation, load_train_state

FAST = dict(lr=1e-3, schedule="cosine", checkpoint_every=0, precision="fp32")


@pytest.fixture(scope="module")
def siren_vs_relu(camera64):
    return {
        model: fit_image(camera64, FieldConfig(model=model), FitConfig(steps=300, **FAST), quiet=True)
        for model in ("siren", "relu")
    }


def test_siren_reaches_30_db_in_300_steps_on_a_real_crop(siren_vs_relu):
    assert siren_vs_relu["siren"].psnr >= 30


def test_relu_of_the_same_size_stays_below_25_db(siren_vs_relu):
    assert siren_vs_relu["relu"].psnr < 25
    assert siren_vs_relu["siren"].ssim > siren_vs_relu["relu"].ssim


def test_bf16_hidden_layers_fit_as_well_as_fp32(camera64):
    # A narrow field keeps this cheap on CPUs without native bfloat16 (there a bf16 matmul is
    # emulated, far slower than fp32). Well below bf16's rounding floor (8 significant bits; the
    # README's "Speed" section measures it on this crop) the two precisions fit alike;
    # `precision=auto` picks bf16 only where the hardware has it.
    field = FieldConfig(width=64, depth=2)
    fp32, bf16 = (
        fit_image(camera64, field, FitConfig(steps=150, **{**FAST, "precision": precision}), quiet=True)
        for precision in ("fp32", "bf16")
    )
    assert bf16.psnr >= 33
    assert abs(bf16.psnr - fp32.psnr) < 1


def test_same_seed_same_numbers(camera64):
    runs = [
        fit_image(camera64, FieldConfig(width=32), FitConfig(steps=5, **FAST), batch=500, quiet=True) for _ in range(2)
    ]
    assert [r["loss"] for r in runs[0].result.history] == [r["loss"] for r in runs[1].result.history]


def test_checkpoint_round_trip_renders_bit_identical_output(camera64, tmp_path):
    outcome = fit_image(
        camera64, FieldConfig(width=32, depth=1), FitConfig(steps=3, **FAST), run_dir=tmp_path, quiet=True
    )
    loaded = load_representation(tmp_path / "model.safetensors")
    assert loaded.config == outcome.result.representation.config
    for size in [None, (100, 37)]:
        a = render_image(outcome.result.representation, size)
        b = render_image(loaded, size)
        assert a.tobytes() == b.tobytes()


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


def test_divergence_stops_with_a_clear_error(camera64):
    with pytest.raises(TrainingDiverged, match="diverged"):
        fit_image(
            camera64,
            FieldConfig(model="relu", width=16, depth=1),
            FitConfig(steps=50, lr=1e30, precision="fp32"),
            quiet=True,
        )


def test_learning_rate_schedule():
    config = FitConfig(steps=11, lr=1.0, schedule="cosine", lr_final_ratio=0.1)
    assert config.lr_at(1) == pytest.approx(1.0)
    assert config.lr_at(11) == pytest.approx(0.1)
    assert config.lr_at(6) == pytest.approx(0.55)
    assert FitConfig(steps=11, lr=0.5).lr_at(7) == 0.5
    timed = FitConfig(steps=10**9, lr=1.0, schedule="cosine", lr_final_ratio=0.1, max_seconds=10.0)
    assert timed.lr_at(2, seconds=0.0) == pytest.approx(1.0)
    assert timed.lr_at(2, seconds=5.0) == pytest.approx(0.55)
    assert timed.lr_at(2, seconds=12.0) == pytest.approx(0.1)
    assert config.lr_at(6, seconds=1e6) == pytest.approx(0.55)  # no wall-clock budget: time is ignored


def test_wall_clock_budget_ends_the_run_with_a_checkpoint(camera64, tmp_path):
    config = FitConfig(steps=1000, max_seconds=1e-9, log_every=10, **FAST)
    outcome = fit_image(camera64, FieldConfig(width=16, depth=1), config, run_dir=tmp_path, quiet=True)
    assert outcome.result.steps == 1 and [row["step"] for row in outcome.result.history] == [1]
    assert load_train_state(tmp_path / CHECKPOINT_NAME).step == 1
    with pytest.raises(InputError, match="max-seconds"):
        FitConfig(max_seconds=0)


class RecordingCompilers:
    """A problem that records the compile mode of the compiler the fit hands it at each step."""

    def __init__(self, problem) -> None:
        self.problem, self.modes = problem, []

    def losses(self, field_, generator, device, compiler):
        self.modes.append(compiler.mode)
        return self.problem.losses(field_, generator, device, compiler)


@pytest.mark.parametrize("mode", ["auto", "on", "off"])
def test_the_fit_runs_its_problem_with_a_compiler_of_the_configured_mode(camera64, mode):
    field_config = FieldConfig(width=8, depth=1, in_dim=2, out_dim=1)
    rep = Representation(build_field(field_config), field_config, {"kind": "image"})
    problem = RecordingCompilers(
        fitting_problem(PointSet(camera64.coordinates(), {"target": camera64.values()}), points=16)
    )
    fit(rep, problem, FitConfig(steps=2, checkpoint_every=0, compile=mode), quiet=True)
    assert problem.modes == [mode, mode]
    with pytest.raises(InputError, match="unknown compile mode 'fast'"):
        FitConfig(compile="fast")
