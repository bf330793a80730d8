import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from sirenkit.compression.container import Quantized, encode
from sirenkit.compression.quantization import TensorCode, dequantize, quantize
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field
from sirenkit.fit import FitConfig
from sirenkit.recipes.compress import (
    COMPRESS,
    FIRST_LAYER_BITS,
    HEADER_BYTES,
    LEVEL_LADDER,
    MEASURE_POINTS,
    architecture,
    check_rate,
    choose_codes,
    codes_for,
    compress_at_rate,
    decompress,
    field_parameters,
    fine_tune,
    level_ratios,
    measure,
    search_rate,
    sensitivities,
    within_memory,
)
from sirenkit.recipes.image import ImageKind, render_image
from sirenkit.recipes.kind import fit_signal
from sirenkit.signals import image_from_array

QUICK = replace(COMPRESS, seconds=120.0, steps=400, precision="fp32", depth=2, batch=1536)


@pytest.mark.parametrize("budget", [300, 2000, 15000, 60000])
def test_the_architecture_is_the_widest_whose_weights_fit_the_budget(budget):
    config = architecture(FieldConfig(out_dim=3), budget, 10**9)
    bits = 8 * (budget - HEADER_BYTES)
    assert config.depth == COMPRESS.depth and config.model == "siren"
    assert field_parameters(config) * COMPRESS.bits_per_weight <= bits
    assert field_parameters(replace(config, width=config.width + 1)) * COMPRESS.bits_per_weight > bits
    assert sum(p.numel() for p in build_field(config).parameters()) == field_parameters(config)


def test_a_budget_too_small_for_any_field_is_refused():
    with pytest.raises(InputError, match="too small"):
        architecture(FieldConfig(out_dim=3), HEADER_BYTES + 10, 10**9)


@pytest.mark.parametrize("values", [64, 1024, 4608])
def test_the_architecture_has_no_more_parameters_than_the_signal_has_values(values):
    config = architecture(FieldConfig(out_dim=3), 10**12, values)  # a budget no field needs
    assert field_parameters(config) <= values < field_parameters(replace(config, width=config.width + 1))
    assert architecture(FieldConfig(out_dim=3), 10**12, 10).width == 2  # the narrowest field, whatever the values


def test_the_field_is_narrowed_to_what_memory_allows(astronaut32, monkeypatch):
    import sirenkit.recipes.compress as codec

    config = replace(architecture(FieldConfig(out_dim=3), 10**12, 10**9), width=400)
    requests = ImageKind().requests(astronaut32, replace(config, width=40), 1536, "cpu")
    monkeypatch.setattr(codec, "available_memory", lambda device: max(request.bytes for request in requests))
    assert within_memory(ImageKind(), astronaut32, config, 1536, "cpu").width == 40


def test_a_rate_is_checked_before_training_a_narrower_field_when_the_planned_ones_file_cannot_fit(monkeypatch):
    import sirenkit.recipes.compress as codec

    gray, color = (image_from_array(np.full((32, 32, c), 128, np.uint8)) for c in (1, 3))
    budget = 320  # 2.5 bpp of 32×32
    planned = architecture(ImageKind().field_config(gray, FieldConfig()), budget, 1024, QUICK)
    narrowed = check_rate(ImageKind(), gray, planned, budget)
    assert 2 < narrowed.width < planned.width
    compressed = compress_at_rate(ImageKind(), gray, 2.5, replace(QUICK, steps=20))
    assert len(compressed.data) <= budget and compressed.quantized.config.width == narrowed.width

    def never(*args, **kwargs):
        raise AssertionError("trained before the rate was checked")

    monkeypatch.setattr(codec, "fit_signal", never)
    with pytest.raises(InputError, match="256 bytes is too small for any representation"):
        compress_at_rate(ImageKind(), color, 2.0, COMPRESS)  # a field is planned, but not even width 2 fits


def test_a_search_the_budget_cannot_bound_is_refused_before_training(astronaut32, monkeypatch):
    import sirenkit.recipes.compress as codec

    def never(*args, **kwargs):
        raise AssertionError("trained before the search was bounded")

    monkeypatch.setattr(codec, "fit_signal", never)
    with pytest.raises(InputError, match=r"would take about .* more than --seconds 1e-06; ask for a lower rate"):
        compress_at_rate(ImageKind(), astronaut32, 6.0, replace(QUICK, seconds=1e-6))


