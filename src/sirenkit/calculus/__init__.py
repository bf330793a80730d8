"""Derivatives of a field with respect to its input coordinates: `jet(field, x, order)` and the operators on it.

Two paths behind one interface:

- forward (`forward.py`): pushes (value, gradient, Laplacian) through the field in one pass, with
  a fused kernel and a hand-written backward; its elementwise kernels, eager or compiled by a
  `Compiler`, are in `kernels.py`. Needs an `MLPField` or a `BatchedField`.
- autograd (`reference.py`): reverse mode, as the official SIREN code does; works for any module
  mapping (..., d) to (..., c), and serves as the reference.

Shapes: x is (..., d) — (N, d) or (B, N, d) —; value (..., c); gradient (..., c, d), per unit
of coordinate; Laplacian (..., c), per unit of coordinate squared; Hessian (..., c, d, d).
For a `BatchedField` of K fields, x is (K, ..., d) and every result has that leading K axis:
field k's derivatives at x[k].
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from sirenkit.calculus.forward import JET_CHUNK_POINTS, forward_jet, jet_chunk_points
from sirenkit.calculus.kernels import COMPILE_MIN_POINTS, COMPILE_MODES, CompileMode, Compiler
from sirenkit.calculus.reference import autograd_jet, divergence_of, gradient_of, hessian
from sirenkit.calculus.result import Jet
from sirenkit.fields.batched import BatchedField
from sirenkit.fields.mlp import MLPField

Method = Literal["auto", "forward", "autograd"]
METHODS = ("auto", "forward", "autograd")
Path = Literal["forward", "autograd"]

__all__ = [
    "COMPILE_MIN_POINTS",
    "COMPILE_MODES",
    "JET_CHUNK_POINTS",
    "METHODS",
    "CompileMode",
    "Compiler",
    "Jet",
    "Method",
    "autograd_jet",
    "divergence",
    "divergence_of",
    "forward_jet",
    "forward_pays",
    "gradient",
    "gradient_of",
    "hessian",
    "jacobian",
    "jet",
    "jet_chunk_points",
    "jet_path",
    "laplacian",
]


def jet(
    field: nn.Module,
    x: Tensor,
    *,
    order: int = 2,
    method: Method = "auto",
    compiler: Compiler | None = None,
    second: bool = False,
) -> Jet:
    """Φ(x) and, for order ≥ 1, ∇Φ(x), and for order 2, ΔΦ(x). See the module docstring for shapes.

    `method` chooses the path (see `jet_path`). `compiler` runs the forward path's training
    kernels compiled as its mode says and keeps what it compiled across calls, so a training loop
    holds one (`fit` makes one from `FitConfig.compile`); None runs the eager kernels.
    `second` (order 2) also gives the unmixed second derivatives ∂²Φ/∂x_i² (`Jet.second`, what
    a time-dependent PDE reads apart from the Laplacian); only the autograd path carries them, so
    it is taken whatever `method` says.
    """
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order}")
    if second and order != 2:
        raise ValueError(f"second derivatives need order 2, got {order}")
    path = "autograd" if second else jet_path(field, order, method)
    if order == 0:
        return Jet(field(x))
    if path == "autograd":
        return autograd_jet(field, x, order)
    if not isinstance(field, (MLPField, BatchedField)):
        raise TypeError(f"the forward path needs an MLPField or a BatchedField, got {type(field).__name__}")
    return forward_jet(field, x, order, compiler)


def jet_path(field: nn.Module, order: int, method: Method) -> Path:
    """The path `jet` takes: "forward" and "autograd" force one (forward needs an `MLPField` or a
    `BatchedField`); "auto" takes the forward path for those when `forward_pays`, autograd otherwise."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method != "auto":
        return method
    forward_capable = isinstance(field, (MLPField, BatchedField))
    return "forward" if forward_capable and forward_pays(order, field.out_dim) else "autograd"


def forward_pays(order: int, outputs: int) -> bool:
    """Whether `auto` takes the forward path for a field of `outputs` channels: always for the
    Laplacian; for the gradient only with several outputs, since for one output a single reverse
    pass gives all d derivatives while the forward path carries d tangent rows
    (`benchmarks/derivatives.py` times both on a gradient-supervised step)."""
    return order == 2 or outputs > 1


def gradient(field: nn.Module, x: Tensor, *, method: Method = "auto") -> Tensor:
    """∇Φ(x), shape (..., c, d), per unit of coordinate."""
    return jet(field, x, order=1, method=method).required("gradient")


jacobian = gradient
"""The Jacobian ∂Φ_k/∂x_i of a field with c outputs: (..., c, d), the same array as `gradient`."""


def laplacian(field: nn.Module, x: Tensor, *, method: Method = "auto") -> Tensor:
    """ΔΦ(x), shape (..., c), per unit of coordinate squared."""
    return jet(field, x, order=2, method=method).required("laplacian")


def divergence(field: nn.Module, x: Tensor, *, method: Method = "auto") -> Tensor:
    """∇·Φ(x) = Σ_i ∂Φ_i/∂x_i for a vector field with as many outputs as inputs: (...)."""
    grad = gradient(field, x, method=method)
    if grad.shape[-1] != grad.shape[-2]:
        raise ValueError(f"divergence needs c == d, got c={grad.shape[-2]}, d={grad.shape[-1]}")
    return grad.diagonal(dim1=-2, dim2=-1).sum(-1)
