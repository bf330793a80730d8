"""Compression: a signal stored as its quantized, entropy-coded representation.

`compress_at_rate(kind, signal, B)` makes the best file it can of at most B bits per sample point
(per pixel for an image), every byte of the file counted:

1. the architecture comes from the budget (`architecture`: a SIREN of `COMPRESS.depth` hidden
   layers, as wide as the budget allows at `COMPRESS.bits_per_weight` bits per weight, with no
   more parameters than the signal has values, and no wider than memory allows: `within_memory`);
   before training, the initialized field's coarsest quantization must fit the budget
   (`check_rate`: a narrower field where it does not, `RateTooLow` where not even the narrowest's does);
2. the field is fitted in float through the kind's fit path (`fit_signal`);
3. the quantization is chosen by measured rate–distortion (`choose_codes`): for each candidate
   width of the first layer's and the biases' integers and each choice of per-tensor or
   per-channel scales, the other weights get as many levels as the budget holds (the file
   encoded and counted), the same for each tensor or shared out by what rounding each costs
   (`sensitivities`, `level_ratios`); the candidate with the least error on sample points wins;
4. quantization-aware fine-tuning trains the float weights through the rounding (straight-through
   gradients) for the last `COMPRESS.qat` share of the time budget (or of the steps); its rounding
   is kept only when it measures better, on every sample point, than the rounding of step 3 (a
   fit trained close to its optimum can come out of fine-tuning worse);
5. the file is written by `compression.container.encode` (brotli-coded integers).

Bounds. The work around training is bounded by the signal and by the time budget: the field by
the signal's values and by memory (step 1); each quantization search starts no candidate once
`seconds` have passed since it began (`choose_codes`), and a rate whose search could not measure
even its first candidate in `seconds`, by the time an encode and a measure of the initialized
field take, is refused before training (`check_search_time`). Encodes run in a thread of their
own, waited on from the caller's (`_encoded`), so that Ctrl-C acts at once, even mid-encode.

`search_rate(kind, signal, P)` looks for the smallest file that reaches P dB.
`decompress(data)` reads a file back into a `Representation`, which the kind's renderer draws at
any size.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Any, Literal

import torch

from sirenkit.compression.container import PREFIX, Quantized, decode, encode
from sirenkit.compression.quantization import (
    MAX_LEVELS,
    TensorCode,
    add_fake_quantization,
    dequantize,
    named_tensors,
    quantize,
    remove_fake_quantization,
)
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field
from sirenkit.fit import FitConfig, fit
from sirenkit.recipes.kind import Kind, fit_signal
from sirenkit.resources import available_memory
from sirenkit.store import Representation

BITS_PER_WEIGHT = (1.0, 16.0)
"""The range of `CompressConfig.bits_per_weight`: sized for fewer bits, the field is wider than the
coarsest levels `choose_codes` tries could store in the budget; for more, narrower than the widest
integers it stores (`FIRST_LAYER_BITS`) need."""


@dataclass(frozen=True)
class CompressConfig:
    """Settings of the codec; `COMPRESS` holds the defaults of `sirenkit compress`."""

    seconds: float = 60.0
    """Training time per fit, in seconds (float fit and fine-tuning together); it also bounds each
    quantization search (module docstring, "Bounds")."""
    steps: int | None = None
    """Also stop each fit after this many steps (float fit and fine-tuning together): with a
    `seconds` that does not run out first, the same file on every run. None: time only."""
    qat: float = 0.25
    """Share of `seconds` given to quantization-aware fine-tuning."""
    depth: int = 5
    """Hidden width×width layers of the SIREN; its width comes from the budget (`architecture`)."""
    bits_per_weight: float = 7.0
    """Bits per weight the architecture is sized for: about what brotli makes of a trained SIREN's
    8-bit integers. The quantization then fills the budget whatever the sizing (`choose_codes`)."""
    lr: float = 1e-3
    """Adam's learning rate for the float fit (cosine decay); fine-tuning starts at a tenth."""
    lr_rsqrt_after: int = 3000
    """Steps after which both fits' rates also decay as 1/√step (`FitConfig.lr_rsqrt_after`): a
    SIREN fitted at a constant 1e-3 degrades after some thousands of steps, so a long --seconds
    needs its rate brought down by the steps, not only by the cosine over the budget (README,
    "Compression"). 0: the cosine only."""
    lr_plateau: int = 1000
    """Steps without a new low of the smoothed loss after which a fit halves its rate
    (`FitConfig.lr_plateau`): a highly textured image can be too much for a rate that suits a
    smooth one, and its loss then climbs for thousands of steps; the plateau halves it there
    (README, "Compression"). 0: never."""
    batch: int = 8192
    """Sample points per step."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """Products of the hidden layers while training: auto, fp32 or bf16 (`FitConfig.precision`)."""
    max_fits: int = 4
    """--psnr: fits tried at most while searching for the rate."""

    def __post_init__(self) -> None:
        if not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise InputError(f"seconds must be a positive number, got {self.seconds}")
        if not 0 <= self.qat < 1:
            raise InputError(f"qat must be in [0, 1), got {self.qat}")
        if self.depth < 0:
            raise InputError(f"depth must be at least 0, got {self.depth}")
        low, high = BITS_PER_WEIGHT
        if not low <= self.bits_per_weight <= high:
            raise InputError(f"bits-per-weight must be between {low:g} and {high:g}, got {self.bits_per_weight:g}")
        if self.steps is not None and self.steps < 2:
            raise InputError(f"steps must be at least 2, got {self.steps}")
        if self.batch < 1 or self.max_fits < 1:
            raise InputError("batch and max-fits must be at least 1")

    @property
    def float_steps(self) -> int:
        """The float fit's share of `steps` (unbounded when steps is None)."""
        return UNBOUNDED if self.steps is None else max(1, round((1 - self.qat) * self.steps))

    def fit_config(self, lr: float, steps: int, seconds: float, seed: int) -> FitConfig:
        """The training settings of one of the codec's fits (float fit or fine-tuning): Adam from
        `lr` with cosine decay over `steps` or `seconds`, whichever ends first, capped past
        `lr_rsqrt_after` steps and halved on a plateau of `lr_plateau` steps, at this precision."""
        return FitConfig(
            steps=steps,
            lr=lr,
            schedule="cosine",
            lr_rsqrt_after=self.lr_rsqrt_after,
            lr_plateau=self.lr_plateau,
            precision=self.precision,
            max_seconds=seconds,
            seed=seed,
        )

    @property
    def qat_steps(self) -> int:
        """Fine-tuning's share of `steps` (unbounded when steps is None)."""
        return UNBOUNDED if self.steps is None else max(1, self.steps - self.float_steps)


