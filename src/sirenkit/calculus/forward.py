"""The forward path: (value, gradient, Laplacian) pushed through the encoding, each dense layer
and each activation in a single pass (the "forward Laplacian", Li et al. 2023, arXiv 2307.08214).

It is differentiable in the parameters, so losses on derivatives train through it: a fused
kernel runs it point-chunk by point-chunk and has a hand-written backward that keeps only each
hidden layer's pre-activations and recomputes the elementwise terms (sin, cos, ...) when the
gradient is asked for. Any activation works, through its own `derivatives`
(`sirenkit.fields.activations`); the elementwise kernels and their compiling are in
`sirenkit.calculus.kernels`.

Inside this path a jet of n features at N points is a "stack" of rows
[value; ∂/∂x_1 … ∂/∂x_d; Laplacian], shape (R, N, n) with R = 1 + d (+ 1 for order 2), so that
a dense layer is one matrix product of all rows with Wᵀ (the bias goes to the value row only).

A `BatchedField` of K fields takes the same path with a stack (R, K, N, n): chunks split the
points of every field alike, and inside a chunk of n points per field the stack is viewed as
(R, K·n, features) — field k's points the k-th run of n — so the elementwise kernels (and their
compiled forms) see the same 3-D stacks as for one field. A dense layer is then, per row, one
batched product of the (K, n, n_in) points with the (K, n_in, n_out) weights Wₖᵀ; the backward
pass accumulates each field's weight gradient with batched products as well, so no field's
points ever meet another field's weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from sirenkit.calculus.kernels import EAGER_KERNELS, Compiler, KernelPair
from sirenkit.calculus.result import Jet
from sirenkit.fields.activations import Activation
from sirenkit.fields.batched import BatchedField
from sirenkit.fields.mlp import MLPField

JET_CHUNK_POINTS = {"cpu": 4096, "cuda": 65536}
"""Points per chunk of the fused forward kernel, by device type (others take the CPU's). On a CPU
a (4096, 4, 256) float32 stack is 16 MiB, so a chunk's temporaries stay small next to the saved
pre-activations, and the peak memory of a training step stays near that of the saved stacks. A
GPU launches every kernel once per chunk, so there the chunk is as large as memory allows
comfortably (a 65,536-point stack of width 256 is 256 MiB). `benchmarks/derivatives.py` measures
the time and peak memory of a step with these chunks. A `BatchedField`'s chunks hold this many points
in all, split evenly among its fields, but at least FIELD_CHUNK_MIN_POINTS per field (see
`stack_chunk_points`)."""

FIELD_CHUNK_MIN_POINTS = 16
"""Points per field per chunk, at least, for a `BatchedField`, whose chunks otherwise split
JET_CHUNK_POINTS evenly among its K fields (so that a chunk's stacks stay as small as one field's).
Its layers are batched products of each field's points in the chunk with that field's weights; with
only a point or two per field the per-product overhead dominates, so beyond
K = JET_CHUNK_POINTS / FIELD_CHUNK_MIN_POINTS fields a chunk holds FIELD_CHUNK_MIN_POINTS·K points."""

NARROW_COLUMNS = 16
"""Weight gradients gᵀh of layers with fewer inputs than this are computed on h zero-padded to
this many columns: MKL's product for a narrow result (a few columns, summed over many rows) is
several times slower than the padded one."""

Layer = tuple[Tensor, Tensor, Activation | None]
"""(weight (n_out, n_in), bias (n_out,), the activation, or None for the linear head); for a
`BatchedField` weight (K, n_out, n_in) and bias (K, n_out)."""


def jet_chunk_points(device: torch.device) -> int:
    """Points per chunk of the fused forward kernel on this device (see JET_CHUNK_POINTS)."""
    return JET_CHUNK_POINTS.get(device.type, JET_CHUNK_POINTS["cpu"])


def forward_jet(field: MLPField | BatchedField, x: Tensor, order: int, compiler: Compiler | None = None) -> Jet:
    """Forward-mode (value, gradient[, Laplacian]) in one pass; differentiable in the parameters.

    Always computed in the parameters' dtype, also under autocast: a Laplacian scales with ω0²
    per layer and bfloat16's 8 significant bits would not carry it. Without grad mode (or with
    frozen parameters and coordinates) nothing is kept for a backward pass, and the eager kernels
    run; with it, `compiler` picks the kernels (None: the eager ones).

    For a `BatchedField` of K fields x is (K, ..., d) and each part of the jet has the leading K
    axis: field k's jet at x[k].
    """
    d = x.shape[-1]
    if isinstance(field, BatchedField):
        field.check_points(x)
        lead, points = x.shape[1:-1], x.reshape(x.shape[0], -1, d)
    else:
        lead, points = x.shape[:-1], x.reshape(-1, d)
    with torch.autocast(x.device.type, enabled=False):
        stack = encoding_stack(field, points.to(field.head.weight.dtype), order)
        layers = fused_layers(field)
        params = [t for weight, bias, _ in layers for t in (weight, bias)]
        if torch.is_grad_enabled() and any(t.requires_grad for t in [stack, *params]):
            activations = [activation for _, _, activation in layers]
            out = _FusedJet.apply(stack, order, activations, compiler, *params)
        else:
            eager = [EAGER_KERNELS] * (len(layers) - 1)
            chunks = stack.split(stack_chunk_points(stack), -2)
            out = torch.cat([_unflat(_propagate(_flat(part), layers, order, eager), part) for part in chunks], -2)
    out = out.to(x.dtype).unflatten(-2, lead)  # (R, [K,] ..., c)
    return Jet(out[0], out[1 : 1 + d].movedim(0, -1), out[-1] if order == 2 else None)


def stack_chunk_points(stack: Tensor) -> int:
    """Points per chunk of a stack, per field: `jet_chunk_points` for a field's (R, N, e); for the K
    fields of a `BatchedField`'s (R, K, N, e) that split evenly (rounded up), but at least
    FIELD_CHUNK_MIN_POINTS."""
    total = jet_chunk_points(stack.device)
    return total if stack.dim() == 3 else max(-(-total // stack.shape[1]), FIELD_CHUNK_MIN_POINTS)


def _flat(part: Tensor) -> Tensor:
    """A chunk (R, n, e) as it is, or a batched chunk (R, K, n, e) as (R, K·n, e)."""
    return part.flatten(1, -2)


def _unflat(out: Tensor, part: Tensor) -> Tensor:
    """A chunk's output (R, [K·]n, c) in the chunk's own layout (R, [K,] n, c)."""
    return out.view(*part.shape[:-1], out.shape[-1])


def encoding_stack(field: MLPField | BatchedField, x: Tensor, order: int) -> Tensor:
    """The encoding's jet at points x (N, d) as a stack (R, N, e): [γ; ∂γ/∂x_1 … ∂γ/∂x_d; Δγ];
    for a `BatchedField`, at x (K, N, d) as (R, K, N, e)."""
    value, jac, lap = field.encoding.jet(x)  # (N, e), (N, e, d), (N, e)
    rows = [value.unsqueeze(0), jac.movedim(-1, 0)] + ([lap.unsqueeze(0)] if order == 2 else [])
    return torch.cat(rows, dim=0)


def fused_layers(field: MLPField | BatchedField) -> list[Layer]:
    """The field's layers as (weight, bias, activation), the head last with activation None.

    Each activation's `scale` goes on its layer: σ(W h + b) = f(scale·(W h + b)) becomes
    f((scale·W) h + scale·b), the factor on the small weight matrix once instead of on every
    element of every row of the stack.
    """
    layers: list[Layer] = []
    for layer in field.layers:
        scale = layer.activation.scale
        weight, bias = (layer.weight, layer.bias) if scale == 1 else (scale * layer.weight, scale * layer.bias)
        layers.append((weight, bias, layer.activation))
    return [*layers, (field.head.weight, field.head.bias, None)]


def _affine(stack: Tensor, weight: Tensor, bias: Tensor, out: Tensor | None = None) -> Tensor:
    """z = h Wᵀ + b on a stack (R, N, n_in) → (R, N, n_out), contiguous, written to `out` if given;
    the bias goes to the value row only. Batched weights (K, n_out, n_in) go to `_batched_affine`."""
    if weight.dim() == 3:
        return _batched_affine(stack, weight, bias, out)
    rows, n, width = stack.shape
    flat = out.view(rows * n, -1) if out is not None else None
    z = torch.mm(stack.reshape(rows * n, width), weight.t(), out=flat).view(rows, n, -1)
    z[0] += bias
    return z


def _batched_affine(stack: Tensor, weight: Tensor, bias: Tensor, out: Tensor | None = None) -> Tensor:
    """z = h Wₖᵀ + bₖ per field on a batched stack (R, K·n, n_in) whose k-th run of n points is field
    k's, with weight (K, n_out, n_in) and bias (K, n_out) → (R, K·n, n_out), contiguous, written to
    `out` if given; one batched product per row, the bias to the value row only."""
    rows, points, width = stack.shape
    count, n_out = weight.shape[:2]
    n = points // count
    z = out if out is not None else stack.new_empty(rows, points, n_out)
    weight_t = weight.transpose(1, 2)
    for row in range(rows):
        torch.bmm(stack[row].reshape(count, n, width), weight_t, out=z[row].view(count, n, n_out))
    z[0].view(count, n, n_out).add_(bias.unsqueeze(1))
    return z


def _propagate(
    stack: Tensor, layers: list[Layer], order: int, kernels: list[KernelPair], keep: list[Tensor] | None = None
) -> Tensor:
    """The jet through all layers: (R, N, e) → (R, N, c), with `kernels` one pair per activated layer.

    With `keep`, the pre-activations of the activated layers after the first (the first one's is
    cheap to recompute from the small input) are written into those (R, N, width) buffers.
    """
    h = stack
    for i, ((weight, bias, activation), pair) in enumerate(zip(layers[:-1], kernels)):
        z = _affine(h, weight, bias, keep[i - 1] if keep is not None and i > 0 else None)
        h, _, _ = pair.push(z, activation, order)
    weight, bias, _ = layers[-1]
    return _affine(h, weight, bias)


class _FusedJet(torch.autograd.Function):
    """The forward jet of an MLP with a hand-written backward, point-chunk by point-chunk.

    Saved for backward: the input stack and, per chunk, the pre-activation stacks of the
    activated layers after the first (R·N·width floats each). Everything elementwise is
    recomputed chunk by chunk. The backward is not itself differentiable (no double backward).
    """

    @staticmethod
    def forward(
        ctx, stack: Tensor, order: int, activations: list[Activation | None], compiler: Compiler | None, *params: Tensor
    ) -> Tensor:
        layers = list(zip(params[0::2], params[1::2], activations))
        activated = [(activation, weight.shape[0]) for weight, _, activation in layers[:-1]]
        ctx.order, ctx.activations = order, activations
        ctx.kernels = (
            compiler.kernels(_flat(stack), activated, order)
            if compiler is not None
            else [EAGER_KERNELS] * len(activated)
        )
        # A field's stack is (R, N, e), a BatchedField's (R, K, N, e): `rows` counts the R·K rows
        # of one point, and chunks split the point axis (-2).
        rows, points = stack.shape[:-2].numel(), stack.shape[-2]
        widths = [layer_weight.shape[-2] for layer_weight, _, _ in layers[1:-1]]
        # One block per saved layer, carved chunk by chunk, so that no chunk's saved tensors
        # sit between another's freed temporaries (heap fragmentation raises the peak).
        blocks = [stack.new_empty(rows * points * width) for width in widths]
        ctx.saved_chunks, outputs, chunk = [], [], stack_chunk_points(stack)
        for part in stack.split(chunk, -2):
            begin, n = len(outputs) * chunk, part.shape[-2]
            keep = [
                b[rows * begin * w : rows * (begin + n) * w].view(stack.shape[0], -1, w) for b, w in zip(blocks, widths)
            ]
            outputs.append(_unflat(_propagate(_flat(part), layers, order, ctx.kernels, keep), part))
            ctx.saved_chunks.append(keep)
        ctx.save_for_backward(stack, *params)
        return torch.cat(outputs, -2)

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out: Tensor):
        stack, *params = ctx.saved_tensors
        layers = list(zip(params[0::2], params[1::2], ctx.activations))
        g_params = [torch.zeros_like(p) for p in params]
        g_stack = torch.empty_like(stack) if ctx.needs_input_grad[0] else None
        begin = 0
        for index, part in enumerate(stack.split(stack_chunk_points(stack), -2)):
            end = begin + part.shape[-2]
            flat = _flat(part)
            zs = [_affine(flat, *params[:2]), *ctx.saved_chunks[index]]
            g_part = _backward_chunk(
                flat, zs, _flat(g_out[..., begin:end, :]), layers, ctx.order, g_params, g_stack is not None, ctx.kernels
            )
            if g_stack is not None:
                g_stack[..., begin:end, :] = _unflat(g_part, part)
            begin = end
        return g_stack, None, None, None, *g_params


def _add_weight_gradient(grad: Tensor, g: Tensor, h: Tensor) -> None:
    """grad (n_out, n_in) += gᵀ h, for g (M, n_out) and h (M, n_in): a dense layer's weight gradient."""
    n_in = h.shape[1]
    if n_in < NARROW_COLUMNS:
        grad += torch.mm(g.t(), nn.functional.pad(h, (0, NARROW_COLUMNS - n_in)))[:, :n_in]
    else:
        grad.addmm_(g.t(), h)