def test_the_first_layer_and_every_bias_get_the_first_layers_bits_and_the_other_weights_the_levels():
    field_ = build_field(FieldConfig(width=8, depth=2, out_dim=3))
    codes = dict(zip(field_.state_dict(), codes_for(field_, 12, 63, per_channel=True), strict=True))
    twelve_bits = TensorCode.of_bits(12)
    assert codes.pop("layers.0.weight") == twelve_bits
    for name, code in codes.items():
        assert code == (twelve_bits if name.endswith("bias") else TensorCode(63, per_channel=True)), name


def test_levels_are_shared_out_as_the_square_root_of_each_tensors_rounding_cost_per_weight():
    field_ = build_field(FieldConfig(width=8, depth=2, out_dim=3))
    names = list(field_.state_dict())  # layers.0, layers.1, layers.2 (8×8 each), head (3×8); weight, bias
    costs = [0.0] * len(names)
    costs[names.index("layers.1.weight")] = 4.0
    costs[names.index("layers.2.weight")] = 1.0
    costs[names.index("head.weight")] = 0.0  # nothing measurable: the floor, then the limit
    ratios = dict(zip(names, level_ratios(field_, costs), strict=True))
    assert ratios["layers.1.weight"] == pytest.approx(2 * ratios["layers.2.weight"])
    assert ratios["head.weight"] == pytest.approx(1 / 4)
    assert all(ratios[name] == 1.0 for name in names if name.startswith("layers.0.") or name.endswith("bias"))
    codes = dict(zip(names, codes_for(field_, 12, 100, False, list(ratios.values())), strict=True))
    assert codes["layers.1.weight"].levels == round(100 * ratios["layers.1.weight"])
    assert codes["layers.0.weight"] == codes["head.bias"] == TensorCode.of_bits(12)


@pytest.fixture(scope="module")
def fitted(astronaut32):
    config = FieldConfig(width=16, depth=2, out_dim=3)
    fit_config = FitConfig(steps=300, lr=1e-3, schedule="cosine", precision="fp32", checkpoint_every=0)
    return fit_signal(ImageKind(), astronaut32, config, fit_config, batch=None, quiet=True).result.representation