UNBOUNDED = 10**12
"""Steps of a fit that only its time budget ends."""
COMPRESS = CompressConfig()

FIRST_LAYER_BITS = (10, 12, 16)
"""Bits of the first layer's integers, and of every bias's, that `choose_codes` tries. They get
more than the other weights because their errors reach a sine unaveraged: the first layer's
weights are multiplied by ω0, so an error there shifts a feature's frequency, and a bias b enters
as ω0·b, so an error there shifts its phase, where a hidden weight's error is averaged over the
layer's inputs. Biases are few, so the finer steps cost little."""
LEVEL_LADDER = tuple(sorted({round(3 * 1.05**k) for k in range(120)}))
"""The levels (largest |q|) `choose_codes` tries for the other tensors: 3 to 997 in steps of
about 5%, so that a file can fill its budget closely."""
SENSITIVITY_LEVELS = 63
"""Levels at which `sensitivities` rounds each tensor to measure what its rounding costs."""
RATIO_LIMIT = 4.0
"""The most, and one over the least, that `level_ratios` gives a tensor's levels relative to the
others'."""


def codes_for(
    field_: torch.nn.Module,
    first_bits: int,
    levels: int,
    per_channel: bool,
    ratios: list[float] | None = None,
) -> list[TensorCode]:
    """One code per tensor (`named_tensors` order): `first_bits`-bit integers for the first
    layer's weight and for every bias (`FIRST_LAYER_BITS`), `levels` for the other weights (times
    each tensor's entry of `ratios`, rounded, when given: `level_ratios`), with per-channel scales
    if asked."""
    tensors = named_tensors(field_)
    return [
        TensorCode.of_bits(first_bits)
        if _gets_first_bits(name, tensor)
        else TensorCode(min(MAX_LEVELS, max(1, round(levels * ratio))), per_channel)
        for (name, tensor), ratio in zip(tensors, ratios or [1.0] * len(tensors), strict=True)
    ]


