"""K independent fields of one architecture as one computation: `BatchedField`.

Every parameter of K `MLPField`s of the same architecture is stacked along a leading axis —
weight (K, n_out, n_in) and bias (K, n_out) per layer, the frequency matrix of a sinusoidal
encoding (K, m, d) — and each layer is one batched matrix product (torch.baddbmm): field k's
points meet only field k's weights. K fields then train as one module under one optimizer, each
on its own data and loss. The rule that makes this equal to K separate fits: the loss is a sum of
per-field losses (so the gradient in field k's parameters is that of field k's own loss) and the
optimizer acts elementwise (Adam, SGD), so each field's optimizer state stays its own.

Shapes: coordinates x are (K, ..., d) — (K, N, d): field k reads x[k] — and Φ(x) is
(K, ..., out_dim). `sirenkit.calculus.jet` takes a BatchedField too and returns each part of
the jet with the same leading K axis.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sirenkit.fields.activations import Activation
from sirenkit.fields.config import FieldConfig, build_field
from sirenkit.fields.encodings import Encoding, Identity, Sinusoidal
from sirenkit.fields.mlp import Dense, MLPField


class BatchedDense(nn.Module):
    """K dense layers h ↦ σ(h Wₖᵀ + bₖ): weight (K, out_dim, in_dim), bias (K, out_dim); σ, shared
    by the K layers, is the identity when `activation` is None.

    Parameters start at zero; `stack_fields` fills them from K `Dense` layers.
    """

    def __init__(
        self,
        count: int,
        in_dim: int,
        out_dim: int,
        activation: Activation | None,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(count, out_dim, in_dim, dtype=dtype, device=device))
        self.bias = nn.Parameter(torch.zeros(count, out_dim, dtype=dtype, device=device))
        self.activation = activation

    @property
    def count(self) -> int:
        return self.weight.shape[0]

    @property
    def in_dim(self) -> int:
        return self.weight.shape[2]

    @property
    def out_dim(self) -> int:
        return self.weight.shape[1]

    def forward(self, h: Tensor) -> Tensor:
        """(K, N, in_dim) → (K, N, out_dim)."""
        if self.activation is None:
            return torch.baddbmm(self.bias.unsqueeze(1), h, self.weight.transpose(1, 2))
        return self.activation.of_batched_affine(h, self.weight, self.bias)

    def layer(self, k: int) -> Dense:
        """Layer k alone: a `Dense` with copies of its weight and bias and of the activation."""
        single = Dense(self.in_dim, self.out_dim, copy.deepcopy(self.activation))
        single.to(dtype=self.weight.dtype, device=self.weight.device)
        with torch.no_grad():
            single.weight.copy_(self.weight[k])
            single.bias.copy_(self.bias[k])
        return single


class BatchedSinusoidal(Sinusoidal):
    """K sinusoidal encodings γₖ(x) = [x, sin(Aₖ x), cos(Aₖ x)] (x only if `include_input`), as
    `Sinusoidal` with one frequency matrix per field.

    `frequencies` has shape (K, m, in_dim), in radians per unit of coordinate; out_dim = m·2
    (+ in_dim). A buffer in the dtype given, so it is saved with the weights and follows `.to()`.
    Coordinates are (K, N, in_dim); field k's points meet only Aₖ (`Sinusoidal`'s forward and jet
    take the stacked matrices as they are).
    """

    def __init__(self, frequencies: Tensor, include_input: bool) -> None:
        Encoding.__init__(self)  # not Sinusoidal's: the stack keeps its dtype and has a leading K
        if frequencies.dim() != 3:
            raise ValueError(f"frequencies must be (K, m, in_dim), got shape {tuple(frequencies.shape)}")
        self.register_buffer("frequencies", frequencies)
        self.include_input = include_input
        _, m, self.in_dim = frequencies.shape
        self.out_dim = 2 * m + (self.in_dim if include_input else 0)

    @property
    def count(self) -> int:
        return self.frequencies.shape[0]

    def encoding(self, k: int) -> Sinusoidal:
        """Encoding k alone: a `Sinusoidal` with a copy of its frequency matrix (same dtype)."""
        single = Sinusoidal(self.frequencies[k], self.include_input)
        single.frequencies = self.frequencies[k].clone()
        return single


class BatchedField(nn.Module):
    """K fields Φₖ(x) = headₖ(layerₖ,L(… layerₖ,1(γₖ(x)))) of one architecture, as one module.

    `encoding` is an `Identity` (shared: it has no state) or a `BatchedSinusoidal`; `layers` are
    the activated `BatchedDense` layers and `head` the linear one, as in `MLPField`. Build one with
    `stack_fields` or `build_batched_field`; `field(k)` and `unstack()` give the fields back.
    """

    def __init__(self, encoding: Encoding, layers: list[BatchedDense], head: BatchedDense) -> None:
        super().__init__()
        if head.activation is not None:
            raise ValueError("the head of a field is linear")
        counts = {layer.count for layer in [*layers, head]}
        if isinstance(encoding, BatchedSinusoidal):
            counts.add(encoding.count)
        if len(counts) != 1:
            raise ValueError(f"every layer and the encoding must hold the same number of fields, got {sorted(counts)}")
        self.encoding = encoding
        self.layers = nn.ModuleList(layers)
        self.head = head

    @property
    def count(self) -> int:
        """K, the number of fields."""
        return self.head.count

    @property
    def in_dim(self) -> int:
        return self.encoding.in_dim

    @property
    def out_dim(self) -> int:
        return self.head.out_dim

    def check_points(self, x: Tensor) -> None:
        """Raise ValueError unless x is (K, ..., in_dim) with at least one point axis."""
        if x.dim() < 3 or x.shape[0] != self.count or x.shape[-1] != self.in_dim:
            raise ValueError(
                f"a BatchedField of {self.count} fields of {self.in_dim} inputs reads points of shape "
                f"({self.count}, N, {self.in_dim}), got {tuple(x.shape)}"
            )

    def forward(self, x: Tensor) -> Tensor:
        """Φₖ(x[k]) for every k: (K, ..., in_dim) → (K, ..., out_dim)."""
        self.check_points(x)
        points = x.reshape(self.count, -1, self.in_dim)
        # As in MLPField: the encoding and first layer read raw coordinates and always run in
        # float32, also under autocast.
        with torch.autocast(x.device.type, enabled=False):
            h = self.layers[0](self.encoding(points))
        for layer in self.layers[1:]:
            h = layer(h)
        return self.head(h).to(x.dtype).reshape(*x.shape[:-1], self.out_dim)

    def field(self, k: int) -> MLPField:
        """Field k alone: an independent `MLPField` holding copies of its parameters and buffers."""
        if not -self.count <= k < self.count:
            raise IndexError(f"field {k} of a BatchedField of {self.count} fields")
        if isinstance(self.encoding, BatchedSinusoidal):
            encoding: Encoding = self.encoding.encoding(k)
        else:
            encoding = copy.deepcopy(self.encoding)
        return MLPField(encoding, [layer.layer(k) for layer in self.layers], self.head.layer(k))

    def unstack(self) -> list[MLPField]:
        """The K fields as independent `MLPField`s, in order (`field(k)` for each k)."""
        return [self.field(k) for k in range(self.count)]


def stack_fields(fields: Sequence[MLPField]) -> BatchedField:
    """One `BatchedField` holding copies of `fields` (K ≥ 1 `MLPField`s of one architecture), field
    k of it equal to fields[k].

    One architecture means: the same encoding (type, dimensions, settings), the same number and
    shapes of layers, the same activation per layer (type and settings), the same dtypes and device.
    Raises ValueError naming the first difference; TypeError for an encoding with no batched form
    (`Identity` and `Sinusoidal` have one) or an object that is not an `MLPField`.
    """
    fields = list(fields)
    if not fields:
        raise ValueError("stack_fields needs at least one field")
    for k, field in enumerate(fields):
        if not isinstance(field, MLPField):
            raise TypeError(f"stack_fields stacks MLPFields; field {k} is a {type(field).__name__}")
    reference = _architecture(fields[0])
    for k, field in enumerate(fields[1:], start=1):
        for (name, expected), (_, found) in zip(reference, _architecture(field)):
            if found != expected:
                raise ValueError(f"field {k} differs from field 0 in its {name}: {found} instead of {expected}")
    first = fields[0]
    encoding = _stack_encodings([field.encoding for field in fields])
    layers = [_stack_dense([field.layers[i] for field in fields]) for i in range(len(first.layers))]
    return BatchedField(encoding, layers, _stack_dense([field.head for field in fields]))


def build_batched_field(config: FieldConfig, seeds: Sequence[int]) -> BatchedField:
    """K = len(seeds) freshly initialized fields of one config; field k equals
    `build_field(config, seed=seeds[k])`, parameter for parameter."""
    if not seeds:
        raise ValueError("build_batched_field needs at least one seed")
    return stack_fields([build_field(config, seed=seed) for seed in seeds])


def _architecture(field: MLPField) -> list[tuple[str, object]]:
    """What two stackable fields share, as (name, value) pairs; the layer count precedes the
    layers' entries, so two lists that agree up to it have the same length."""
    encoding = field.encoding
    items: list[tuple[str, object]] = [
        ("encoding", type(encoding).__name__),
        ("encoding's input dimension", encoding.in_dim),
        ("encoding's output dimension", encoding.out_dim),
    ]
    if isinstance(encoding, Sinusoidal):
        items += [
            ("encoding's include_input", encoding.include_input),
            ("encoding's frequency matrix shape", tuple(encoding.frequencies.shape)),
        ]
    items.append(("number of activated layers", len(field.layers)))
    for i, layer in enumerate(field.layers):
        items += [
            (f"layer {i} weight shape", tuple(layer.weight.shape)),
            (f"layer {i} activation", _describe(layer.activation)),
        ]
    items += [
        ("head weight shape", tuple(field.head.weight.shape)),
        ("dtypes", sorted({str(t.dtype) for t in [*field.parameters(), *field.buffers()]})),
        ("devices", sorted({str(t.device) for t in [*field.parameters(), *field.buffers()]})),
    ]
    return items


