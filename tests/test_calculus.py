"""Derivatives of fields: the forward (fused) path and the autograd reference against finite differences
and against each other, for SIREN and every baseline, in 1, 2 and 3 input dimensions."""

from __future__ import annotations

import pytest
import torch

from sirenkit import calculus
from sirenkit.calculus import divergence, gradient, hessian, jet, laplacian
from sirenkit.errors import InputError
from sirenkit.fields import FIELD_BUILDERS, FieldConfig, build_field

MODELS = sorted(FIELD_BUILDERS)
CHANNELS = 3


def small_field(model: str, in_dim: int, out_dim: int = CHANNELS, dtype=torch.float64, **overrides):
    settings = {"width": 24, "depth": 2, "pe_octaves": 3, "ff_features": 16, "ff_scale": 2.0, **overrides}
    config = FieldConfig(model=model, in_dim=in_dim, out_dim=out_dim, **settings)
    return build_field(config, seed=1).to(dtype)


def points(n: int, d: int, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 1.6 - 0.8


def relative_error(a: torch.Tensor, reference: torch.Tensor) -> float:
    """max |a - ref| over max |ref| (so a Laplacian that is ~0 everywhere compares against the floor 1)."""
    return ((a - reference).abs().max() / reference.abs().max().clamp_min(1.0)).item()


def central_differences(field, x: torch.Tensor, lap_step: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient (N, c, d) and Laplacian (N, c) of a float64 field by central differences."""
    d = x.shape[-1]
    grad_step = 1e-6
    eye = torch.eye(d, dtype=x.dtype)
    with torch.no_grad():
        center = field(x)
        grad = torch.stack(
            [(field(x + grad_step * eye[i]) - field(x - grad_step * eye[i])) / (2 * grad_step) for i in range(d)], -1
        )
        lap = sum(
            (field(x + lap_step * eye[i]) - 2 * center + field(x - lap_step * eye[i])) / lap_step**2 for i in range(d)
        )
    return grad, lap


def smooth_rows(field, x: torch.Tensor) -> torch.Tensor:
    """Rows of x whose finite-difference stencils straddle no ReLU kink: two step sizes agree there."""
    _, coarse = central_differences(field, x, 1e-4)
    _, fine = central_differences(field, x, 5e-5)
    return ((coarse - fine).abs() <= 1e-3 * (1 + coarse.abs())).all(-1)


@pytest.mark.parametrize("in_dim", [1, 2, 3])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("method", ["forward", "autograd"])
def test_both_paths_match_central_differences_in_float64(model, in_dim, method):
    field = small_field(model, in_dim)
    x = points(64, in_dim)
    result = jet(field, x, order=2, method=method)
    grad, lap = central_differences(field, x)
    smooth = smooth_rows(field, x)
    assert smooth.float().mean() > 0.9
    assert result.value.shape == (64, CHANNELS)
    assert result.gradient.shape == (64, CHANNELS, in_dim) and result.laplacian.shape == (64, CHANNELS)
    torch.testing.assert_close(result.value, field(x).detach())
    assert relative_error(result.gradient[smooth], grad[smooth]) < 1e-4
    assert relative_error(result.laplacian[smooth], lap[smooth]) < 1e-4


@pytest.mark.parametrize("in_dim", [1, 2, 3])
@pytest.mark.parametrize("model", MODELS)
def test_paths_agree_in_float32(model, in_dim):
    field = small_field(model, in_dim, dtype=torch.float32)
    x = points(256, in_dim, dtype=torch.float32)
    fast, reference = jet(field, x, method="forward"), jet(field, x, method="autograd")
    assert relative_error(fast.value, reference.value) < 1e-5
    assert relative_error(fast.gradient, reference.gradient) < 1e-5
    assert relative_error(fast.laplacian, reference.laplacian) < 1e-5


def test_batched_coordinates_keep_their_leading_shape():
    field = small_field("siren", 2)
    x = points(30, 2).reshape(3, 10, 2)
    batched = jet(field, x)
    flat = jet(field, x.reshape(-1, 2))
    assert batched.gradient.shape == (3, 10, CHANNELS, 2)
    torch.testing.assert_close(batched.laplacian.reshape(-1, CHANNELS), flat.laplacian)


def test_relu_laplacian_is_zero_away_from_kinks_while_siren_is_not():
    x = points(512, 2)
    for method in ("forward", "autograd"):
        assert laplacian(small_field("relu", 2), x, method=method).abs().max() < 1e-12
    relu = small_field("relu", 2)
    _, finite = central_differences(relu, x)
    assert finite[smooth_rows(relu, x)].abs().max() < 1e-6
    assert laplacian(small_field("siren", 2), x).abs().mean() > 1


@pytest.mark.parametrize("model", MODELS)
def test_parameter_gradients_of_a_laplacian_loss_agree_between_paths(model):
    field = small_field(model, 2)
    x = points(100, 2)
    target = torch.randn(100, CHANNELS, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grads = {}
    for method in ("forward", "autograd"):
        field.zero_grad(set_to_none=True)
        result = jet(field, x, method=method)
        loss = (result.laplacian - target).square().mean() + result.gradient.square().mean()
        loss.backward()
        grads[method] = torch.cat(
            [p.new_zeros(p.numel()) if p.grad is None else p.grad.flatten() for p in field.parameters()]
        )
    assert relative_error(grads["forward"], grads["autograd"]) < 1e-8


@pytest.mark.parametrize("model", ["siren", "tanh", "relu-pe"])
def test_fused_backward_passes_gradcheck_in_parameters_and_coordinates(model):
    field = small_field(model, 2, out_dim=2, width=6)
    x = points(5, 2).requires_grad_(True)
    params = list(field.parameters())

    def derivatives(x, *params):
        result = jet(field, x, method="forward")
        return result.value, result.gradient, result.laplacian

    assert torch.autograd.gradcheck(derivatives, (x, *params))


def test_forward_path_runs_in_chunks_without_a_graph_when_nothing_needs_grad():
    field = small_field("siren", 2, dtype=torch.float32)
    x = points(20_000, 2, dtype=torch.float32)  # more than one chunk
    with torch.no_grad():
        fast = jet(field, x)
    assert fast.laplacian.grad_fn is None
    torch.testing.assert_close(fast.laplacian, jet(field, x, method="autograd").laplacian.detach())


def test_hessian_trace_is_the_laplacian_and_divergence_the_jacobian_trace():
    field = small_field("siren", 3)
    x = points(16, 3)
    h = hessian(field, x)
    assert h.shape == (16, CHANNELS, 3, 3)
    torch.testing.assert_close(h.diagonal(dim1=-2, dim2=-1).sum(-1), laplacian(field, x))
    torch.testing.assert_close(h, h.transpose(-1, -2))
    grad = gradient(field, x)
    torch.testing.assert_close(divergence(field, x), grad.diagonal(dim1=-2, dim2=-1).sum(-1))
    with pytest.raises(ValueError, match="c == d"):
        divergence(small_field("siren", 2), points(4, 2))


def test_bad_order_and_method_are_refused():
    field = small_field("siren", 2)
    with pytest.raises(ValueError, match="order"):
        jet(field, points(4, 2), order=3)
    with pytest.raises(ValueError, match="method"):
        jet(field, points(4, 2), method="symbolic")
    with pytest.raises(TypeError, match="MLPField"):
        jet(torch.nn.Linear(2, 1).double(), points(4, 2), method="forward")


def test_auto_takes_reverse_mode_only_for_the_gradient_of_a_single_output(monkeypatch):
    taken = []
    monkeypatch.setattr(calculus, "forward_jet", lambda *args: taken.append("forward"))
    monkeypatch.setattr(calculus, "autograd_jet", lambda *args: taken.append("autograd"))
    for out_dim, order in [(1, 1), (3, 1), (1, 2)]:
        jet(small_field("siren", 2, out_dim=out_dim), points(8, 2), order=order)
    assert taken == ["autograd", "forward", "forward"]


def training_path_results(field, x: torch.Tensor, order: int) -> list[torch.Tensor]:
    """The forward path's jet and the parameter gradients of a loss on its derivatives."""
    field.zero_grad(set_to_none=True)
    result = jet(field, x, order=order, method="forward")
    loss = result.gradient.square().mean() + (result.laplacian.square().mean() if order == 2 else 0)
    loss.backward()
    parts = [result.value, result.gradient] + ([result.laplacian] if order == 2 else [])
    return [part.detach() for part in parts] + [p.grad.flatten() for p in field.parameters() if p.grad is not None]


@pytest.mark.parametrize("order", [1, 2])
def test_compiled_sine_kernels_match_the_eager_ones(monkeypatch, order):
    monkeypatch.setattr(calculus, "JET_CHUNK_POINTS", {"cpu": 128})  # three chunks, the last one short
    compiled_calls = []

    def counting(kernel, *args):
        compiled_calls.append(kernel.__name__)
        return run_compiled(kernel, *args)

    run_compiled = calculus._run_compiled
    monkeypatch.setattr(calculus, "_run_compiled", counting)
    field, x = small_field("siren", 2), points(300, 2)
    results = {}
    for mode in ("off", "on"):
        monkeypatch.setenv(calculus.COMPILE_VARIABLE, mode)
        results[mode] = training_path_results(field, x, order)
    assert calculus._compile_failure is None
    assert {"_sine_push", "_sine_pull"} <= set(compiled_calls)
    for compiled, eager in zip(results["on"], results["off"], strict=True):
        assert relative_error(compiled, eager) < 1e-12


def test_a_failed_compile_warns_once_and_runs_the_eager_kernels(monkeypatch):
    def without_compiler(kernel):
        def call(*args):
            try:
                raise OSError("no C++ compiler found")
            except OSError as cause:
                raise RuntimeError("backend='inductor' raised:") from cause

        return call

    monkeypatch.setattr(calculus, "_compiled", without_compiler)
    monkeypatch.setattr(calculus, "_compile_failure", None)
    field, x = small_field("siren", 2), points(50, 2)
    monkeypatch.setenv(calculus.COMPILE_VARIABLE, "off")
    eager = training_path_results(field, x, 2)
    monkeypatch.setenv(calculus.COMPILE_VARIABLE, "on")
    with pytest.warns(UserWarning, match="torch.compile failed \\(OSError: no C\\+\\+ compiler found\\)"):
        fallback = training_path_results(field, x, 2)
    for a, b in zip(fallback, eager, strict=True):
        assert relative_error(a, b) < 1e-12
    assert not calculus.compiled_kernels_enabled(torch.device("cpu"), 10**6)
    training_path_results(field, x, 2)  # no second warning (warnings are errors in the tests)


def test_compiled_kernels_are_chosen_by_the_environment_and_the_size_of_the_call(monkeypatch):
    enabled, cpu = calculus.compiled_kernels_enabled, torch.device("cpu")
    monkeypatch.setattr(calculus, "_compile_failure", None)
    monkeypatch.delenv(calculus.COMPILE_VARIABLE, raising=False)
    least = calculus.COMPILE_MIN_POINTS
    assert enabled(cpu, least) and not enabled(cpu, least - 1)
    assert not enabled(torch.device("cuda"), 10**6)
    monkeypatch.setenv(calculus.COMPILE_VARIABLE, "on")
    assert enabled(cpu, 1) and enabled(torch.device("cuda"), 1)
    monkeypatch.setenv(calculus.COMPILE_VARIABLE, "OFF")
    assert not enabled(cpu, 10**6)
    monkeypatch.setenv(calculus.COMPILE_VARIABLE, "fast")
    with pytest.raises(InputError, match="SIRENKIT_COMPILE=fast: choose one of auto, on, off"):
        enabled(cpu, 1)
