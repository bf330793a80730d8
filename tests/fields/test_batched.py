"""Batched fields (`fields/batched.py`): K fields as one computation equal each field alone —
the forward pass, stacking and unstacking, building from seeds, jets on both derivative paths, and
training with one optimizer on the summed per-field losses, a NaN in one field touching no other."""

from __future__ import annotations

import pytest
import torch

from sirenkit.calculus import JET_CHUNK_POINTS, Compiler, forward, gradient, jet, jet_path
from sirenkit.fields import (
    FIELD_BUILDERS,
    BatchedField,
    FieldConfig,
    MLPField,
    build_batched_field,
    build_field,
    stack_fields,
)

MODELS = sorted(FIELD_BUILDERS)
SEEDS = [3, 1, 4]
SMALL = {"width": 16, "depth": 2, "out_dim": 2, "pe_octaves": 3, "ff_features": 8, "ff_scale": 2.0}


def small_config(model: str = "siren", **overrides) -> FieldConfig:
    return FieldConfig(model=model, **{**SMALL, **overrides})


def points(*shape: int, dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 1.6 - 0.8


def relative_error(a: torch.Tensor, reference: torch.Tensor) -> float:
    """max |a - ref| over max |ref| (floored at 1, so a part that is ~0 everywhere is not amplified)."""
    return ((a - reference).abs().max() / reference.abs().max().clamp_min(1.0)).item()


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert sa[name].dtype == sb[name].dtype, name
        assert torch.equal(sa[name], sb[name]), name


@pytest.mark.parametrize("model", MODELS)
def test_forward_equals_each_field_alone(model):
    config = small_config(model)
    batched = build_batched_field(config, SEEDS)
    x = points(len(SEEDS), 4, 5, 2)  # (K, ..., d): the middle axes are kept
    y = batched(x)
    assert (batched.count, batched.in_dim, batched.out_dim) == (3, 2, 2)
    assert y.shape == (3, 4, 5, 2)
    for k, seed in enumerate(SEEDS):
        alone = build_field(config, seed=seed)(x[k])
        assert relative_error(y[k], alone) < 1e-6


def test_under_autocast_the_encoding_and_first_layer_stay_float32_as_in_a_single_field():
    config = small_config("ff")
    batched, alone = build_batched_field(config, SEEDS), build_field(config, seed=SEEDS[0])
    x = points(3, 50, 2)
    dtypes: dict[str, list[torch.dtype]] = {"batched": [], "alone": []}
    for name, module in [("batched", batched), ("alone", alone)]:
        for layer in [*module.layers, module.head]:
            layer.register_forward_hook(lambda _, __, out, name=name: dtypes[name].append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, reference = batched(x), alone(x[0])
    assert dtypes["batched"] == dtypes["alone"] == [torch.float32] + [torch.bfloat16] * 3
    assert y.dtype == torch.float32 and relative_error(y[0], reference) < 1e-2


@pytest.mark.parametrize("model", MODELS)
def test_build_batched_field_equals_build_field_per_seed(model):
    batched = build_batched_field(small_config(model), SEEDS)
    for k, seed in enumerate(SEEDS):
        assert_same_state(batched.field(k), build_field(small_config(model), seed=seed))
    assert not torch.equal(batched.layers[0].weight[0], batched.layers[0].weight[1])


@pytest.mark.parametrize("model", ["siren", "ff"])
def test_stack_and_unstack_round_trip_with_independent_copies(model):
    fields = [build_field(small_config(model), seed=seed).double() for seed in SEEDS]
    batched = stack_fields(fields)
    assert batched.head.weight.dtype == torch.float64
    unstacked = batched.unstack()
    assert all(type(field) is MLPField for field in unstacked)
    for field, original in zip(unstacked, fields, strict=True):
        assert_same_state(field, original)
    assert_same_state(stack_fields(unstacked), batched)
    with torch.no_grad():
        unstacked[0].head.bias.add_(1.0)
        batched.head.weight.mul_(2.0)
    assert_same_state(fields[0], build_field(small_config(model), seed=SEEDS[0]).double())
    assert torch.equal(batched.head.bias[0], fields[0].head.bias)
    assert torch.equal(batched.field(-1).head.weight, 2 * fields[-1].head.weight)


@pytest.mark.parametrize(
    ("other", "difference"),
    [
        (small_config(width=24), "layer 0 weight shape"),
        (small_config(depth=1), "number of activated layers"),
        (small_config(omega0=20.0), "layer 0 activation: Sine\\(omega0=20.0\\) instead of Sine\\(omega0=30.0\\)"),
        (small_config(out_dim=3), "head weight shape"),
        (small_config(model="relu-pe"), "encoding: Sinusoidal instead of Identity"),
    ],
)
def test_fields_of_different_architectures_are_refused_naming_the_difference(other, difference):
    fields = [build_field(small_config(), seed=0), build_field(small_config(), seed=1), build_field(other, seed=2)]
    with pytest.raises(ValueError, match=f"field 2 differs from field 0 in its {difference}"):
        stack_fields(fields)


def test_other_differences_and_bad_inputs_are_refused():
    relu, tanh = build_field(small_config("relu")), build_field(small_config("tanh"))
    with pytest.raises(ValueError, match="layer 0 activation: Tanh\\(\\) instead of ReLU\\(\\)"):
        stack_fields([relu, tanh])
    ff = [build_field(small_config("ff", ff_features=n)) for n in (8, 6)]
    with pytest.raises(ValueError, match="encoding's output dimension: 12 instead of 16"):
        stack_fields(ff)
    with pytest.raises(ValueError, match="dtypes: \\['torch.float64'\\] instead of \\['torch.float32'\\]"):
        stack_fields([relu, build_field(small_config("relu")).double()])
    with pytest.raises(ValueError, match="at least one"):
        stack_fields([])
    with pytest.raises(TypeError, match="Linear"):
        stack_fields([relu, torch.nn.Linear(2, 2)])
    batched = build_batched_field(small_config(), SEEDS)
    for shape in [(2, 10, 2), (3, 10, 3), (3, 2)]:
        with pytest.raises(ValueError, match="reads points of shape \\(3, N, 2\\)"):
            batched(points(*shape))
    with pytest.raises(IndexError):
        batched.field(3)


@pytest.mark.parametrize("method", ["forward", "autograd"])
@pytest.mark.parametrize("model", ["siren", "ff", "tanh"])
def test_jet_equals_each_fields_jet_in_float32(model, method):
    config = small_config(model)
    batched = build_batched_field(config, SEEDS)
    x = points(3, 64, 2)
    result = jet(batched, x, order=2, method=method)
    assert result.gradient.shape == (3, 64, 2, 2) and result.laplacian.shape == (3, 64, 2)
    assert result.laplacian.abs().max() > 1  # a Laplacian that is not ~0, so the comparison means something
    for k, seed in enumerate(SEEDS):
        alone = jet(build_field(config, seed=seed), x[k], order=2, method=method)
        for part in ("value", "gradient", "laplacian"):
            assert relative_error(getattr(result, part)[k], getattr(alone, part)) < 1e-5, part


def test_auto_chooses_the_path_for_a_batched_field_as_for_one_field():
    for out_dim, order in [(1, 1), (2, 1), (1, 2)]:
        batched = build_batched_field(small_config(out_dim=out_dim), SEEDS)
        assert jet_path(batched, order, "auto") == jet_path(batched.field(0), order, "auto")
    assert jet_path(build_batched_field(small_config(out_dim=1), SEEDS), 2, "auto") == "forward"


def loss_on_derivatives(result) -> torch.Tensor:
    """A loss summing per-field means over the points (and over nothing else for a single field)."""
    target = torch.linspace(-2, 2, result.laplacian.shape[-2], dtype=result.laplacian.dtype)[:, None]
    per_field = (result.laplacian - target).square().mean((-2, -1)) + result.gradient.square().mean((-3, -2, -1))
    return per_field.sum()


@pytest.mark.parametrize(
    "setting",
    ["fused", "fused in chunks of uneven length", "compiled kernels (run eagerly)", "no grad", "order 1"],
)
def test_forward_path_of_a_batched_field_and_its_parameter_gradients_equal_each_fields(setting, monkeypatch):
    if setting == "fused in chunks of uneven length":
        monkeypatch.setitem(JET_CHUNK_POINTS, "cpu", 8)  # ceil(8 / 3) = 3 points per field: chunks of 3, 3, 3, 1
        monkeypatch.setattr(forward, "FIELD_CHUNK_MIN_POINTS", 1)
    compiler = Compiler("on", compile_fn=lambda kernel: kernel) if setting.startswith("compiled") else None
    order = 1 if setting == "order 1" else 2
    config = small_config("siren", width=12)
    batched = build_batched_field(config, SEEDS).double()
    x = points(3, 10, 2, dtype=torch.float64)
    with torch.set_grad_enabled(setting != "no grad"):
        result = jet(batched, x, order=order, method="forward", compiler=compiler)
    if setting == "no grad":
        assert result.laplacian.grad_fn is None
    elif order == 2:
        loss_on_derivatives(result).backward()
    else:
        assert result.laplacian is None
        result.gradient.square().mean((-3, -2, -1)).sum().backward()
    for k, seed in enumerate(SEEDS):
        field = build_field(config, seed=seed).double()
        alone = jet(field, x[k], order=order, method="autograd")
        for part in ("value", "gradient", "laplacian")[: order + 1]:
            assert relative_error(getattr(result, part)[k].detach(), getattr(alone, part).detach()) < 1e-12, part
        if setting == "no grad":
            continue
        (loss_on_derivatives(alone) if order == 2 else alone.gradient.square().mean()).backward()
        for (name, stacked), single in zip(batched.named_parameters(), field.parameters(), strict=True):
            expected = torch.zeros_like(single) if single.grad is None else single.grad  # the head's bias: no effect
            assert relative_error(stacked.grad[k], expected) < 1e-12, name


def test_fused_backward_of_a_batched_jet_passes_gradcheck_in_parameters_and_coordinates():
    batched = build_batched_field(small_config("tanh", width=5), [0, 1]).double()
    x = points(2, 3, 2, dtype=torch.float64).requires_grad_(True)

    def derivatives(x, *params):
        result = jet(batched, x, method="forward")
        return result.value, result.gradient, result.laplacian

    assert torch.autograd.gradcheck(derivatives, (x, *batched.parameters()))


# Training: one Adam over the stacked parameters against K Adams over the fields alone.

STEPS = 30
LR = 1e-4


def crops(camera) -> tuple[torch.Tensor, torch.Tensor]:
    """Three 16×16 crops of camera: coordinates (3, 256, 2), values (3, 256, 1)."""
    images = [camera.crop(top, left, 16, 16) for top, left in [(96, 224), (300, 100), (40, 400)]]
    return torch.stack([image.coordinates() for image in images]), torch.stack([image.values() for image in images])


def per_field_loss(module: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """The mean squared error of the values (`loss` "value") or of the gradients (`loss` names the
    derivative path) of a field at x (N, d), a scalar, or of a BatchedField at x (K, N, d), one per field (K,)."""
    if loss == "value":
        return (module(x) - target).square().flatten(-2).mean(-1)
    return (gradient(module, x, method=loss) - target).square().flatten(-3).mean(-1)


def train(module: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, loss: str, steps: int) -> list[torch.Tensor]:
    """`steps` Adam steps on the summed per-field losses; the losses before each step."""
    optimizer = torch.optim.Adam(module.parameters(), lr=LR)
    history = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        losses = per_field_loss(module, x, target, loss)
        losses.sum().backward()
        optimizer.step()
        history.append(losses.detach())
    return history


def fits(camera, loss: str, steps: int, nan_field: int | None = None):
    """The same fits done batched and one by one: (batched field, its losses (steps, K), fields, their losses)."""
    config = FieldConfig(model="siren", width=32, depth=2)
    x, values = crops(camera)
    # the gradient loss: ∇ of a smooth function per field, a different one for each
    freqs = torch.tensor([1.0, 2.0, 3.0])[:, None, None]
    target = values if loss == "value" else torch.cos(freqs * x)[:, :, None, :]
    if nan_field is not None:
        target = target.clone()
        target[nan_field, :5] = float("nan")
    batched = build_batched_field(config, SEEDS)
    batched_losses = torch.stack(train(batched, x, target, loss, steps))
    singles = [build_field(config, seed=seed) for seed in SEEDS]
    single_losses = torch.stack(
        [torch.stack(train(field, x[k], target[k], loss, steps)) for k, field in enumerate(singles)], -1
    )
    return batched, batched_losses, singles, single_losses


@pytest.mark.parametrize(("loss", "steps"), [("value", STEPS), ("forward", 5), ("autograd", 5)])
def test_training_k_fields_batched_equals_training_each_alone(camera, loss, steps):
    batched, batched_losses, singles, single_losses = fits(camera, loss, steps)
    assert (batched_losses[-1] < 0.95 * batched_losses[0]).all()  # every field learned
    torch.testing.assert_close(batched_losses, single_losses, rtol=1e-5, atol=1e-7)
    for k, single in enumerate(singles):
        for (name, stacked), alone in zip(batched.named_parameters(), single.parameters(), strict=True):
            assert relative_error(stacked[k].detach(), alone.detach()) < 1e-6, (k, name)


@pytest.mark.parametrize("loss", ["value", "forward"])
def test_a_nan_target_in_one_field_leaves_the_others_untouched(camera, loss):
    steps = 3
    clean, clean_losses, _, _ = fits(camera, loss, steps)
    spoiled, spoiled_losses, _, _ = fits(camera, loss, steps, nan_field=1)
    assert spoiled_losses[:, 1].isnan().all() and spoiled.layers[0].weight[1].isnan().all()
    kept = [0, 2]
    torch.testing.assert_close(spoiled_losses[:, kept], clean_losses[:, kept], rtol=0, atol=0)
    for (name, a), b in zip(spoiled.named_parameters(), clean.parameters(), strict=True):
        torch.testing.assert_close(a[kept], b[kept], rtol=0, atol=0, msg=name)


def test_a_batched_field_is_an_ordinary_module():
    batched = build_batched_field(small_config("ff"), SEEDS)
    names = dict(batched.named_buffers())
    assert names["encoding.frequencies"].shape == (3, 8, 2)
    assert isinstance(batched, BatchedField) and len(list(batched.parameters())) == 2 * 4
    copied = build_batched_field(small_config("ff"), [0, 0, 0])
    copied.load_state_dict(batched.state_dict())
    assert_same_state(copied, batched)
