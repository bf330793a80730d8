"""The fit loop (`sirenkit.fit`): precision, determinism, schedules, budgets, compile mode, divergence, rollbacks."""

from __future__ import annotations

import os
from dataclasses import replace

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


def test_inverse_square_root_cap_brings_a_long_budgets_rate_down():
    capped = FitConfig(steps=10**9, lr=1.0, lr_rsqrt_after=100)
    assert capped.lr_at(100) == 1.0
    assert capped.lr_at(400) == pytest.approx(0.5)
    assert capped.lr_at(10_000) == pytest.approx(0.1)
    timed = FitConfig(steps=10**9, lr=1.0, schedule="cosine", lr_final_ratio=0.1, max_seconds=10.0, lr_rsqrt_after=100)
    assert timed.lr_at(400, seconds=0.0) == pytest.approx(0.5)  # the cap is under the cosine
    assert timed.lr_at(400, seconds=9.0) < 0.5  # and the cosine under the cap
    assert timed.lr_at(400, seconds=9.0) == pytest.approx(replace(timed, lr_rsqrt_after=0).lr_at(400, 9.0))
    with pytest.raises(InputError, match="lr-rsqrt-after"):
        FitConfig(lr_rsqrt_after=-1)


class ScriptedLoss:
    """A problem whose loss at step k is script[k - 1] (then the last, repeated), whatever the field."""

    def __init__(self, script: list[float]) -> None:
        self.script, self.calls = script, 0

    def losses(self, field_, generator, device, compiler):
        self.calls += 1
        value = self.script[min(self.calls, len(self.script)) - 1]
        return {"data": value + 0 * sum(p.sum() for p in field_.parameters())}


def _rates(problem, **config) -> list[float]:
    field_config = FieldConfig(width=4, depth=1, in_dim=2, out_dim=1)
    rep = Representation(build_field(field_config), field_config, {"kind": "image"})
    result = fit(rep, problem, FitConfig(checkpoint_every=0, **config), quiet=True)
    return [row["lr"] for row in result.history]


def test_a_plateau_of_the_smoothed_loss_halves_the_rate():
    # the loss rises after the first step: no new low from step 2 on, so every 5 steps the rate halves
    assert _rates(ScriptedLoss([1.0, 2.0]), steps=13, lr=1.0, lr_plateau=5) == [1.0] * 6 + [0.5] * 5 + [0.25] * 2
    # a loss still falling keeps its rate, and 0 never halves it
    falling = [1.0 / k for k in range(1, 14)]
    assert _rates(ScriptedLoss(falling), steps=13, lr=1.0, lr_plateau=5) == [1.0] * 13
    assert _rates(ScriptedLoss([1.0, 2.0]), steps=13, lr=1.0) == [1.0] * 13
    with pytest.raises(InputError, match="lr-plateau"):
        FitConfig(lr_plateau=-1)


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


def test_adam_blowing_up_past_its_rollbacks_hands_the_run_to_lbfgs_when_it_has_a_share(camera64, capsys):
    rep, problem = tiny_image_fit(camera64)
    config = FitConfig(steps=100, lr=1e-3, lbfgs=0.2, max_rollbacks=1, checkpoint_every=0)
    spikes = set(range(60, 88))  # two blow-ups of 14 steps each (the smoothed loss needs 14 to rise 3 decades)
    result = fit(rep, ScaledAt(problem, spikes), config, quiet=True)
    err = capsys.readouterr().err
    assert err.count("rolled back to step") == 1 and "L-BFGS takes over from step" in err
    switched = next(row["step"] for row in result.history if row["lr"] == 0.5)  # LBFGS_LR, halved once
    assert switched < 80 and [row["step"] for row in result.history] == list(range(1, 101))
    before = min(row["loss"] for row in result.history[:59])
    assert result.history[-1]["loss"] < before  # L-BFGS went on from the good state
    with pytest.raises(TrainingDiverged, match="after 1 rollback"):
        fit(tiny_image_fit(camera64)[0], ScaledAt(problem, spikes), replace(config, lbfgs=0.0), quiet=True)


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