def _batched_layer_gradients(
    g: Tensor, h: Tensor, weight: Tensor, g_weight: Tensor, g_bias: Tensor, input_grad: bool
) -> Tensor | None:
    """One batched layer's share of `_backward_chunk`: with g = ∂L/∂z (R, K·n, n_out) and its input
    h (R, K·n, n_in) (field k's points the k-th run of n), add Σ gₖᵀhₖ to g_weight (K, n_out, n_in)
    and the value row's Σ gₖ to g_bias (K, n_out); return ∂L/∂h = gₖ Wₖ (R, K·n, n_in) if `input_grad`."""
    rows, points, n_out = g.shape
    count, _, n_in = weight.shape
    n = points // count
    g_bias += g[0].reshape(count, n, n_out).sum(1)
    for row in range(rows):
        g_weight.baddbmm_(g[row].reshape(count, n, n_out).transpose(1, 2), h[row].reshape(count, n, n_in))
    if not input_grad:
        return None
    g_h = h.new_empty(rows, points, n_in)
    for row in range(rows):
        torch.bmm(g[row].reshape(count, n, n_out), weight, out=g_h[row].view(count, n, n_in))
    return g_h


def _backward_chunk(
    stack: Tensor,
    zs: list[Tensor],
    g: Tensor,
    layers: list[Layer],
    order: int,
    g_params: list[Tensor],
    input_grad: bool,
    kernels: list[KernelPair],
) -> Tensor | None:
    """Accumulate one chunk's parameter gradients into g_params (w0, b0, w1, ...); return ∂L/∂stack
    if `input_grad`, else None.

    zs are the pre-activation stacks of the activated layers (R, N, width) and g is
    ∂L/∂(output stack) (R, N, c). Walking down from the head, `h` is the input of layer k
    (recomputed from zs[k - 1]) and g becomes ∂L/∂(pre-activation of layer k).
    """

    def accumulate(k: int, g: Tensor, h: Tensor, input_grad: bool = True) -> Tensor | None:
        """Add layer k's parameter gradients; return ∂L/∂h (h the input of layer k) if `input_grad`."""
        if layers[k][0].dim() == 3:
            return _batched_layer_gradients(g, h, layers[k][0], g_params[2 * k], g_params[2 * k + 1], input_grad)
        rows = g.shape[0] * g.shape[1]
        g_flat = g.reshape(rows, -1)
        _add_weight_gradient(g_params[2 * k], g_flat, h.reshape(rows, -1))
        g_params[2 * k + 1] += g[0].sum(0)
        return (g_flat @ layers[k][0]).view(h.shape) if input_grad else None

    h, derivs, squares = kernels[-1].push(zs[-1], layers[-2][2], order)
    for k in range(len(layers) - 1, 0, -1):
        g = kernels[k - 1].pull(zs[k - 1], accumulate(k, g, h), derivs, squares, order)
        if k >= 2:
            h, derivs, squares = kernels[k - 2].push(zs[k - 2], layers[k - 2][2], order)
    return accumulate(0, g, stack, input_grad)