def _gets_first_bits(name: str, tensor: torch.Tensor) -> bool:
    """Whether a tensor is the first layer's weight or a bias (`FIRST_LAYER_BITS`)."""
    return name.startswith("layers.0.") or tensor.dim() == 1


def level_ratios(field_: torch.nn.Module, costs: list[float]) -> list[float]:
    """Each tensor's levels relative to the others' (`named_tensors` order; 1 for the first
    layer and the biases), from `costs`, what rounding each tensor alone costs (`sensitivities`).

    The rule is high-rate rate–distortion: a tensor of n weights rounded with L levels adds about
    c·(L₀/L)² to the loss and costs n·log₂ L bits, so the least loss for the bits gives
    L ∝ √(c/n). The ratios are normalized to a geometric mean of 1 over the weights, each cost
    is taken as at least a thousandth of the largest (a tensor whose rounding costs nothing
    measurable still needs some levels), and each ratio is kept within
    [1/`RATIO_LIMIT`, `RATIO_LIMIT`]."""
    tensors = named_tensors(field_)
    allocated = [i for i, (name, tensor) in enumerate(tensors) if not _gets_first_bits(name, tensor)]  # head at least
    floor = 1e-3 * max(max(costs[i] for i in allocated), 1e-30)
    sizes = {i: tensors[i][1].numel() for i in allocated}
    logs = {i: 0.5 * math.log(max(costs[i], floor) / sizes[i]) for i in allocated}
    mean = sum(logs[i] * sizes[i] for i in allocated) / sum(sizes.values())
    ratios = [1.0] * len(tensors)
    for i in allocated:
        ratios[i] = min(RATIO_LIMIT, max(1 / RATIO_LIMIT, math.exp(logs[i] - mean)))
    return ratios


def sensitivities(kind: Kind, signal: Any, representation: Representation, device: torch.device | str) -> list[float]:
    """What rounding each tensor alone costs (`named_tensors` order): the loss on
    `MEASURE_POINTS` sample points with that tensor rounded at `SENSITIVITY_LEVELS` levels (one
    scale) and the others in float, less the float field's loss (0 for the first layer and the
    biases, which `FIRST_LAYER_BITS` quantize instead)."""
    tensors = named_tensors(representation.field)
    base = measure(kind, signal, representation, device, MEASURE_POINTS)["loss"]
    costs = [0.0] * len(tensors)
    for i, (name, tensor) in enumerate(tensors):
        if _gets_first_bits(name, tensor):
            continue
        rounded = replace(representation, field=copy.deepcopy(representation.field))
        rounded.field.state_dict()[name].copy_(dequantize(*quantize(tensor, TensorCode(SENSITIVITY_LEVELS))))
        costs[i] = measure(kind, signal, rounded, device, MEASURE_POINTS)["loss"] - base
    return costs


HEADER_BYTES = PREFIX + 150
"""Bytes the architecture rule sets aside for the container's prefix and its brotli-coded header
and per-tensor scales."""


class RateTooLow(InputError):
    """No field, or no quantization of the planned field, fits the budget."""


def field_parameters(config: FieldConfig) -> int:
    """Parameters of a SIREN of `config`'s shape: first layer, `depth` hidden, head."""
    w = config.width
    return (config.in_dim + 1) * w + config.depth * (w + 1) * w + (w + 1) * config.out_dim


