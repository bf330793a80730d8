"""The elementwise kernels of the forward path, and the `Compiler` that compiles and runs them.

A kernel pair acts on one activated layer of a jet stack (R, N, n) (see `sirenkit.calculus.forward`):
its push applies the activation — σ(z), σ'·∂z, σ'·Δz + σ''·|∇z|² — and its pull is that push's
vector-Jacobian product. The eager pair serves any activation, from its `derivatives`
(`sirenkit.fields.activations`), with PyTorch's operations written in place. For the sine, the
training path (the fused kernel with its backward) can instead run a pair written as single
expressions that torch.compile fuses, which read and write each stack once instead of once per
operation (`benchmarks/derivatives.py` times both).

A `Compiler` chooses between them by its mode — `auto` compiles on a CPU for calls of at least
COMPILE_MIN_POINTS points, `on` always, `off` never — and compiles them. Compiling takes seconds
per new dtype, width and order (a C++ compiler is needed on a CPU); where it fails, the Compiler
warns once and runs the eager kernels from then on. Evaluation without gradients always runs the
eager kernels: it is done a few times, not thousands.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from sirenkit.fields.activations import Activation, Derivatives, Sine

Push = Callable[[Tensor, Activation, int], tuple[Tensor, Derivatives, Tensor | None]]
"""(pre-activation stack z, activation, order) → (its activated stack, the activation's
derivatives at z[0], |∇z|² (N, n) or None)."""
Pull = Callable[[Tensor, Tensor, Derivatives, Tensor | None, int], Tensor]
"""(z, ∂L/∂(activated stack), the push's derivatives and |∇z|², order) → ∂L/∂z."""


class KernelPair(NamedTuple):
    """An activation's push (its jet forward) and pull (that push's vector-Jacobian product)."""

    push: Push
    pull: Pull


def sum_of_products(a: Tensor, b: Tensor) -> Tensor:
    """Σ_i a[i]·b[i] over the leading (tangent) axis: (d, N, n) → (N, n)."""
    out = a[0] * b[0]
    for i in range(1, a.shape[0]):
        out.addcmul_(a[i], b[i])
    return out


def eager_push(z: Tensor, activation: Activation, order: int) -> tuple[Tensor, Derivatives, Tensor | None]:
    """The activation applied to a pre-activation stack z (R, N, n): σ(z), σ'·∂z, σ'·Δz + σ''·|∇z|².

    Returns that stack, the derivatives at z[0] and |∇z|² (N, n), which `eager_pull` reuses (None
    where σ'' is zero or order is 1).
    """
    derivs = activation.derivatives(z[0])
    end = z.shape[0] - (order == 2)
    t = z[1:end]
    out = torch.empty_like(z)
    out[0] = derivs.value
    torch.mul(t, derivs.first, out=out[1:end])
    squares = None
    if order == 2:
        torch.mul(z[-1], derivs.first, out=out[-1])
        if derivs.second is not None:
            squares = sum_of_products(t, t)
            out[-1].addcmul_(derivs.second, squares, value=derivs.sign)
    return out, derivs, squares


def eager_pull(z: Tensor, g: Tensor, derivs: Derivatives, squares: Tensor | None, order: int) -> Tensor:
    """The vector-Jacobian product of `eager_push`: ∂L/∂z (R, N, n) from g = ∂L/∂(its output)
    (R, N, n) and the derivatives and |∇z|² that the push returned."""
    _, d1, d2, d3, sign = derivs
    end = z.shape[0] - (order == 2)
    t, gt = z[1:end], g[1:end]
    out = torch.empty_like(z)
    g0 = torch.mul(g[0], d1, out=out[0])
    torch.mul(gt, d1, out=out[1:end])
    if d2 is not None:
        g0.addcmul_(d2, sum_of_products(gt, t), value=sign)
    if order == 2:
        gl = g[-1]
        torch.mul(gl, d1, out=out[-1])
        if d2 is not None:
            curvature = torch.mul(d2, z[-1]).addcmul_(d3, squares)  # (σ''·Δz + σ'''·|∇z|²) / sign
            g0.addcmul_(gl, curvature, value=sign)
            out[1:end].addcmul_(torch.mul(gl, d2), t, value=2 * sign)
    return out


EAGER_KERNELS = KernelPair(eager_push, eager_pull)


def _sine_push(z: Tensor, order: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """`eager_push` for the sine as one expression for torch.compile to fuse: (σ-stack, cos z[0], |∇z|²)."""
    s, c = torch.sin(z[0]), torch.cos(z[0])
    end = z.shape[0] - (order == 2)
    t = z[1:end]
    if order == 1:
        return torch.cat([s[None], t * c]), c, None
    squares = (t * t).sum(0)
    return torch.cat([s[None], t * c, (z[-1] * c - s * squares)[None]]), c, squares


def _sine_pull(z: Tensor, g: Tensor, s: Tensor, c: Tensor, squares: Tensor | None, order: int) -> Tensor:
    """`eager_pull` for the sine as one expression for torch.compile to fuse (s, c: sin and cos of z[0])."""
    end = z.shape[0] - (order == 2)
    t, gt = z[1:end], g[1:end]
    along = (gt * t).sum(0)  # Σ_i ∂L/∂(∂σ/∂x_i) · ∂z/∂x_i
    if order == 1:
        return torch.cat([(g[0] * c - s * along)[None], gt * c])
    gl = g[-1]
    along = along + gl * z[-1]
    return torch.cat([(c * (g[0] - gl * squares) - s * along)[None], gt * c - 2 * (gl * s) * t, (gl * c)[None]])


Run = Callable[..., Any]
"""A Compiler's `run`: kernel(*args), compiled."""


def _compiled_sine_push(
    run: Run, z: Tensor, activation: Activation, order: int
) -> tuple[Tensor, Derivatives, Tensor | None]:
    h, c, squares = run(_sine_push, z, order)
    return h, Derivatives(h[0], c, h[0], c, sign=-1.0), squares


def _compiled_sine_pull(
    run: Run, z: Tensor, g: Tensor, derivs: Derivatives, squares: Tensor | None, order: int
) -> Tensor:
    return run(_sine_pull, z, g, derivs.value, derivs.first, squares, order)


COMPILED_KERNELS: dict[type[Activation], tuple[Callable[..., Any], Callable[..., Any]]] = {
    Sine: (_compiled_sine_push, _compiled_sine_pull)
}
"""Activations with a kernel pair for torch.compile, by class; their push and pull take a
Compiler's `run` first. The sine's is `Sine.derivatives` (sin'' = −sin, sin''' = −cos) written so
that it keeps only cos and reads sin back from the stack's value row. Every other activation runs
EAGER_KERNELS."""

CompileMode = Literal["auto", "on", "off"]
COMPILE_MODES: tuple[CompileMode, ...] = ("auto", "on", "off")
COMPILE_MIN_POINTS = 8192
"""`auto` compiles for calls of at least this many points (the Poisson command's default batch):
for fewer, a step's elementwise work is small and compiling, seconds for every new dtype, width
and order, would not pay back (a test suite of small fields would pay it over and over)."""


def compile_fullgraph(kernel: Callable) -> Callable:
    """torch.compile of a kernel as one graph: a graph break fails the compile instead of running
    the kernel in pieces."""
    return torch.compile(kernel, fullgraph=True)


def describe_failure(error: BaseException) -> str:
    """'Type: first line' of the innermost cause of a failed compile (torch wraps the compiler's error)."""
    while error.__cause__ is not None:
        error = error.__cause__
    first_line = str(error).strip().partition("\n")[0]
    return f"{type(error).__name__}: {first_line}"


class Compiler:
    """Runs the training path's kernels compiled or eager, as `mode` says; one per training run.

    `mode`: `auto` compiles on a CPU for jets of at least COMPILE_MIN_POINTS points, `on` always,
    `off` never. `compile_fn` turns a kernel into its compiled form (`compile_fullgraph` by default).

    State, owned by the instance and kept across its calls: the compiled kernels, the stack shapes
    already compiled for, and `failure` — why compiling failed, if it did; from then on this
    Compiler runs the eager kernels without trying again. (torch keeps the compiled code of a
    kernel for the whole process, so a second Compiler reuses it rather than compiling again.)
    """

    def __init__(self, mode: CompileMode = "auto", *, compile_fn: Callable[[Callable], Callable] = compile_fullgraph):
        if mode not in COMPILE_MODES:
            raise ValueError(f"unknown compile mode {mode!r}; choose one of {', '.join(COMPILE_MODES)}")
        self.mode = mode
        self.failure: str | None = None
        self._compile_fn = compile_fn
        self._compiled: dict[Callable, Callable] = {}
        self._prepared: set[tuple] = set()
        self._pairs = {
            cls: KernelPair(partial(push, self.run), partial(pull, self.run))
            for cls, (push, pull) in COMPILED_KERNELS.items()
        }

    def active(self, device: torch.device, points: int) -> bool:
        """Whether a training-path jet of `points` points on `device` runs compiled kernels."""
        if self.failure is not None or self.mode == "off":
            return False
        return self.mode == "on" or (device.type == "cpu" and points >= COMPILE_MIN_POINTS)

    def kernels(self, stack: Tensor, layers: Sequence[tuple[Activation, int]], order: int) -> list[KernelPair]:
        """The kernel pair of each activated layer, given as (activation, width), for a jet of this
        stack (R, N, e): the compiled pair where `active` and the activation has one (compiled for
        these shapes first, see `_prepare`), else the eager one."""
        eager = [EAGER_KERNELS] * len(layers)
        if not self.active(stack.device, stack.shape[1]):
            return eager
        pairs = [self._pairs.get(type(activation), EAGER_KERNELS) for activation, _ in layers]
        for pair, (activation, width) in zip(pairs, layers):
            if pair is not EAGER_KERNELS:
                self._prepare(pair, activation, (stack.shape[0], width, stack.dtype, stack.device, order))
        return eager if self.failure is not None else pairs

    def _prepare(self, pair: KernelPair, activation: Activation, shape: tuple) -> None:
        """Compile a pair for stacks (rows, any number of points, width) of `shape` = (rows, width,
        dtype, device, order), on two points, once per shape.

        Done before a step's large allocations: compiling amid them leaves the compiler's own memory
        between the step's buffers, and the heap keeps that layout, which raises the peak. The
        number of points is marked dynamic, so one compiled kernel serves every chunk (rows and
        width stay fixed, which keeps it as fast as one compiled for a single size); no_grad, as in
        the training path, because dynamo's guards check it.
        """
        key = (type(activation), *shape)
        if key in self._prepared:
            return
        self._prepared.add(key)
        rows, width, dtype, device, order = shape
        z, g = (torch.zeros(rows, 2, width, dtype=dtype, device=device) for _ in range(2))
        for t in (z, g):
            torch._dynamo.maybe_mark_dynamic(t, 1)
        with torch.no_grad():
            _, derivs, squares = pair.push(z, activation, order)
            for t in (*derivs, squares):
                if isinstance(t, Tensor):
                    torch._dynamo.maybe_mark_dynamic(t, 0)
            pair.pull(z, g, derivs, squares, order)

    def run(self, kernel: Callable, *args: Any) -> Any:
        """kernel(*args) compiled; the first failure to compile is warned about once, and from then
        on this and every later call runs `kernel` eagerly (the same arithmetic, unfused)."""
        if self.failure is None:
            try:
                if kernel not in self._compiled:
                    self._compiled[kernel] = self._compile_fn(kernel)
                return self._compiled[kernel](*args)
            except Exception as error:  # no C++ compiler or Python headers, an unsupported platform
                self.failure = describe_failure(error)
                warnings.warn(
                    f"torch.compile failed ({self.failure}); sirenkit runs the eager kernels "
                    "(set SIRENKIT_COMPILE=off to skip trying)",
                    stacklevel=2,
                )
        return kernel(*args)