def _poisson_fit(run_dir=None, on_step=None, resume=False, collocation=None, **config):
    """A small 1-D Poisson solve (`problems.pde.poisson`) with its exact solution as the reference."""
    from sirenkit.problems.pde import PDEOptions, poisson

    pde = poisson(options=PDEOptions(points=64, collocation=collocation))
    pde.problem.reference = pde.reference(200, every=10)
    field_config = FieldConfig(in_dim=1, out_dim=1, width=16, depth=1, omega0=8.0)
    representation = Representation(build_field(field_config, seed=0), field_config, {"kind": "test"})
    settings = {"steps": 60, "lr": 3e-3, "schedule": "cosine", "precision": "fp32", "checkpoint_every": 5, **config}
    return fit(
        representation, pde.problem, FitConfig(**settings), run_dir=run_dir, on_step=on_step, resume=resume, quiet=True
    )


def test_lbfgs_takes_the_last_share_of_the_run_and_lowers_the_loss_further():
    from sirenkit.fit import LBFGS_LR

    result = _poisson_fit(lbfgs=0.25, collocation=64)
    rates = [row["lr"] for row in result.history]
    assert rates[:45] == [r for r in rates[:45] if r != LBFGS_LR] and rates[45:] == [LBFGS_LR] * 15
    assert rates[44] == pytest.approx(3e-3 * 0.05)  # Adam's cosine ends where L-BFGS begins
    switch, end = result.history[44]["loss"], result.history[-1]["loss"]
    assert end < switch / 3
    adam_only = _poisson_fit(collocation=64)
    assert end < adam_only.history[-1]["loss"]
    with pytest.raises(InputError, match="lbfgs must be in"):
        FitConfig(lbfgs=1.0)


class ScaledBy:
    """A problem whose every loss term is multiplied by a constant."""

    def __init__(self, problem, factor: float) -> None:
        self.problem, self.factor = problem, factor

    def losses(self, field_, generator, device, compiler):
        return {
            name: self.factor * term for name, term in self.problem.losses(field_, generator, device, compiler).items()
        }


def test_lbfgs_moves_on_a_loss_of_any_size(camera64):
    rep, problem = tiny_image_fit(camera64)
    weights = []

    def record(step, representation):
        weights.append(torch.cat([p.detach().reshape(-1).clone() for p in representation.field.parameters()]))

    config = FitConfig(steps=30, lr=1e-3, lbfgs=0.5, checkpoint_every=0)
    result = fit(rep, ScaledBy(problem, 1e-12), config, quiet=True, on_step=record)  # torch's tolerances are absolute
    lbfgs_moves = [float((b - a).abs().max()) for a, b in zip(weights[15:], weights[16:])]
    assert min(lbfgs_moves) > 0, lbfgs_moves
    before, after = [sum(row["loss"] for row in rows) for rows in (result.history[10:15], result.history[-5:])]
    assert after < 0.7 * before  # each on 64 fresh points a step: means of five


def test_the_error_against_the_reference_is_logged_every_so_many_steps_and_at_the_last():
    result = _poisson_fit(steps=35)
    logged = [(row["step"], row["l2_error"]) for row in result.history if "l2_error" in row]
    assert [step for step, _ in logged] == [10, 20, 30, 35]
    assert logged[-1][1] < logged[0][1]


@pytest.mark.parametrize("kill_at", [43, 52])
def test_a_run_killed_before_or_after_lbfgs_begins_resumes_to_the_same_weights(tmp_path, kill_at):
    whole = _poisson_fit(lbfgs=0.25)

    def kill(step, _representation):
        if step == kill_at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _poisson_fit(tmp_path, on_step=kill, lbfgs=0.25)
    assert load_train_state(tmp_path / CHECKPOINT_NAME).extra["phase"] == ("adam" if kill_at < 45 else "lbfgs")
    resumed = _poisson_fit(tmp_path, resume=True, lbfgs=0.25)
    for a, b in zip(
        whole.representation.field.state_dict().values(), resumed.representation.field.state_dict().values()
    ):
        assert torch.equal(a, b)