def planned_bytes(config: FieldConfig, settings: CompressConfig = COMPRESS) -> float:
    """The file size the architecture rule plans for a field of `config`: `HEADER_BYTES` and
    `settings.bits_per_weight` per parameter."""
    return HEADER_BYTES + field_parameters(config) * settings.bits_per_weight / 8


def narrowest(config: FieldConfig, settings: CompressConfig = COMPRESS) -> FieldConfig:
    """The least field the codec makes: a SIREN of `settings.depth` hidden layers of 2 features
    (`config` gives the inputs, outputs and ω0)."""
    return replace(config, model="siren", depth=settings.depth, width=2)


def architecture(
    config: FieldConfig, budget_bytes: int, values: int, settings: CompressConfig = COMPRESS
) -> FieldConfig:
    """The widest SIREN of `settings.depth` hidden layers whose `planned_bytes` fit `budget_bytes`
    and whose parameters do not outnumber the signal's `values` (samples × channels: parameters
    past the values buy no fidelity, only training and search time); `config` gives the inputs,
    outputs and ω0. `RateTooLow` when not even `narrowest` fits the budget; `narrowest` itself
    when it alone outnumbers the values."""
    shaped = narrowest(config, settings)
    if planned_bytes(shaped, settings) > budget_bytes:
        raise RateTooLow(_too_small(budget_bytes))
    return _widest(
        shaped,
        lambda candidate: planned_bytes(candidate, settings) <= budget_bytes and field_parameters(candidate) <= values,
    )


def _too_small(budget_bytes: int) -> str:
    return f"{budget_bytes} bytes is too small for any representation; ask for a higher rate"


def _widest(shaped: FieldConfig, fits: Callable[[FieldConfig], bool], high: int | None = None) -> FieldConfig:
    """`shaped` at the largest width from its own up that `fits` (a test that holds up to some
    width and fails past it), no wider than `high` (None: bracketed by doubling the width), found
    by bisection; `shaped` when no wider one fits."""
    low = shaped.width
    if high is None:
        high = low
        while fits(replace(shaped, width=2 * high)):
            high *= 2
        low, high = high, 2 * high - 1
    while low < high:
        mid = (low + high + 1) // 2
        if fits(replace(shaped, width=mid)):
            low = mid
        else:
            high = mid - 1
    return replace(shaped, width=low)


def within_memory(kind: Kind, signal: Any, config: FieldConfig, batch: int, device: torch.device | str) -> FieldConfig:
    """`config` narrowed to the widest field whose fit on `batch` points a step the kind's memory
    requests (`Kind.requests`) leave room for; width 2 when none does (the fit then refuses it,
    saying what to lower)."""
    free: dict[str, int] = {}

    def fits(candidate: FieldConfig) -> bool:
        for request in kind.requests(signal, candidate, batch, device):
            if request.device not in free:
                free[request.device] = available_memory(request.device)
            if request.bytes > free[request.device]:
                return False
        return True

    return _widest(replace(config, width=2), fits, config.width)


def coarsest_codes(field_: torch.nn.Module) -> list[TensorCode]:
    """The coarsest quantization `choose_codes` gives every tensor alike: `FIRST_LAYER_BITS[0]`
    bits, `LEVEL_LADDER[0]` levels, one scale per tensor."""
    return codes_for(field_, FIRST_LAYER_BITS[0], LEVEL_LADDER[0], False)


def initialized(kind: Kind, signal: Any, config: FieldConfig, seed: int) -> Representation:
    """The untrained representation of `signal` that a fit of `config` from `seed` starts from."""
    return Representation(build_field(config, seed=seed), config, {"kind": kind.name, **kind.metadata(signal)})


def coarsest_file(representation: Representation) -> bytes:
    """The file of `representation` quantized at `coarsest_codes`."""
    return _encoded(Quantized.of(representation, coarsest_codes(representation.field)))