def _describe(activation: Activation | None) -> str:
    """An activation's type and settings (its public attributes), e.g. 'Sine(omega0=30.0)'."""
    if activation is None:
        return "none (linear)"
    settings = {key: value for key, value in vars(activation).items() if not key.startswith("_") and key != "training"}
    return f"{type(activation).__name__}({', '.join(f'{key}={value!r}' for key, value in sorted(settings.items()))})"


def _stack_encodings(encodings: list[Encoding]) -> Encoding:
    """The batched form of K encodings of one architecture (checked by `_architecture`)."""
    first = encodings[0]
    if type(first) is Identity:
        return Identity(first.in_dim)
    if type(first) is Sinusoidal:
        frequencies = torch.stack([encoding.frequencies.detach() for encoding in encodings])
        return BatchedSinusoidal(frequencies, first.include_input)
    raise TypeError(f"no batched form of a {type(first).__name__} encoding (Identity and Sinusoidal have one)")


def _stack_dense(layers: list[Dense]) -> BatchedDense:
    """K `Dense` layers of one shape and activation as one `BatchedDense` holding copies."""
    first = layers[0]
    activation = first.activation
    if activation is not None and (
        any(True for _ in activation.parameters()) or any(True for _ in activation.buffers())
    ):
        raise TypeError(
            f"a BatchedField shares each layer's activation; {_describe(activation)} has parameters or buffers"
        )
    stacked = BatchedDense(
        len(layers),
        first.in_dim,
        first.weight.shape[0],
        copy.deepcopy(activation),
        dtype=first.weight.dtype,
        device=first.weight.device,
    )
    with torch.no_grad():
        stacked.weight.copy_(torch.stack([layer.weight for layer in layers]))
        stacked.bias.copy_(torch.stack([layer.bias for layer in layers]))
    return stacked