def test_learning_rate_annealing_weighs_each_term_by_the_first_terms_largest_gradient_over_its_mean():
    from sirenkit.fit import BALANCE_SMOOTHING, balanced_weights

    field_ = build_field(FieldConfig(in_dim=1, out_dim=1, width=8, depth=1), seed=0)
    x = torch.linspace(-1, 1, 32)[:, None]
    terms = {"equation": field_(x).square().mean(), "boundary": 1e-3 * (field_(x[:1]) - 1).square().mean()}
    grads = {
        name: torch.cat(
            [g.reshape(-1) for g in torch.autograd.grad(term, list(field_.parameters()), retain_graph=True)]
        )
        for name, term in terms.items()
    }
    estimate = float(grads["equation"].abs().max() / grads["boundary"].abs().mean())
    weights = balanced_weights(terms, field_, {})
    assert list(weights) == ["boundary"] and estimate > 100
    assert weights["boundary"] == pytest.approx((1 - BALANCE_SMOOTHING) + BALANCE_SMOOTHING * estimate)
    again = balanced_weights(terms, field_, weights)
    assert again["boundary"] == pytest.approx(
        (1 - BALANCE_SMOOTHING) * weights["boundary"] + BALANCE_SMOOTHING * estimate
    )


def test_a_balanced_fit_logs_its_weights_and_resumes_to_the_same_weights(tmp_path):
    whole = _poisson_fit(balance="gradients", balance_every=5)
    logged = [row["weight_boundary"] for row in whole.history]
    assert len(set(logged[:5])) == 1 and logged[5] != logged[4]

    def kill(step, _representation):
        if step == 33:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _poisson_fit(tmp_path, on_step=kill, balance="gradients", balance_every=5)
    resumed = _poisson_fit(tmp_path, resume=True, balance="gradients", balance_every=5)
    for a, b in zip(
        whole.representation.field.state_dict().values(), resumed.representation.field.state_dict().values()
    ):
        assert torch.equal(a, b)


def test_a_refined_run_keeps_its_grown_collocation_set_across_a_resume(tmp_path):
    from sirenkit.problems.pde import PDEOptions, poisson

    def refined_fit(run_dir=None, on_step=None, resume=False):
        pde = poisson(options=PDEOptions(collocation=32, refine_every=10))
        field_config = FieldConfig(in_dim=1, out_dim=1, width=16, depth=1, omega0=8.0)
        representation = Representation(build_field(field_config, seed=0), field_config, {"kind": "test"})
        config = FitConfig(steps=40, lr=3e-3, precision="fp32", checkpoint_every=5)
        result = fit(representation, pde.problem, config, run_dir=run_dir, on_step=on_step, resume=resume, quiet=True)
        return result, pde.problem.constraints[0].domain.x

    whole, points = refined_fit()
    assert points.shape == (32 + 4 * 2, 1)  # four refinements of 32 // 16 points

    def kill(step, _representation):
        if step == 27:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        refined_fit(tmp_path, on_step=kill)
    resumed, resumed_points = refined_fit(tmp_path, resume=True)
    torch.testing.assert_close(resumed_points, points, rtol=0, atol=0)
    for a, b in zip(
        whole.representation.field.state_dict().values(), resumed.representation.field.state_dict().values()
    ):
        assert torch.equal(a, b)


def test_a_metrics_write_error_names_metrics_jsonl(tmp_path):
    # A write past the file-size limit fails at the row's flush and again when the log is closed
    # (closing flushes what the failed write left buffered): both must name the file.
    import subprocess
    import sys

    from run_helpers import limit_file_size

    run = tmp_path / "run"
    code = f"""
import torch
from sirenkit.errors import describe_os_error
from sirenkit.fields import FieldConfig, build_field
from sirenkit.fit import FitConfig, fit
from sirenkit.problems import PointSet, fitting_problem
from sirenkit.store import Representation
config = FieldConfig(width=4, depth=0)
problem = fitting_problem(PointSet(torch.rand(16, 2), {{"target": torch.rand(16, 1)}}))
settings = FitConfig(steps=400, checkpoint_every=0, checkpoint_seconds=0, log_every=1, precision="fp32")
try:
    fit(Representation(build_field(config), config, {{}}), problem, settings, run_dir={str(run)!r}, quiet=True)
except OSError as error:
    print(describe_os_error(error))
"""
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=limit_file_size(4096), timeout=120
    )
    assert child.stdout.strip() == f"{run / 'metrics.jsonl'}: File too large", child.stdout + child.stderr