RATE_MARGIN = 0.1
"""The share by which `check_rate` lets a trained field's coarsest file outgrow the initialized
field's."""


def check_rate(kind: Kind, signal: Any, config: FieldConfig, budget_bytes: int, seed: int = 0) -> FieldConfig:
    """Before training: the widest field no wider than `config` whose initialized weights'
    `coarsest_codes` file, `RATE_MARGIN` larger, fits `budget_bytes`, so that a quantization of the
    trained field fits. An initialized SIREN's weights are uniform, so their rounding fills every
    level evenly, and a trained field's file at that code comes out smaller; but where the file is
    mostly header and float scales, brotli's way with a small input can make it somewhat larger,
    which the margin covers. `RateTooLow` when not even width 2 fits."""

    def fits(candidate: FieldConfig) -> bool:
        return len(coarsest_file(initialized(kind, signal, candidate, seed))) * (1 + RATE_MARGIN) <= budget_bytes

    if fits(config):
        return config
    if not fits(replace(config, width=2)):
        raise RateTooLow(_too_small(budget_bytes))
    return _widest(replace(config, width=2), fits, config.width - 1)


SEARCH_STEPS = math.ceil(math.log2(len(LEVEL_LADDER) + 1))
"""Encodes that one candidate of `choose_codes` takes: a bisection over the levels of
`LEVEL_LADDER` and the outcome that none fits."""
ENCODE_PLANES = 2
"""How many times longer than the coarsest file a candidate's file can take to encode: its
integers take up to two byte planes (`compression.container.plane_count`) where the coarsest's take one."""
PROBE_PARAMETERS = 2**16
"""Parameters, at most, of the field `check_search_time` times: a wider field's times are scaled
from a narrower one's, so that the estimate costs little whatever the field."""


def check_search_time(
    kind: Kind, signal: Any, config: FieldConfig, settings: CompressConfig, device: torch.device | str, seed: int = 0
) -> None:
    """Before training: refuse (InputError) a field whose quantization search could not measure
    its first candidate within `settings.seconds`, by the time its initialized form takes to
    encode (`coarsest_file`) and to `measure`: the `sensitivities` (a measure per tensor and one
    more), then `SEARCH_STEPS` encodes of up to `ENCODE_PLANES` times that time and a measure.
    The times are those of the field narrowed to at most `PROBE_PARAMETERS` parameters, scaled by
    the parameters (an encode's bytes and a measure's products grow in proportion to them)."""
    probe = _widest(replace(config, width=2), lambda c: field_parameters(c) <= PROBE_PARAMETERS, config.width)
    representation = initialized(kind, signal, probe, seed)
    begin = time.perf_counter()
    coarsest_file(representation)
    encoding = time.perf_counter() - begin
    measure(kind, signal, representation, device, MEASURE_POINTS)
    measuring = time.perf_counter() - begin - encoding
    tensors = len(named_tensors(representation.field))
    scale = field_parameters(config) / field_parameters(probe)
    estimate = scale * ((tensors + 2) * measuring + SEARCH_STEPS * ENCODE_PLANES * encoding)
    if estimate > settings.seconds:
        raise InputError(
            f"choosing how to quantize a width-{config.width} field would take about {estimate:.2f} s for its "
            f"first candidate, more than --seconds {settings.seconds:g}; ask for a lower rate or give more --seconds"
        )


