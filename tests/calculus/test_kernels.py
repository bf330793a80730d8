"""The elementwise kernels and their `Compiler` (`sirenkit.calculus.kernels`): compiled against
eager, the compile mode honoured, and a failed compile that warns once and falls back."""

from __future__ import annotations

import pytest
import torch

from sirenkit.calculus import COMPILE_MIN_POINTS, Compiler, jet_chunk_points
from sirenkit.calculus.kernels import compile_fullgraph

from .jet_helpers import points, relative_error, small_field, training_path_results

CPU = torch.device("cpu")
THREE_CHUNKS = 2 * jet_chunk_points(CPU) + 100
"""Points that the forward path splits into three chunks, the last one short."""


def recording(names: list[str], compile_fn=compile_fullgraph):
    """A compile_fn that records the name of each kernel it compiles, then compiles it with `compile_fn`."""

    def compile_(kernel):
        names.append(kernel.__name__)
        return compile_fn(kernel)

    return compile_


@pytest.mark.parametrize("order", [1, 2])
def test_compiled_sine_kernels_match_the_eager_ones(order):
    field, x = small_field("siren", 2), points(THREE_CHUNKS, 2)
    compiled_kernels: list[str] = []
    compiler = Compiler("on", compile_fn=recording(compiled_kernels))
    compiled = training_path_results(field, x, order, compiler)
    eager = training_path_results(field, x, order, Compiler("off"))
    assert compiler.failure is None and sorted(compiled_kernels) == ["_sine_pull", "_sine_push"]
    for a, b in zip(compiled, eager, strict=True):
        assert relative_error(a, b) < 1e-12


@pytest.mark.parametrize(
    ("model", "mode", "n", "compiles"),
    [
        ("siren", "off", COMPILE_MIN_POINTS, False),
        ("siren", "on", 50, True),
        ("siren", "auto", 50, False),
        ("siren", "auto", COMPILE_MIN_POINTS, True),
        ("tanh", "on", 50, False),  # no compiled kernels for tanh: the eager ones serve it
    ],
)
def test_the_compile_mode_given_to_the_jet_is_honoured(model, mode, n, compiles):
    compiled_kernels: list[str] = []
    compiler = Compiler(mode, compile_fn=recording(compiled_kernels, compile_fn=lambda kernel: kernel))
    training_path_results(small_field(model, 2), points(n, 2), 2, compiler)
    assert bool(compiled_kernels) == compiles


def test_a_failed_compile_warns_once_per_compiler_and_runs_the_eager_kernels():
    def without_compiler(kernel):
        def call(*args):
            try:
                raise OSError("no C++ compiler found")
            except OSError as cause:
                raise RuntimeError("backend='inductor' raised:") from cause

        return call

    field, x = small_field("siren", 2), points(50, 2)
    eager = training_path_results(field, x, 2, Compiler("off"))
    compiler = Compiler("on", compile_fn=without_compiler)
    with pytest.warns(UserWarning, match="torch.compile failed \\(OSError: no C\\+\\+ compiler found\\)"):
        fallback = training_path_results(field, x, 2, compiler)
    for a, b in zip(fallback, eager, strict=True):
        assert relative_error(a, b) < 1e-12
    assert compiler.failure == "OSError: no C++ compiler found" and not compiler.active(CPU, 10**6)
    training_path_results(field, x, 2, compiler)  # no second warning (warnings are errors in the tests)
    with pytest.warns(UserWarning, match="torch.compile failed"):  # the failure is this compiler's, not the process's
        training_path_results(field, x, 2, Compiler("on", compile_fn=without_compiler))


def test_compiled_kernels_are_chosen_by_the_mode_and_the_size_of_the_call():
    cuda = torch.device("cuda")
    auto = Compiler()
    assert auto.mode == "auto" and auto.active(CPU, COMPILE_MIN_POINTS) and not auto.active(CPU, COMPILE_MIN_POINTS - 1)
    assert not auto.active(cuda, 10**6)
    assert Compiler("on").active(CPU, 1) and Compiler("on").active(cuda, 1)
    assert not Compiler("off").active(CPU, 10**6)
    with pytest.raises(ValueError, match="unknown compile mode 'fast'; choose one of auto, on, off"):
        Compiler("fast")
