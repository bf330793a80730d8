"""The fit loop (`sirenkit.fit`): precision, determinism, schedules, budgets, compile mode, divergence, rollbacks."""

from __future__ import annotations

import os

import pytest
import torch

from run_helpers import FAST, metric_steps, tiny_image_fit
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field
from sirenkit.fit import CHECKPOINT_NAME, FitConfig, TrainingDiverged, fit, freed_memory_retained
from sirenkit.problems import PointSet, fitting_problem
from sirenkit.recipes.image import fit_image
from sirenkit.store import Representation, load_representation, load_train_state


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


# 6. Divergence keeps progress.
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


class ScaledAt(NaNAt):
    """A fitting problem whose loss is multiplied by 1e6 at the given calls: a blow-up with no NaN."""

    def losses(self, field_, generator, device, compiler):
        terms = self.problem.losses(field_, generator, device, compiler)
        self.count += 1
        if self.count in self.calls:
            terms["fit"] = terms["fit"] * 1e6
        return terms


def test_a_loss_that_blows_up_without_a_nan_rolls_back_once_it_stands_orders_above_its_lowest(camera64, capsys):
    rep, problem = tiny_image_fit(camera64)
    config = FitConfig(steps=120, lr=1e-3, checkpoint_every=0)
    result = fit(rep, ScaledAt(problem, set(range(60, 86))), config, quiet=True)  # 26 steps 1e6 times larger
    err = capsys.readouterr().err
    rollbacks = err.count("the loss blew up")
    assert 1 <= rollbacks <= 2 and "rolled back to step" in err
    assert [row["step"] for row in result.history] == list(range(1, 121))
    assert result.history[-1]["lr"] == pytest.approx(config.lr_at(120) / 2**rollbacks)
    before = min(row["loss"] for row in result.history[:59])
    assert result.history[-1]["loss"] < 10 * before  # the run went on from a good state
    with pytest.raises(TrainingDiverged, match="after 3 rollback"):
        fit(tiny_image_fit(camera64)[0], ScaledAt(problem, set(range(60, 10**6))), config, quiet=True)


def test_noise_of_a_few_decades_is_not_a_blow_up(camera64, capsys):
    rep, problem = tiny_image_fit(camera64)
    spikes = set(range(20, 120, 4))  # one step in four 1e6 times larger: the smoothed loss rises under 3 decades
    fit(rep, ScaledAt(problem, spikes), FitConfig(steps=120, lr=1e-3, checkpoint_every=0), quiet=True)
    assert "blew up" not in capsys.readouterr().err


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_memory_kept_for_reuse_during_a_fit_is_handed_back_after_it():
    block = 256 * 2**20
    with freed_memory_retained() as retained:
        if not retained:
            pytest.skip("glibc's allocator is not in use")
        buffer = torch.ones(block // 4)  # below the raised mmap threshold: from the heap, kept when freed
        del buffer
        kept = _resident_bytes()
    assert _resident_bytes() < kept - block // 2