def test_the_chosen_quantization_fits_and_is_within_a_percent_of_the_least_loss_of_those_that_fit(astronaut32, fitted):
    sizes = {}
    for first in FIRST_LAYER_BITS:
        for levels in LEVEL_LADDER:
            for per_channel in (False, True):
                codes = codes_for(fitted.field, first, levels, per_channel)
                sizes[(first, levels, per_channel)] = (len(encode(Quantized.of(fitted, codes))), codes)
    budget = sorted(size for size, _ in sizes.values())[len(sizes) // 2]
    chosen = choose_codes(ImageKind(), astronaut32, fitted, budget, "cpu")
    assert len(encode(Quantized.of(fitted, chosen))) <= budget

    def loss(codes):
        return measure(ImageKind(), astronaut32, Quantized.of(fitted, codes).representation(), "cpu", MEASURE_POINTS)[
            "loss"
        ]

    # the search takes each candidate's most levels that fit, by bisection; the size grows and the loss
    # falls with the levels only nearly monotonically, so the chosen one may miss the least by a hair
    assert loss(chosen) <= 1.01 * min(loss(codes) for size, codes in sizes.values() if size <= budget)
    assert choose_codes(ImageKind(), astronaut32, fitted, min(s for s, _ in sizes.values()) - 1, "cpu") is None


def test_a_search_out_of_time_keeps_the_best_candidate_it_measured(astronaut32, fitted):
    budget = 2000
    first = choose_codes(ImageKind(), astronaut32, fitted, budget, "cpu", seconds=0.0)  # the first candidate only
    assert first is not None and len(encode(Quantized.of(fitted, first))) <= budget
    codes = dict(zip(fitted.field.state_dict(), first, strict=True))
    assert codes == dict(zip(codes, codes_for(fitted.field, FIRST_LAYER_BITS[0], codes["head.weight"].levels, False)))


def test_a_tensors_sensitivity_is_the_loss_its_rounding_alone_adds(astronaut32, fitted):
    before = {name: tensor.clone() for name, tensor in fitted.field.state_dict().items()}
    costs = dict(zip(before, sensitivities(ImageKind(), astronaut32, fitted, "cpu"), strict=True))
    rounded = replace(fitted, field=copy.deepcopy(fitted.field))
    weight = rounded.field.state_dict()["layers.1.weight"]
    weight.copy_(dequantize(*quantize(weight, TensorCode(63))))

    def loss(representation):
        return measure(ImageKind(), astronaut32, representation, "cpu", MEASURE_POINTS)["loss"]

    assert costs["layers.1.weight"] == pytest.approx(loss(rounded) - loss(fitted), rel=1e-6)
    assert costs["layers.1.weight"] > 0
    assert costs["layers.0.weight"] == costs["layers.1.bias"] == 0.0  # quantized by FIRST_LAYER_BITS instead
    assert all(torch.equal(before[name], tensor) for name, tensor in fitted.field.state_dict().items())


def test_fine_tuning_through_the_rounding_lowers_the_rounded_fields_loss(astronaut32, fitted):
    representation = replace(fitted, field=copy.deepcopy(fitted.field))
    codes = [TensorCode(7) for _ in representation.field.state_dict()]
    before = measure(ImageKind(), astronaut32, Quantized.of(representation, codes).representation(), "cpu")["loss"]
    fine_tune(
        ImageKind(), astronaut32, representation, codes, replace(QUICK, qat=0.5), device="cpu", quiet=True, seed=0
    )
    after = measure(ImageKind(), astronaut32, Quantized.of(representation, codes).representation(), "cpu")["loss"]
    assert after < 0.8 * before
    assert not any("parametrizations" in name for name in representation.field.state_dict())


def test_a_compressed_image_fits_its_rate_and_decodes_the_same_every_time(astronaut32):
    pixels = math.prod(astronaut32.shape)
    compressed = compress_at_rate(ImageKind(), astronaut32, 6.0, QUICK)
    assert compressed.data == compress_at_rate(ImageKind(), astronaut32, 6.0, QUICK).data  # a step budget: same file
    assert len(compressed.data) <= math.floor(6.0 * pixels / 8)
    assert compressed.bpp == pytest.approx(8 * len(compressed.data) / pixels)
    first, second = decompress(compressed.data), decompress(compressed.data)
    assert np.array_equal(render_image(first), render_image(second))
    assert compressed.measures == measure(ImageKind(), astronaut32, first, "cpu")
    assert compressed.measures["psnr"] > 20
    assert list(compressed.stages) == ["fit", "rounded", "fine-tuned"]
    assert compressed.measures == min(
        (compressed.stages["rounded"], compressed.stages["fine-tuned"]), key=lambda m: m["loss"]
    )
    assert compressed.summary()["stages"]["fit"]["psnr"] == round(compressed.stages["fit"]["psnr"], 3)
    assert render_image(first, (64, 96)).shape == (64, 96, 3)
    assert first.signal == {"kind": "image", "shape": [32, 48], "channels": 3, "bit_depth": 8}


def test_a_fine_tuning_that_measures_worse_than_the_plain_rounding_is_not_kept(astronaut32, monkeypatch):
    import sirenkit.recipes.compress as codec

    def no_tuning(kind, signal, representation, codes, settings, **_):
        return 0.0

    def harmful_tuning(kind, signal, representation, codes, settings, **_):
        with torch.no_grad():
            for parameter in representation.field.parameters():
                parameter.mul_(0.5)
        return 0.0

    monkeypatch.setattr(codec, "fine_tune", no_tuning)
    plain = compress_at_rate(ImageKind(), astronaut32, 6.0, QUICK)
    monkeypatch.setattr(codec, "fine_tune", harmful_tuning)
    kept = compress_at_rate(ImageKind(), astronaut32, 6.0, QUICK)
    assert kept.data == plain.data and kept.measures == plain.measures == kept.stages["rounded"]
    assert kept.stages["fine-tuned"]["loss"] > kept.stages["rounded"]["loss"]


def test_a_rate_no_field_fits_is_refused(astronaut32):
    with pytest.raises(InputError, match="too small"):
        compress_at_rate(ImageKind(), astronaut32, 0.05, QUICK)
    with pytest.raises(InputError, match="bpp must be a positive number"):
        compress_at_rate(ImageKind(), astronaut32, float("nan"), QUICK)


def test_the_rate_search_returns_the_smallest_file_that_reached_the_psnr(astronaut32):
    found = search_rate(ImageKind(), astronaut32, 18.0, replace(QUICK, max_fits=2))
    assert found.measures["psnr"] >= 18.0
    with pytest.raises(InputError, match=r"no file reached 90 dB in 2 fits; the best was"):
        search_rate(ImageKind(), astronaut32, 90.0, replace(QUICK, max_fits=2))


def test_settings_out_of_range_are_refused():
    bad_settings = [{"seconds": 0}, {"qat": 1.0}, {"depth": -1}, {"max_fits": 0}, {"steps": 1}]
    bad_settings += [{"bits_per_weight": bits} for bits in (0, 1e-9, 1e9, float("nan"))]
    for bad in bad_settings:
        with pytest.raises(InputError):
            replace(COMPRESS, **bad)