@dataclass
class Compressed:
    """A compressed signal: the file's bytes, what they hold, and how well they represent it."""

    data: bytes
    quantized: Quantized
    points: int
    """Sample points of the signal (pixels of an image): the denominator of the rate."""
    measures: dict[str, float]
    """The kind's measures of the decoded representation on every sample point (PSNR for an image)."""
    seconds: float
    """Training time spent: the float fit and the fine-tuning."""
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    """The kind's measures on every sample point after each stage: "fit" (the float field),
    "rounded" (its rounding) and "fine-tuned" (the rounding after fine-tuning, when there was
    one); `measures` are those of the stage whose file was kept. Where the decibels go."""

    @property
    def bpp(self) -> float:
        """Bits of the whole file per sample point."""
        return 8 * len(self.data) / self.points

    def summary(self) -> dict[str, Any]:
        config = self.quantized.config
        return {
            "bytes": len(self.data),
            "bpp": round(self.bpp, 5),
            **{k: round(v, 3) for k, v in self.measures.items()},
            "width": config.width,
            "depth": config.depth,
            "levels": sorted({code.levels for code in self.quantized.codes}),
            "bits_per_weight": round(8 * len(self.data) / sum(q.numel() for q in self.quantized.integers), 3),
            "training_seconds": round(self.seconds, 1),
            "stages": {stage: {k: round(v, 3) for k, v in m.items()} for stage, m in self.stages.items()},
        }


def sample_points(kind: Kind, signal: Any) -> int:
    """How many sample points the signal has: the product of its grid's shape."""
    return math.prod(kind.metadata(signal)["shape"])


MEASURE_POINTS = 65536
"""Sample points (one fixed draw) on which `choose_codes` compares quantizations."""


def measure(
    kind: Kind,
    signal: Any,
    representation: Representation,
    device: torch.device | str,
    points: int | None = None,
) -> dict[str, float]:
    """The summed loss on `points` sample points (one fixed draw; all when None) and the kind's
    live metrics of it (PSNR for an image)."""
    problem = kind.problem(signal, points, device)
    field_ = representation.field.to(device)
    with torch.no_grad():
        terms = problem.losses(field_, torch.Generator().manual_seed(0), device)
    live = kind.live_metrics(signal)
    return {"loss": float(sum(terms.values())), **(live(terms) if live is not None else {})}


def choose_codes(
    kind: Kind,
    signal: Any,
    representation: Representation,
    budget_bytes: int,
    device: torch.device | str,
    seconds: float | None = None,
) -> list[TensorCode] | None:
    """The quantization with the least loss on `MEASURE_POINTS` sample points whose file fits
    `budget_bytes`; None when none fits. For each width of the first layer's and the biases'
    integers (`FIRST_LAYER_BITS`) and each choice of per-tensor or per-channel scales, the other
    weights get the most levels of `LEVEL_LADDER` that fit (a bisection: the file grows with the
    levels), either the same for every such tensor or shared out by what rounding each costs
    (`sensitivities`, `level_ratios`), so the file fills its budget; the candidates are then
    measured against each other. Once `seconds` have passed (None: no limit) and a candidate fits,
    no further candidate starts: the best measured is returned."""
    begin = time.perf_counter()
    best: tuple[float, list[TensorCode]] | None = None
    by_cost = level_ratios(representation.field, sensitivities(kind, signal, representation, device))
    for first_bits, per_channel, ratios in product(FIRST_LAYER_BITS, (False, True), (None, by_cost)):
        if best is not None and seconds is not None and time.perf_counter() - begin > seconds:
            break
        codes = _most_levels(representation, first_bits, per_channel, ratios, budget_bytes)
        if codes is None:
            continue
        rounded = Quantized.of(representation, codes).representation()
        loss = measure(kind, signal, rounded, device, MEASURE_POINTS)["loss"]
        if best is None or loss < best[0]:
            best = (loss, codes)
    return None if best is None else best[1]


def _most_levels(
    representation: Representation,
    first_bits: int,
    per_channel: bool,
    ratios: list[float] | None,
    budget_bytes: int,
) -> list[TensorCode] | None:
    """The codes with the most `LEVEL_LADDER` levels whose file fits; None when none does."""

    def fits(levels: int) -> bool:
        codes = codes_for(representation.field, first_bits, levels, per_channel, ratios)
        return len(_encoded(Quantized.of(representation, codes))) <= budget_bytes

    low, high = -1, len(LEVEL_LADDER) - 1  # LEVEL_LADDER[: low + 1] is known to fit
    while low < high:
        mid = (low + high + 1) // 2
        if fits(LEVEL_LADDER[mid]):
            low = mid
        else:
            high = mid - 1
    return None if low < 0 else codes_for(representation.field, first_bits, LEVEL_LADDER[low], per_channel, ratios)


