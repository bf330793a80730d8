"""Derivatives of a field with respect to its input coordinates.

Two paths behind one interface, `jet(field, x, order)`:

- forward: pushes (value, gradient, Laplacian) through the encoding, each dense layer and
  each activation in a single pass (the "forward Laplacian", Li et al. 2023, arXiv 2307.08214).
  It is differentiable in the parameters, so losses on derivatives train through it. For the
  activations sirenkit ships (sine, ReLU, tanh) a fused kernel runs it point-chunk by
  point-chunk and has a hand-written backward that keeps only each hidden layer's
  pre-activations and recomputes the elementwise terms (sin, cos, ...) when the gradient is
  asked for; any other activation goes through plain autograd of the same propagation.
- autograd: reverse mode, one backward pass per output channel for the gradient and one more
  per input dimension for the Laplacian (what the official SIREN code does). Works for any
  module mapping (..., d) to (..., c), and serves as the reference.

Shapes: x is (..., d) — (N, d) or (B, N, d); value (..., c); gradient (..., c, d), per unit
of coordinate; Laplacian (..., c), per unit of coordinate squared; Hessian (..., c, d, d).

Inside the forward path a jet of n features at N points is a "stack" of rows
[value; ∂/∂x_1 … ∂/∂x_d; Laplacian], shape (R, N, n) with R = 1 + d (+ 1 for order 2), so that
a dense layer is one matrix product of all rows with Wᵀ (the bias goes to the value row only).

Compiled kernels: in the training path (the fused kernel with its backward) a sine layer's
elementwise terms can run as kernels that torch.compile fuses, which read and write each stack
once instead of once per PyTorch operation (a Laplacian-supervised step of the 3×256 SIREN on
65,536 points: 12% less time on a 2-core CPU, benchmarks/derivatives.py). The environment
variable SIRENKIT_COMPILE chooses: `auto` (the default) on a CPU for calls of at least 8,192
points, `on` always, `off` never.
Compiling takes seconds once per process (a C++ compiler is needed on a CPU); where it fails,
sirenkit warns once and runs the eager kernels. Evaluation without gradients always runs the
eager kernels: it is done a few times, not thousands.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from sirenkit.errors import InputError
from sirenkit.fields.activations import ReLU, Sine, Tanh
from sirenkit.fields.mlp import MLPField

Method = Literal["auto", "forward", "autograd"]
METHODS = ("auto", "forward", "autograd")

JET_CHUNK_POINTS = {"cpu": 4096, "cuda": 65536}
"""Points per chunk of the fused forward kernel, by device type (others take the CPU's). On a CPU
a (4096, 4, 256) float32 stack is 16 MiB, so a chunk's temporaries stay small next to the saved
pre-activations: on a 2-core CPU chunks of 2,048 to 16,384 points ran a Laplacian-supervised step
of the 3×256 SIREN on 65,536 points equally fast (within the machine's noise), and with the
compiled kernels 4,096 kept the peak resident memory of a few such steps at 1.1-1.3 GB, 8,192 at
1.6 GB (benchmarks/derivatives.py: 1.14 GB). A GPU launches every kernel once per chunk, so there
the chunk is as large as memory allows comfortably (a 65,536-point stack of width 256 is 256 MiB):
on an H100 a Laplacian-supervised step of 65,536 points takes 19.6 ms (`benchmarks/derivatives.py
--device cuda`); smaller CUDA chunks were not measured."""


def jet_chunk_points(device: torch.device) -> int:
    """Points per chunk of the fused forward kernel on this device (see JET_CHUNK_POINTS)."""
    return JET_CHUNK_POINTS.get(device.type, JET_CHUNK_POINTS["cpu"])


class Derivatives(NamedTuple):
    """σ, σ', σ'', σ''' of a pre-activation, elementwise; None stands for zero everywhere.

    `second` and `third` are stored divided by `sign` (±1), which the kernels apply as the scalar
    of their fused multiply-adds: sine gives sin, cos, sin, cos with sign −1 and makes no negated
    copies."""

    value: Tensor
    first: Tensor
    second: Tensor | None
    third: Tensor | None
    sign: float = 1.0


@dataclass
class Jet:
    """A field's value and, up to the requested order, its gradient and Laplacian at some points."""

    value: Tensor
    gradient: Tensor | None = None
    laplacian: Tensor | None = None

    def required(self, name: str) -> Tensor:
        part = getattr(self, name)
        if part is None:
            raise ValueError(f"this jet was computed without the {name}")
        return part


def jet(field: nn.Module, x: Tensor, *, order: int = 2, method: Method = "auto") -> Jet:
    """Φ(x) and, for order ≥ 1, ∇Φ(x), and for order 2, ΔΦ(x). See the module docstring for shapes.

    `method="auto"` takes the forward path for an `MLPField` and autograd otherwise, except for
    the gradient alone (order 1) of a single-output field: there one reverse pass gives all d
    derivatives while the forward path carries d tangent rows, and reverse mode measured faster
    (benchmarks/derivatives.py, 65,536 points, 3×256 SIREN: 2.0 s vs 2.7 s per gradient-supervised
    step). "forward" and "autograd" force a path.
    """
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if order == 0:
        return Jet(field(x))
    forward = method == "auto" and isinstance(field, MLPField) and forward_pays(order, field.head.weight.shape[0])
    if method == "forward" or forward:
        if not isinstance(field, MLPField):
            raise TypeError(f"the forward path needs an MLPField, got {type(field).__name__}")
        return forward_jet(field, x, order)
    return autograd_jet(field, x, order)


def forward_pays(order: int, outputs: int) -> bool:
    """Whether `auto` takes the forward path for a field of `outputs` channels: always for the
    Laplacian, for the gradient only with several outputs."""
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


def hessian(field: nn.Module, x: Tensor) -> Tensor:
    """∂²Φ_k/∂x_i∂x_j by autograd, shape (..., c, d, d), graph kept (any field)."""
    x = x.detach().requires_grad_(True) if not x.requires_grad else x
    grad = autograd_jet(field, x, 1).required("gradient")  # (..., c, d)
    rows = [gradient_of(grad[..., k, i], x) for k in range(grad.shape[-2]) for i in range(grad.shape[-1])]
    return torch.stack(rows, -2).unflatten(-2, grad.shape[-2:])


# ---- forward path ----------------------------------------------------------------------------


def forward_jet(field: MLPField, x: Tensor, order: int) -> Jet:
    """Forward-mode (value, gradient[, Laplacian]) in one pass; differentiable in the parameters.

    Always computed in the parameters' dtype, also under autocast: a Laplacian scales with ω0²
    per layer and bfloat16's 8 significant bits would not carry it. Without grad mode (or with
    frozen parameters and coordinates) nothing is kept for a backward pass.
    """
    lead, d = x.shape[:-1], x.shape[-1]
    with torch.autocast(x.device.type, enabled=False):
        stack = encoding_stack(field, x.reshape(-1, d).to(field.head.weight.dtype), order)
        layers = fused_layers(field)
        params = [t for weight, bias, _ in layers for t in (weight, bias)]
        if torch.is_grad_enabled() and any(t.requires_grad for t in [stack, *params]):
            out = _FusedJet.apply(stack, order, [rule for _, _, rule in layers], *params)
        else:
            chunks = stack.split(jet_chunk_points(stack.device), 1)
            out = torch.cat([_propagate(part, layers, order) for part in chunks], 1)
    out = out.to(x.dtype).unflatten(1, lead)  # (R, ..., c)
    return Jet(out[0], out[1 : 1 + d].movedim(0, -1), out[-1] if order == 2 else None)


def encoding_stack(field: MLPField, x: Tensor, order: int) -> Tensor:
    """The encoding's jet at points x (N, d) as a stack (R, N, e): [γ; ∂γ/∂x_1 … ∂γ/∂x_d; Δγ]."""
    value, jac, lap = field.encoding.jet(x)  # (N, e), (N, e, d), (N, e)
    rows = [value.unsqueeze(0), jac.movedim(-1, 0)] + ([lap.unsqueeze(0)] if order == 2 else [])
    return torch.cat(rows, dim=0)


Rule = Callable[[Tensor], Derivatives]
Layer = tuple[Tensor, Tensor, Rule | None]
"""(weight (n_out, n_in), bias (n_out,), the activation's derivatives, or None for the linear head)."""


def _sine(u: Tensor) -> Derivatives:
    """sin and its derivatives; ω0 is folded into the layer's weights (see `fused_layers`)."""
    s, c = torch.sin(u), torch.cos(u)
    return Derivatives(s, c, s, c, sign=-1.0)


def _relu(u: Tensor) -> Derivatives:
    step = (u > 0).to(u.dtype)
    return Derivatives(u * step, step, None, None)


def _tanh(u: Tensor) -> Derivatives:
    t = torch.tanh(u)
    d1 = 1 - t * t
    return Derivatives(t, d1, -2 * t * d1, d1 * (6 * t * t - 2))


def _any_activation(activation: nn.Module) -> Rule:
    """σ, σ', σ'' from an activation's own `derivatives`, and σ''' by autograd of σ'' (elementwise)."""

    def rule(u: Tensor) -> Derivatives:
        with torch.enable_grad():
            v = u.detach().requires_grad_(True)
            s, d1, d2 = activation.derivatives(v)
            (d3,) = torch.autograd.grad(d2.sum(), v)
        return Derivatives(s.detach(), d1.detach(), d2.detach(), d3)

    return rule


def fused_layers(field: MLPField) -> list[Layer]:
    """The field's layers as (weight, bias, rule), the head last with rule None.

    A sine layer sin(ω0 (W h + b)) becomes sin((ω0 W) h + ω0 b): the factor goes on the small
    weight matrix once instead of on every element of every row of the stack.
    """
    layers: list[Layer] = []
    for layer in field.layers:
        act = layer.activation
        if type(act) is Sine:
            layers.append((act.omega0 * layer.weight, act.omega0 * layer.bias, _sine))
        else:
            rule = {ReLU: _relu, Tanh: _tanh}.get(type(act)) or _any_activation(act)
            layers.append((layer.weight, layer.bias, rule))
    return [*layers, (field.head.weight, field.head.bias, None)]


def _affine(stack: Tensor, weight: Tensor, bias: Tensor, out: Tensor | None = None) -> Tensor:
    """z = h Wᵀ + b on a stack (R, N, n_in) → (R, N, n_out), contiguous, written to `out` if given;
    the bias goes to the value row only."""
    rows, n, width = stack.shape
    flat = out.view(rows * n, -1) if out is not None else None
    z = torch.mm(stack.reshape(rows * n, width), weight.t(), out=flat).view(rows, n, -1)
    z[0] += bias
    return z


def _sum_of_products(a: Tensor, b: Tensor) -> Tensor:
    """Σ_i a[i]·b[i] over the leading (tangent) axis: (d, N, n) → (N, n)."""
    out = a[0] * b[0]
    for i in range(1, a.shape[0]):
        out.addcmul_(a[i], b[i])
    return out


def _push(z: Tensor, derivs: Derivatives, order: int) -> tuple[Tensor, Tensor | None]:
    """The activation applied to a pre-activation stack z (R, N, n): σ(z), σ'·∂z, σ'·Δz + σ''·|∇z|².

    Returns that stack and |∇z|² (N, n), which `_pull` reuses (None where σ'' is zero or order is 1).
    """
    end = z.shape[0] - (order == 2)
    t = z[1:end]
    out = torch.empty_like(z)
    out[0] = derivs.value
    torch.mul(t, derivs.first, out=out[1:end])
    squares = None
    if order == 2:
        torch.mul(z[-1], derivs.first, out=out[-1])
        if derivs.second is not None:
            squares = _sum_of_products(t, t)
            out[-1].addcmul_(derivs.second, squares, value=derivs.sign)
    return out, squares


def _pull(z: Tensor, g: Tensor, derivs: Derivatives, squares: Tensor | None, order: int) -> Tensor:
    """The vector-Jacobian product of `_push`: ∂L/∂z (R, N, n) from g = ∂L/∂(its output) (R, N, n)
    and the |∇z|² that `_push` returned."""
    _, d1, d2, d3, sign = derivs
    end = z.shape[0] - (order == 2)
    t, gt = z[1:end], g[1:end]
    out = torch.empty_like(z)
    g0 = torch.mul(g[0], d1, out=out[0])
    torch.mul(gt, d1, out=out[1:end])
    if d2 is not None:
        g0.addcmul_(d2, _sum_of_products(gt, t), value=sign)
    if order == 2:
        gl = g[-1]
        torch.mul(gl, d1, out=out[-1])
        if d2 is not None:
            curvature = torch.mul(d2, z[-1]).addcmul_(d3, squares)  # (σ''·Δz + σ'''·|∇z|²) / sign
            g0.addcmul_(gl, curvature, value=sign)
            out[1:end].addcmul_(torch.mul(gl, d2), t, value=2 * sign)
    return out


class _Kernels(NamedTuple):
    """An activation's push (its jet forward: σ-stack, σ's derivatives, |∇z|²) and pull (that
    push's vector-Jacobian product), with the signatures of `_eager_push` and `_pull`."""

    push: Callable[[Tensor, Rule, int], tuple[Tensor, Derivatives, Tensor | None]]
    pull: Callable[[Tensor, Tensor, Derivatives, Tensor | None, int], Tensor]


def _eager_push(z: Tensor, rule: Rule, order: int) -> tuple[Tensor, Derivatives, Tensor | None]:
    derivs = rule(z[0])
    h, squares = _push(z, derivs, order)
    return h, derivs, squares


def _sine_push(z: Tensor, order: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """`_push` for sine as one expression for torch.compile to fuse: (σ-stack, cos z[0], |∇z|²)."""
    s, c = torch.sin(z[0]), torch.cos(z[0])
    end = z.shape[0] - (order == 2)
    t = z[1:end]
    if order == 1:
        return torch.cat([s[None], t * c]), c, None
    squares = (t * t).sum(0)
    return torch.cat([s[None], t * c, (z[-1] * c - s * squares)[None]]), c, squares


def _sine_pull(z: Tensor, g: Tensor, s: Tensor, c: Tensor, squares: Tensor | None, order: int) -> Tensor:
    """`_pull` for sine as one expression for torch.compile to fuse (s, c: sin and cos of z[0])."""
    end = z.shape[0] - (order == 2)
    t, gt = z[1:end], g[1:end]
    along = (gt * t).sum(0)  # Σ_i ∂L/∂(∂σ/∂x_i) · ∂z/∂x_i
    if order == 1:
        return torch.cat([(g[0] * c - s * along)[None], gt * c])
    gl = g[-1]
    along = along + gl * z[-1]
    return torch.cat([(c * (g[0] - gl * squares) - s * along)[None], gt * c - 2 * (gl * s) * t, (gl * c)[None]])


def _compiled_sine_push(z: Tensor, rule: Rule, order: int) -> tuple[Tensor, Derivatives, Tensor | None]:
    h, c, squares = _run_compiled(_sine_push, z, order)
    return h, Derivatives(h[0], c, h[0], c, sign=-1.0), squares


def _compiled_sine_pull(z: Tensor, g: Tensor, derivs: Derivatives, squares: Tensor | None, order: int) -> Tensor:
    return _run_compiled(_sine_pull, z, g, derivs.value, derivs.first, squares, order)


EAGER_KERNELS = _Kernels(_eager_push, _pull)
COMPILED_SINE_KERNELS = _Kernels(_compiled_sine_push, _compiled_sine_pull)


def _kernels(rule: Rule, compiled: bool) -> _Kernels:
    """The compiled kernels for a sine layer when `compiled`, else the eager ones (any activation)."""
    return COMPILED_SINE_KERNELS if compiled and rule is _sine else EAGER_KERNELS


COMPILE_VARIABLE = "SIRENKIT_COMPILE"
COMPILE_MODES = ("auto", "on", "off")
COMPILE_MIN_POINTS = 8192
"""`auto` compiles for calls of at least this many points (the Poisson command's default batch):
for fewer, a step's elementwise work is small and compiling, seconds for every new dtype, width
and order, would not pay back (a test suite of small fields would pay it over and over)."""
_compile_failure: str | None = None
"""Why compiling failed in this process, if it did: then every later call runs the eager kernels."""


def compile_mode() -> str:
    """SIRENKIT_COMPILE as one of COMPILE_MODES (unset or empty: auto); InputError otherwise."""
    mode = os.environ.get(COMPILE_VARIABLE, "").strip().lower() or "auto"
    if mode not in COMPILE_MODES:
        raise InputError(f"{COMPILE_VARIABLE}={mode}: choose one of {', '.join(COMPILE_MODES)}")
    return mode


def compiled_kernels_enabled(device: torch.device, points: int) -> bool:
    """Whether the training path runs the compiled sine kernels for a jet of `points` points on
    `device`. SIRENKIT_COMPILE: `auto` on a CPU for at least COMPILE_MIN_POINTS points, `on`
    always, `off` never."""
    mode = compile_mode()
    if _compile_failure is not None or mode == "off":
        return False
    return mode == "on" or (device.type == "cpu" and points >= COMPILE_MIN_POINTS)


@functools.cache
def _compiled(kernel: Callable) -> Callable:
    return torch.compile(kernel, fullgraph=True)


def _run_compiled(kernel: Callable, *args):
    """kernel(*args) compiled; the first failure to compile is warned about once, and from then
    on this and every later call runs `kernel` eagerly (the same arithmetic, unfused)."""
    global _compile_failure
    if _compile_failure is None:
        try:
            return _compiled(kernel)(*args)
        except Exception as error:  # no C++ compiler or Python headers, an unsupported platform
            while error.__cause__ is not None:  # torch wraps the compiler's error
                error = error.__cause__
            first_line = str(error).strip().partition("\n")[0]
            _compile_failure = f"{type(error).__name__}: {first_line}"
            warnings.warn(
                f"torch.compile failed ({_compile_failure}); sirenkit runs the eager kernels "
                f"(set {COMPILE_VARIABLE}=off to skip trying)",
                stacklevel=2,
            )
    return kernel(*args)


def _compiled_kernels_ready(stack: Tensor, layers: list[Layer], order: int) -> bool:
    """Whether the training path runs the compiled sine kernels on this stack (R, N, e); compiles
    them first if they are not yet (see `_warm_up`)."""
    if not compiled_kernels_enabled(stack.device, stack.shape[1]):
        return False
    for width in sorted({weight.shape[0] for weight, _, rule in layers if rule is _sine}):
        _warm_up(stack.shape[0], width, stack.dtype, stack.device, order)
    return _compile_failure is None


@functools.cache
def _warm_up(rows: int, width: int, dtype: torch.dtype, device: torch.device, order: int) -> None:
    """Compile the sine kernels for stacks (rows, any number of points, width) on two points.

    Done before a step's large allocations: compiling amid them leaves the compiler's own memory
    between the step's buffers, and the heap keeps that layout (a Laplacian step of the 3×256
    SIREN on 65,536 points peaked 0.6 GB higher). The number of points is marked dynamic, so one
    compiled kernel serves every chunk (rows and width stay fixed, which keeps it as fast as one
    compiled for a single size); no_grad, as in the training path, because dynamo's guards check it.
    """
    z, g = (torch.zeros(rows, 2, width, dtype=dtype, device=device) for _ in range(2))
    for t in (z, g):
        torch._dynamo.maybe_mark_dynamic(t, 1)
    with torch.no_grad():
        _, derivs, squares = _compiled_sine_push(z, _sine, order)
        for t in (derivs.value, derivs.first, squares):
            if t is not None:
                torch._dynamo.maybe_mark_dynamic(t, 0)
        _compiled_sine_pull(z, g, derivs, squares, order)


def _propagate(
    stack: Tensor, layers: list[Layer], order: int, keep: list[Tensor] | None = None, compiled: bool = False
) -> Tensor:
    """The jet through all layers: (R, N, e) → (R, N, c).

    With `keep`, the pre-activations of the activated layers after the first (the first one's is
    cheap to recompute from the small input) are written into those (R, N, width) buffers.
    `compiled` selects the compiled sine kernels (see `_kernels`).
    """
    h = stack
    for i, (weight, bias, rule) in enumerate(layers[:-1]):
        z = _affine(h, weight, bias, keep[i - 1] if keep is not None and i > 0 else None)
        h, _, _ = _kernels(rule, compiled).push(z, rule, order)
    weight, bias, _ = layers[-1]
    return _affine(h, weight, bias)


class _FusedJet(torch.autograd.Function):
    """The forward jet of an MLP with a hand-written backward, point-chunk by point-chunk.

    Saved for backward: the input stack and, per chunk, the pre-activation stacks of the
    activated layers after the first (R·N·width floats each). Everything elementwise is
    recomputed chunk by chunk. The backward is not itself differentiable (no double backward).
    """

    @staticmethod
    def forward(ctx, stack: Tensor, order: int, rules: list[Rule | None], *params: Tensor) -> Tensor:
        ctx.order, ctx.rules = order, rules
        layers = list(zip(params[0::2], params[1::2], rules))
        ctx.compiled = _compiled_kernels_ready(stack, layers, order)
        rows, points = stack.shape[:2]
        widths = [weight.shape[0] for weight, _, _ in layers[1:-1]]
        # One block per saved layer, carved chunk by chunk, so that no chunk's saved tensors
        # sit between another's freed temporaries (heap fragmentation raised the peak by ~0.3 GB).
        blocks = [stack.new_empty(rows * points * width) for width in widths]
        ctx.saved_chunks, outputs, chunk = [], [], jet_chunk_points(stack.device)
        for part in stack.split(chunk, 1):
            begin, n = len(outputs) * chunk, part.shape[1]
            keep = [b[rows * begin * w : rows * (begin + n) * w].view(rows, n, w) for b, w in zip(blocks, widths)]
            outputs.append(_propagate(part, layers, order, keep, ctx.compiled))
            ctx.saved_chunks.append(keep)
        ctx.save_for_backward(stack, *params)
        return torch.cat(outputs, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out: Tensor):
        stack, *params = ctx.saved_tensors
        layers = list(zip(params[0::2], params[1::2], ctx.rules))
        g_params = [torch.zeros_like(p) for p in params]
        g_stack = torch.empty_like(stack) if ctx.needs_input_grad[0] else None
        begin = 0
        for index, part in enumerate(stack.split(jet_chunk_points(stack.device), 1)):
            end = begin + part.shape[1]
            zs = [_affine(part, *params[:2]), *ctx.saved_chunks[index]]
            g_part = _backward_chunk(
                part, zs, g_out[:, begin:end], layers, ctx.order, g_params, g_stack is not None, ctx.compiled
            )
            if g_stack is not None:
                g_stack[:, begin:end] = g_part
            begin = end
        return g_stack, None, None, *g_params


NARROW_COLUMNS = 16
"""Weight gradients gᵀh of layers with fewer inputs than this are computed on h zero-padded to
this many columns: MKL's product for a narrow result (256 × 2 to 8, summed over 32,768 rows)
measured 24-31 ms on this project's 2-core EPYC, padded to 16 columns 5 ms."""


def _add_weight_gradient(grad: Tensor, g: Tensor, h: Tensor) -> None:
    """grad (n_out, n_in) += gᵀ h, for g (M, n_out) and h (M, n_in): a dense layer's weight gradient."""
    n_in = h.shape[1]
    if n_in < NARROW_COLUMNS:
        grad += torch.mm(g.t(), nn.functional.pad(h, (0, NARROW_COLUMNS - n_in)))[:, :n_in]
    else:
        grad.addmm_(g.t(), h)


def _backward_chunk(
    stack: Tensor,
    zs: list[Tensor],
    g: Tensor,
    layers: list[Layer],
    order: int,
    g_params: list[Tensor],
    input_grad: bool,
    compiled: bool,
) -> Tensor | None:
    """Accumulate one chunk's parameter gradients into g_params (w0, b0, w1, ...); return ∂L/∂stack
    if `input_grad`, else None.

    zs are the pre-activation stacks of the activated layers (R, N, width) and g is
    ∂L/∂(output stack) (R, N, c). Walking down from the head, `h` is the input of layer k
    (recomputed from zs[k - 1]) and g becomes ∂L/∂(pre-activation of layer k).
    """

    def accumulate(k: int, g: Tensor, h: Tensor, input_grad: bool = True) -> Tensor | None:
        """Add layer k's parameter gradients; return ∂L/∂h (h the input of layer k) if `input_grad`."""
        rows = g.shape[0] * g.shape[1]
        g_flat = g.reshape(rows, -1)
        _add_weight_gradient(g_params[2 * k], g_flat, h.reshape(rows, -1))
        g_params[2 * k + 1] += g[0].sum(0)
        return (g_flat @ layers[k][0]).view(h.shape) if input_grad else None

    kernels = [_kernels(rule, compiled) for _, _, rule in layers[:-1]]
    h, derivs, squares = kernels[-1].push(zs[-1], layers[-2][2], order)
    for k in range(len(layers) - 1, 0, -1):
        g = kernels[k - 1].pull(zs[k - 1], accumulate(k, g, h), derivs, squares, order)
        if k >= 2:
            h, derivs, squares = kernels[k - 2].push(zs[k - 2], layers[k - 2][2], order)
    return accumulate(0, g, stack, input_grad)


# ---- autograd (reference) path --------------------------------------------------------------


def autograd_jet(field: nn.Module, x: Tensor, order: int) -> Jet:
    """Reverse-mode (value, gradient[, Laplacian]) by repeated autograd.grad with create_graph."""
    x = x.detach().requires_grad_(True) if not x.requires_grad else x
    value = field(x)
    channels = value.shape[-1]
    grads = [gradient_of(value[..., k], x) for k in range(channels)]
    gradient = torch.stack(grads, dim=-2)  # (..., c, d)
    lap = None
    if order == 2:
        lap = torch.stack([divergence_of(g, x) for g in grads], dim=-1)
    return Jet(value, gradient, lap)


def gradient_of(y: Tensor, x: Tensor) -> Tensor:
    """∇y for y of shape (...) computed from x of shape (..., d): returns (..., d), graph kept."""
    (g,) = torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def divergence_of(v: Tensor, x: Tensor) -> Tensor:
    """∇·v for a vector field v of shape (..., d) computed from x (..., d): returns (...)."""
    return sum(gradient_of(v[..., i], x)[..., i] for i in range(x.shape[-1]))
