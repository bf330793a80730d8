import pytest
import torch

from sirenkit.compression.quantization import (
    MAX_LEVELS,
    TensorCode,
    add_fake_quantization,
    dequantize,
    fake_quantize,
    named_tensors,
    quantize,
    remove_fake_quantization,
    scales,
)
from sirenkit.fields import FieldConfig, build_field


def test_rounding_error_is_at_most_half_a_step_and_the_extremes_are_exact():
    t = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    for code in (TensorCode.of_bits(6), TensorCode(100, per_channel=True), TensorCode.of_bits(16)):
        q, s = quantize(t, code)
        back = dequantize(q, s)
        assert q.dtype == torch.int32 and q.abs().max() <= code.levels
        assert ((back - t).abs() <= s / 2 + 1e-7).all()
        assert torch.allclose(back.abs().amax(), t.abs().amax())


def test_per_channel_scales_follow_each_row():
    t = torch.tensor([[1.0, -2.0], [0.5, 0.25], [0.0, 0.0]])
    s = scales(t, TensorCode.of_bits(8, per_channel=True))
    assert s.shape == (3, 1)
    assert torch.allclose(s.reshape(-1), torch.tensor([2 / 127, 0.5 / 127, 1.0]))  # a zero row keeps scale 1
    assert scales(t, TensorCode(127)).shape == (1,)
    assert TensorCode(127, per_channel=True).scale_count((5,)) == 1  # a bias has one scale


def test_a_zero_tensor_is_stored_as_zeros():
    q, s = quantize(torch.zeros(4), TensorCode(5))
    assert (q == 0).all() and (dequantize(q, s) == 0).all()


def test_codes_outside_the_level_range_are_refused():
    assert TensorCode.of_bits(16).levels == MAX_LEVELS and TensorCode.of_bits(8).levels == 127
    with pytest.raises(ValueError):
        TensorCode(0)
    with pytest.raises(ValueError):
        TensorCode(MAX_LEVELS + 1)


def test_fake_quantization_rounds_forward_and_passes_gradients_straight_through():
    t = torch.randn(10, generator=torch.Generator().manual_seed(1), requires_grad=True)
    code = TensorCode(3)
    out = fake_quantize(t, code)
    assert torch.equal(out.detach(), dequantize(*quantize(t, code)))
    out.sum().backward()
    assert torch.equal(t.grad, torch.ones(10))


def test_a_fake_quantized_field_computes_with_the_rounded_weights_and_keeps_its_float_ones():
    field_ = build_field(FieldConfig(width=8, depth=1, out_dim=3), seed=2)
    floats = {name: t.clone() for name, t in named_tensors(field_)}
    codes = [TensorCode(7) for _ in floats]
    rounded = build_field(FieldConfig(width=8, depth=1, out_dim=3))
    rounded.load_state_dict({name: dequantize(*quantize(t, code)) for (name, t), code in zip(floats.items(), codes)})
    x = torch.rand(20, 2) * 2 - 1
    add_fake_quantization(field_, codes)
    assert torch.allclose(field_(x), rounded(x), atol=1e-6)
    assert not torch.allclose(field_(x), build_field(FieldConfig(width=8, depth=1, out_dim=3), seed=2)(x), atol=1e-3)
    remove_fake_quantization(field_)
    assert list(dict(named_tensors(field_))) == list(floats)
    assert all(torch.equal(t, floats[name]) for name, t in named_tensors(field_))