def _encoded(quantized: Quantized) -> bytes:
    """`encode(quantized)` run in a daemon thread and waited on here, so that Ctrl-C acts at once:
    Python raises KeyboardInterrupt between bytecodes only, and one call into brotli (which lets
    other threads run) is one bytecode however long it takes. An encode whose wait was interrupted
    finishes, unread, in its thread."""
    done: Future[bytes] = Future()

    def run() -> None:
        try:
            done.set_result(encode(quantized))
        except BaseException as error:  # handed to the waiting thread, which raises it
            done.set_exception(error)

    threading.Thread(target=run, name="sirenkit-encode", daemon=True).start()
    return done.result()


def compress_at_rate(
    kind: Kind,
    signal: Any,
    bpp: float,
    settings: CompressConfig = COMPRESS,
    *,
    field_config: FieldConfig | None = None,
    device: torch.device | str = "cpu",
    quiet: bool = True,
    seed: int = 0,
) -> Compressed:
    """The best file of at most `bpp` bits per sample point this codec makes of `signal` in
    `settings.seconds` of training (module docstring: architecture, fit, measured quantization,
    fine-tuning, entropy coding, and the bounds on each). `RateTooLow` when no field, or no
    quantization of it, fits; InputError, before training, for a field whose quantization search
    `settings.seconds` cannot bound (`check_search_time`)."""
    if not (bpp > 0 and math.isfinite(bpp)):
        raise InputError(f"bpp must be a positive number, got {bpp}")
    points = sample_points(kind, signal)
    budget = math.floor(bpp * points / 8)
    shaped = kind.field_config(signal, field_config or FieldConfig())
    planned = architecture(shaped, budget, points * shaped.out_dim, settings)
    config = within_memory(kind, signal, planned, settings.batch, device)
    check_search_time(kind, signal, config, settings, device, seed)  # before `check_rate` encodes the field whole
    config = check_rate(kind, signal, config, budget, seed)
    fit_config = settings.fit_config(settings.lr, settings.float_steps, (1 - settings.qat) * settings.seconds, seed)
    outcome = fit_signal(kind, signal, config, fit_config, batch=settings.batch, device=device, quiet=quiet)
    representation, seconds = outcome.result.representation, outcome.result.seconds
    codes = choose_codes(kind, signal, representation, budget, device, settings.seconds)
    if codes is None:
        raise RateTooLow(f"no quantization of a width-{config.width} field fits {budget} bytes; ask for a higher rate")
    stages = {"fit": measure(kind, signal, representation, device)}
    candidates = {"rounded": Quantized.of(representation, codes)}
    if settings.qat > 0:
        seconds += fine_tune(kind, signal, representation, codes, settings, device=device, quiet=quiet, seed=seed)
        if len(_encoded(Quantized.of(representation, codes))) > budget:  # fine-tuning moved the entropy
            codes = choose_codes(kind, signal, representation, budget, device, settings.seconds)
        if codes is not None:
            candidates["fine-tuned"] = Quantized.of(representation, codes)
    files = {stage: _encoded(quantized) for stage, quantized in candidates.items()}
    stages |= {stage: measure(kind, signal, decompress(data), device) for stage, data in files.items()}
    kept = min(files, key=lambda stage: stages[stage]["loss"])
    return Compressed(files[kept], candidates[kept], points, stages[kept], seconds, stages)


def decompress(data: bytes, name: str = "the file") -> Representation:
    """The representation a compressed file holds (`compression.container.decode`); InputError
    naming `name` for a file that is foreign, truncated or corrupt."""
    return decode(data, name).representation()


