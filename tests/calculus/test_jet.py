"""The public interface (`sirenkit.calculus`): both paths against finite differences in float64,
for SIREN and every baseline in 1, 2 and 3 input dimensions; shapes, operators, path choice, refusals."""

from __future__ import annotations

import pytest
import torch

from sirenkit.calculus import divergence, gradient, jet, jet_path, laplacian

from .jet_helpers import CHANNELS, MODELS, central_differences, points, relative_error, small_field, smooth_rows


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


def test_divergence_is_the_jacobian_trace():
    field = small_field("siren", 3)
    x = points(16, 3)
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


def test_auto_takes_reverse_mode_only_for_the_gradient_of_a_single_output():
    taken = [jet_path(small_field("siren", 2, out_dim=c), order, "auto") for c, order in [(1, 1), (3, 1), (1, 2)]]
    assert taken == ["autograd", "forward", "forward"]
    assert jet_path(torch.nn.Linear(2, 3), 2, "auto") == "autograd"  # not an MLPField
    assert jet_path(small_field("siren", 2), 2, "autograd") == "autograd"
