"""The networks: SIREN and its baselines, built from encodings, dense layers and activations, alone or batched."""

from sirenkit.fields import baselines, siren  # noqa: F401  (register the builders)
from sirenkit.fields.activations import Activation, ReLU, Sine, Tanh
from sirenkit.fields.batched import BatchedDense, BatchedField, BatchedSinusoidal, build_batched_field, stack_fields
from sirenkit.fields.config import FIELD_BUILDERS, FieldConfig, build_field, register_field
from sirenkit.fields.encodings import Encoding, Identity, Sinusoidal, gaussian_fourier, nyquist_frequencies, positional
from sirenkit.fields.mlp import Dense, MLPField, frozen
from sirenkit.fields.siren import siren_init_

__all__ = [
    "FIELD_BUILDERS",
    "Activation",
    "BatchedDense",
    "BatchedField",
    "BatchedSinusoidal",
    "Dense",
    "Encoding",
    "FieldConfig",
    "Identity",
    "MLPField",
    "ReLU",
    "Sine",
    "Sinusoidal",
    "Tanh",
    "build_batched_field",
    "build_field",
    "frozen",
    "gaussian_fourier",
    "nyquist_frequencies",
    "positional",
    "register_field",
    "siren_init_",
    "stack_fields",
]