def fine_tune(
    kind: Kind,
    signal: Any,
    representation: Representation,
    codes: list[TensorCode],
    settings: CompressConfig,
    *,
    device: torch.device | str,
    quiet: bool,
    seed: int,
) -> float:
    """Quantization-aware fine-tuning in place: the field trains through the rounding of `codes`
    (straight-through gradients) for `settings.qat · settings.seconds` (and `qat_steps`), Adam
    from a tenth of the fit's rate with cosine decay; the float weights it ends with are what
    gets quantized. Returns the seconds it trained."""
    add_fake_quantization(representation.field, codes)
    try:
        config = settings.fit_config(settings.lr / 10, settings.qat_steps, settings.qat * settings.seconds, seed + 1)
        return fit(
            representation,
            kind.problem(signal, settings.batch, device),
            config,
            device=device,
            live_metrics=kind.live_metrics(signal),
            quiet=quiet,
        ).seconds
    finally:
        remove_fake_quantization(representation.field)


DB_PER_DOUBLING = 2.0
"""`search_rate`'s first guess of how much PSNR a doubled rate buys; later guesses use the slope
the fits measured."""
SEARCH_START_BPP = 0.3
"""`search_rate`'s first rate, in bits per sample point."""


def search_rate(
    kind: Kind,
    signal: Any,
    psnr: float,
    settings: CompressConfig = COMPRESS,
    **compress_settings: Any,
) -> Compressed:
    """The smallest file found that reaches `psnr` dB, in at most `settings.max_fits` fits.

    Each next rate is the secant guess in log₂(bpp) through the last two fits (the first guess
    assumes `DB_PER_DOUBLING`), kept between the largest rate that fell short and the smallest
    that reached; the search ends early when that bracket is within 5%. InputError when no fit
    reached `psnr`, naming the best one. Keywords go to `compress_at_rate`.
    """
    if not math.isfinite(psnr):
        raise InputError(f"psnr must be a number, got {psnr}")
    config = kind.field_config(signal, compress_settings.get("field_config") or FieldConfig())
    floor = 8 * planned_bytes(narrowest(config, settings), settings) / sample_points(kind, signal)
    tried: list[Compressed] = []
    low, high = floor, math.inf  # rates known to fall short (or not to fit), and to reach
    bpp = max(SEARCH_START_BPP, 1.05 * floor)
    for _ in range(settings.max_fits):
        try:
            tried.append(compress_at_rate(kind, signal, bpp, settings, **compress_settings))
        except RateTooLow:
            low = max(low, bpp)
        else:
            if tried[-1].measures["psnr"] >= psnr:
                high = min(high, tried[-1].bpp)
            else:
                low = max(low, tried[-1].bpp)
        if high <= 1.05 * low:
            break
        bpp = _next_rate(tried, psnr, low, high)
    reached = [c for c in tried if c.measures["psnr"] >= psnr]
    if not reached:
        best = max(tried, key=lambda c: c.measures["psnr"], default=None)
        said = f"the best was {best.measures['psnr']:.2f} dB at {best.bpp:.3f} bpp" if best else "none fitted"
        raise InputError(
            f"no file reached {psnr:g} dB in {settings.max_fits} fits; {said}: ask for less, or give each fit "
            "more --seconds"
        )
    return min(reached, key=lambda c: len(c.data))


def _next_rate(tried: list[Compressed], psnr: float, low: float, high: float) -> float:
    """The secant guess in log₂(bpp) toward `psnr` from the last fits, inside (low, high);
    twice `low` when no fit has been made."""
    if not tried:
        return 2 * low
    last = tried[-1]
    slope = DB_PER_DOUBLING
    if len(tried) > 1:
        before = tried[-2]
        run = math.log2(last.bpp / before.bpp)
        rise = last.measures["psnr"] - before.measures["psnr"]
        if run != 0 and rise / run > 0.25:
            slope = rise / run
    guess = last.bpp * 2 ** ((psnr - last.measures["psnr"]) / slope)
    if math.isfinite(high):
        guess = min(guess, high / 1.05)
    return max(guess, low * 1.05)
