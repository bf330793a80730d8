"""The forward path (`sirenkit.calculus.forward`) against the autograd reference: values,
derivatives and parameter gradients, its fused backward, and any activation through its own rule."""

from __future__ import annotations

import pytest
import torch

from sirenkit.calculus import jet, jet_chunk_points
from sirenkit.fields import Activation, Dense, Identity, MLPField

from .jet_helpers import CHANNELS, MODELS, points, relative_error, small_field


@pytest.mark.parametrize("in_dim", [1, 2, 3])
@pytest.mark.parametrize("model", MODELS)
def test_paths_agree_in_float32(model, in_dim):
    field = small_field(model, in_dim, dtype=torch.float32)
    x = points(256, in_dim, dtype=torch.float32)
    fast, reference = jet(field, x, method="forward"), jet(field, x, method="autograd")
    assert relative_error(fast.value, reference.value) < 1e-5
    assert relative_error(fast.gradient, reference.gradient) < 1e-5
    assert relative_error(fast.laplacian, reference.laplacian) < 1e-5


def parameter_gradients(field, x: torch.Tensor, target: torch.Tensor, method: str) -> torch.Tensor:
    """The gradient of a loss on the Laplacian and gradient with respect to every parameter, flattened."""
    field.zero_grad(set_to_none=True)
    result = jet(field, x, method=method)
    loss = (result.laplacian - target).square().mean() + result.gradient.square().mean()
    loss.backward()
    return torch.cat([p.new_zeros(p.numel()) if p.grad is None else p.grad.flatten() for p in field.parameters()])


@pytest.mark.parametrize("model", MODELS)
def test_parameter_gradients_of_a_laplacian_loss_agree_between_paths(model):
    field = small_field(model, 2)
    x = points(100, 2)
    target = torch.randn(100, CHANNELS, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    fast, reference = (parameter_gradients(field, x, target, method) for method in ("forward", "autograd"))
    assert relative_error(fast, reference) < 1e-8


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
    x = points(2 * jet_chunk_points(torch.device("cpu")) + 100, 2, dtype=torch.float32)  # three chunks
    with torch.no_grad():
        fast = jet(field, x)
    assert fast.laplacian.grad_fn is None
    torch.testing.assert_close(fast.laplacian, jet(field, x, method="autograd").laplacian.detach())


class Softplus(Activation):
    """An activation that gives only its value: its derivatives come from autograd of it."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.softplus(z)


def test_an_activation_with_only_a_forward_goes_through_the_forward_path():
    layers = [Dense(2, 16, Softplus()), Dense(16, 16, Softplus())]
    field = MLPField(Identity(2), layers, Dense(16, 2, None)).double()
    for p in field.parameters():
        torch.nn.init.normal_(p, std=0.5, generator=torch.Generator().manual_seed(p.numel()))
    x = points(50, 2)
    fast, reference = jet(field, x, method="forward"), jet(field, x, method="autograd")
    assert relative_error(fast.laplacian, reference.laplacian) < 1e-10
    target = torch.zeros(50, 2, dtype=torch.float64)
    fast, reference = (parameter_gradients(field, x, target, method) for method in ("forward", "autograd"))
    assert relative_error(fast, reference) < 1e-10
