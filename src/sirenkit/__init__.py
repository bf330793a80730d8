"""sirenkit: sinusoidal implicit neural representations — signals as continuous, differentiable functions."""

from sirenkit.calculus import Jet, divergence, gradient, hessian, jacobian, jet, laplacian
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, MLPField, build_field
from sirenkit.fit import FitConfig, FitResult, fit
from sirenkit.store import Representation, load_representation, save_representation

__version__ = "0.1.0"

__all__ = [
    "FieldConfig",
    "FitConfig",
    "FitResult",
    "InputError",
    "Jet",
    "MLPField",
    "Representation",
    "build_field",
    "divergence",
    "fit",
    "gradient",
    "hessian",
    "jacobian",
    "jet",
    "laplacian",
    "load_representation",
    "save_representation",
]
