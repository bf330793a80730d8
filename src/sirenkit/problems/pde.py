"""Built-in PDE problems, each a few constraints over the general problem, with its exact solution.

Every problem lives on a box [low, high] in its own units; a time-dependent one has time as its
last axis. Each residual is divided by a characteristic size of its terms (k² for Helmholtz,
max |f| for Poisson), so a residual and a boundary or initial condition start comparable and
their weights (`PDEOptions.weights`) read as plain ratios. The solution is made of the network by an
`Ansatz` that scales the box into [−1, 1]^d and, with `PDEOptions(hard=True)`, holds the boundary (and
initial) conditions exactly instead of penalizing them.

- `poisson`: −Δu = f, u = g on ∂Ω, with u = Π_i sin(π m x_i) (DeepXDE's Poisson_Dirichlet_1d
  example is the 1-D case on [−1, 1], m = 1).
- `helmholtz`: −Δu − k²u = f, u = g on ∂Ω, with u = Π_i sin(k x_i) (DeepXDE's
  Helmholtz_Dirichlet_2d example: [0, 1]², k = 4π).
- `heat`: u_t = a Δ_x u, u = 0 on the spatial boundary, u(x, t0) = Π_i sin(π (x_i − low_i)/L_i)
  (DeepXDE's heat example: [0, 1] × [0, 1], a = 0.4).
- `wave`: u_tt = c² Δ_x u, a Gaussian pulse at rest at t0, u = 0 on the spatial boundary (the
  SIREN paper's setting); exact (by d'Alembert and reflections) in one space dimension.
- `point_source`: Δu + k²u = −f for a complex u with f a narrow Gaussian source, in a box whose
  rim is a perfectly matched layer that absorbs the outgoing waves (the SIREN paper's Sec. 4.3 has
  [−1, 1]² and k = 20; the defaults halve k); exact as the free-space Green's function in
  stretched coordinates.

Every parameter is checked before any work, against the range where float32 resolves the problem
(`SCALE_LIMIT`, `SCALE_FLOOR`, `SIDES`) and its exact solution can be evaluated; a refusal says
the range. A problem of one's own is a `Problem` of constraints (examples/poisson_2d.py); these
show how.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import torch
from scipy import special
from torch import Tensor

from sirenkit.problems.ansatz import Ansatz, PointFunction
from sirenkit.problems.base import Constraint, Evaluation, Problem, Reference, Refinement
from sirenkit.problems.domains import Ball, Box, BoxBoundary, RefinedSet, collocation

INTERIOR_POINTS = 1024
"""Points drawn inside the box per step for the equation's residual (the defaults' setting)."""
BOUNDARY_POINTS = 256
"""Points drawn per step on each boundary or initial condition."""
EIGENVALUE_TOLERANCE = 1e-3
"""Helmholtz is ill-posed when k² is within this relative distance of a Dirichlet eigenvalue of −Δ on the box."""
SCALE_LIMIT = 1e4
"""The largest argument a problem's functions may reach over its box: a sine's phase (k·|x|), a
decay's exponent (rate·|t|), a coordinate measured in one of the problem's lengths (|x| over a
side, a pulse's width, a layer's thickness). float32 holds a coordinate to 6e-8 of its size, so
such an argument is held to within about 1e-3."""
SCALE_FLOOR = 1e-6
"""The smallest phase or exponent a problem's parameter may make over its box: below it the
solution's variation and the residual's divisor (k², the decay rate, ...) leave float32's range."""
SIDES = (1e-6, 1e6)
"""The shortest and longest side of a box: derivatives in the scaled coordinates are divided by up
to the square of a half side, and that, with the scales above, stays within float32's range."""


@dataclass(frozen=True)
class PDEOptions:
    """How a built-in problem is posed, apart from its physics."""

    hard: bool = False
    """Hold the boundary (and initial) conditions exactly by the ansatz instead of penalizing them."""
    weights: dict[str, float] = field(default_factory=dict)
    """Weight of each constraint by name ("equation", "boundary", "initial_value", ...; 1 if not given)."""
    points: int = INTERIOR_POINTS
    """Points inside the box per step (each condition gets a quarter as many)."""
    collocation: int | None = None
    """Draw this many interior points once and train on them every step (conditions: a quarter as
    many), as DeepXDE does, instead of fresh points each step."""
    seed: int = 0
    """Seed of the fixed collocation draw."""
    refine_every: int = 0
    """With collocation: every this many steps, add to the interior set the collocation // 16
    points, of 8 × collocation drawn, where the equation's residual is largest (residual-based
    adaptive refinement; `problems.Refinement`). 0: never."""

    def __post_init__(self) -> None:
        if self.points < 4 or (self.collocation is not None and self.collocation < 4):
            raise ValueError(f"points and collocation must be at least 4, got {self.points} and {self.collocation}")
        if self.refine_every < 0 or (self.refine_every and self.collocation is None):
            raise ValueError("refinement grows a fixed collocation set: give collocation and refine_every >= 1")
        for name, weight in self.weights.items():
            if not (weight >= 0 and math.isfinite(weight)):
                raise ValueError(f"the weight of {name!r} must be a number >= 0, got {weight}")


@dataclass
class PDE:
    """A built-in problem: its constraints and ansatz as posed (`posed`) and as trained (`problem`),
    its box in its own units, the names of its axes (time last for a time-dependent one), its exact
    solution (None where there is no closed form), the parameters it was made with (what a
    checkpoint records) and the options it was posed with."""

    name: str
    posed: Problem
    """The constraints on their domains, each drawing its `points` per step, and the ansatz: what
    a step trains on, before a fixed collocation set is drawn (`problem`)."""
    low: tuple[float, ...]
    high: tuple[float, ...]
    axes: tuple[str, ...]
    exact: PointFunction | None
    parameters: dict[str, Any] = field(default_factory=dict)
    channels: tuple[str, ...] = ("u",)
    """What each output of the solution is: ("u",), or ("Re u", "Im u") for a complex u."""
    options: PDEOptions = field(default_factory=PDEOptions)

    @cached_property
    def problem(self) -> Problem:
        """The problem to train: `posed`, or with `options.collocation` its constraints on fixed
        sets drawn here, on first use, so that a fit can check their memory first
        (`recipes.pde.PDEKind.requests`)."""
        return _collocated(self.posed, self.options)

    def grid(self, points: int) -> Tensor:
        """A grid of the box with `points` nodes per axis, row-major over the axes: (points^d, d)."""
        axes = [torch.linspace(lo, hi, points) for lo, hi in zip(self.low, self.high)]
        return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))

    def reference(self, points: int, every: int = 100) -> Reference | None:
        """The exact solution on `grid(points)` where it is known (finite), for `fit` to log the
        error against (None without one)."""
        if self.exact is None:
            return None
        x = self.grid(points)
        u = self.exact(x)
        known = torch.isfinite(u).all(-1)
        return Reference(x[known], u[known], every)


def check_box(low: Sequence[float], high: Sequence[float], dims: Sequence[int]) -> tuple[tuple, tuple]:
    """low and high as tuples of floats; ValueError unless they are finite, of a length in `dims`,
    low < high, and every side is within `SIDES` and at least 1/SCALE_LIMIT of its axis's largest
    |coordinate| (so that float32 coordinates resolve it)."""
    low, high = tuple(float(v) for v in low), tuple(float(v) for v in high)
    if len(low) != len(high) or len(low) not in dims:
        raise ValueError(f"the box needs low and high of one length in {list(dims)}, got {list(low)} and {list(high)}")
    if not all(math.isfinite(a) and math.isfinite(b) and a < b for a, b in zip(low, high)):
        raise ValueError(f"the box needs finite low < high on every axis, got low={list(low)}, high={list(high)}")
    if not all(
        SIDES[0] <= b - a <= SIDES[1] and (b - a) * SCALE_LIMIT >= max(abs(a), abs(b)) for a, b in zip(low, high)
    ):
        raise ValueError(
            f"the box needs sides from {SIDES[0]:.3g} to {SIDES[1]:.3g}, each at least 1/{SCALE_LIMIT:g} of its axis's "
            f"largest |coordinate| (what float32 resolves), got low={list(low)}, high={list(high)}"
        )
    return low, high


def _reach(low: Sequence[float], high: Sequence[float]) -> float:
    """The largest |coordinate| of a box."""
    return max(abs(v) for v in (*low, *high))


def _in_range(name: str, value: float, low: float, high: float, why: str) -> float:
    """`value` as a float; ValueError naming the range [low, high] and `why` unless it lies in it."""
    value = float(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be a positive number from {low:.3g} to {high:.3g} ({why}), got {value:g}")
    return value


def _scale(name: str, value: float, unit: float, argument: str) -> float:
    """`value` as a float; ValueError unless the `argument` it makes, value × unit, lies in
    [SCALE_FLOOR, SCALE_LIMIT] (`unit` is what the parameter multiplies at its largest over the box)."""
    why = f"so that {argument} over the box lies in [{SCALE_FLOOR:.3g}, {SCALE_LIMIT:.3g}], which float32 resolves"
    return _in_range(name, value, SCALE_FLOOR / unit, SCALE_LIMIT / unit, why)


def _length(name: str, value: float, reach: float, longest: float, bound: str) -> float:
    """A length of a problem (a width, a thickness) as a float; ValueError unless it lies between
    1/SCALE_LIMIT of `reach` (the largest |coordinate| it is measured against) and `longest`, which
    `bound` names."""
    why = f"at least 1/{SCALE_LIMIT:g} of the largest |x| and at most {bound}"
    return _in_range(name, value, reach / SCALE_LIMIT, longest, why)


def _constraints(
    equation: Callable[[Evaluation], Tensor],
    needs: set[str],
    box: Box,
    conditions: Sequence[tuple[str, BoxBoundary, Callable[[Evaluation], Tensor], set[str]]],
    options: PDEOptions,
) -> list[Constraint]:
    """The equation on the box and each condition on its faces, weighted as `options` says, each
    drawing `constraint_points` per step (`_collocated` puts them on fixed sets of as many)."""
    parts = [("equation", box, equation, needs), *conditions]
    out = []
    for index, (name, domain, residual, part_needs) in enumerate(parts):
        weight, points = options.weights.get(name, 1.0), constraint_points(options, index)
        out.append(Constraint(name, domain, residual, frozenset(part_needs), weight, points=points))
    unknown = set(options.weights) - {c.name for c in out}
    if unknown:
        raise ValueError(
            f"weights name no constraint of this problem: {sorted(unknown)}; it has {[c.name for c in out]}"
        )
    return out


def constraint_points(options: PDEOptions, index: int) -> int:
    """Points of a problem's constraint per step, by its place (0: the equation): `collocation` (or
    `points`) inside the box, a quarter as many (at least 1) for each condition."""
    interior = options.collocation or options.points
    return interior if index == 0 else max(1, interior // 4)


def _collocated(posed: Problem, options: PDEOptions) -> Problem:
    """`posed` without `options.collocation`; with it, each constraint on a fixed set of its points
    drawn once from its domain (seed `options.seed` + its place), all of it every step, the
    equation's a `RefinedSet` with `options.refine_every`."""
    if options.collocation is None:
        return posed
    constraints = []
    for index, c in enumerate(posed.constraints):
        fixed = collocation(c.domain, c.points, options.seed + index)
        if options.refine_every and index == 0:
            fixed = RefinedSet(fixed.x, source=c.domain)
        constraints.append(replace(c, domain=fixed, points=None))
    return replace(posed, constraints=constraints)


def _refinement(options: PDEOptions) -> Refinement | None:
    """The refinement `options.refine_every` asks for (see `PDEOptions.refine_every`)."""
    if not options.refine_every:
        return None
    return Refinement(options.refine_every, 8 * options.collocation, max(1, options.collocation // 16))


def _box_distance(low: Tensor, high: Tensor, axes: Sequence[int]) -> PointFunction:
    """Π over `axes` of (x_i − low_i)(high_i − x_i) / half_i²: 0 on those faces, 1 at the center."""
    half = (high - low) / 2

    def distance(x: Tensor) -> Tensor:
        d = torch.ones_like(x[:, :1])
        for i in axes:
            d = d * (x[:, i : i + 1] - low[i]) * (high[i] - x[:, i : i + 1]) / half[i] ** 2
        return d

    return distance


def _sine_product(x: Tensor, frequencies: Tensor, phases: Tensor) -> Tensor:
    """Π_i sin(frequency_i · x_i − phase_i), (n, 1)."""
    return torch.sin(x * frequencies.to(x.device) - phases.to(x.device)).prod(-1, keepdim=True)


def _stationary(
    name: str,
    low: tuple,
    high: tuple,
    frequency: float,
    operator: Callable[[Evaluation], Tensor],
    size: float,
    parameters: dict[str, Any],
    options: PDEOptions,
) -> PDE:
    """−Δu + operator terms = f on a box with u = exact on ∂Ω, exact = Π_i sin(frequency · x_i);
    `operator(ev)` is the left side, `size` its characteristic scale (the residual's divisor)."""
    dim = len(low)
    frequencies, phases = torch.full((dim,), frequency), torch.zeros(dim)

    def exact(x: Tensor) -> Tensor:
        return _sine_product(x, frequencies, phases)

    def equation(ev: Evaluation) -> Tensor:
        return operator(ev) / size

    problem = _dirichlet(name, equation, {"laplacian"}, low, high, exact, [], options)
    return PDE(name, problem, low, high, ("x", "y", "z")[:dim], exact, parameters, options=options)


def _dirichlet(
    name: str,
    equation: Callable[[Evaluation], Tensor],
    needs: set[str],
    low: tuple,
    high: tuple,
    boundary: PointFunction,
    conditions: list[tuple[str, Any, Callable[[Evaluation], Tensor], set[str]]],
    options: PDEOptions,
) -> Problem:
    """The equation on the box [low, high] and u = boundary(x) on all its faces, beside the other
    `conditions`: the boundary penalized, or with `options.hard` held by the ansatz (ValueError
    unless the boundary values are 0 there)."""
    low_t, high_t = torch.tensor(low), torch.tensor(high)
    faces = BoxBoundary(low_t, high_t)
    ansatz = Ansatz.for_box(low, high)
    if options.hard:
        if float(boundary(faces.sample(4096, torch.Generator().manual_seed(0)).x).abs().max()) > 1e-5:
            raise ValueError(
                f"hard boundary conditions hold u = 0 on the boundary, but this {name} problem's boundary "
                "values are not 0 (choose a box whose sides are whole half-periods, or soft conditions)"
            )
        ansatz = Ansatz.for_box(low, high, distance=_box_distance(low_t, high_t, range(len(low))))
    else:
        conditions = [*conditions, ("boundary", faces, lambda ev: ev.value - boundary(ev.x), {"value"})]
    constraints = _constraints(equation, needs, Box(low_t, high_t), conditions, options)
    return Problem(constraints, ansatz=ansatz, refinement=_refinement(options))


def poisson(
    low: Sequence[float] = (-1.0,),
    high: Sequence[float] = (1.0,),
    frequency: float = 1.0,
    options: PDEOptions = PDEOptions(),
) -> PDE:
    """−Δu = f on the box, u = g on its boundary, u = Π_i sin(π m x_i) with m = `frequency`, 1 to 3 axes."""
    low, high = check_box(low, high, (1, 2, 3))
    m = _scale("the frequency", frequency, math.pi * _reach(low, high), "π·m·|x|")
    k = math.pi * m
    size = len(low) * k**2

    def operator(ev: Evaluation) -> Tensor:
        return -ev.laplacian - size * _sine_product(ev.x, torch.full((len(low),), k), torch.zeros(len(low)))

    parameters = {"low": list(low), "high": list(high), "frequency": m, "hard": options.hard}
    return _stationary("poisson", low, high, k, operator, size, parameters, options)


def helmholtz(
    low: Sequence[float] = (0.0, 0.0),
    high: Sequence[float] = (1.0, 1.0),
    wavenumber: float = 4 * math.pi,
    options: PDEOptions = PDEOptions(),
) -> PDE:
    """−Δu − k²u = f on the box, u = g on its boundary, u = Π_i sin(k x_i), 1 to 3 axes.

    ValueError when k² is a Dirichlet eigenvalue of −Δ on the box, π² Σ_i (n_i / L_i)² for whole
    n_i ≥ 1 (within EIGENVALUE_TOLERANCE): the problem then has no unique solution."""
    low, high = check_box(low, high, (1, 2, 3))
    k = _scale("the wavenumber", wavenumber, _reach(low, high), "k·|x|")
    sides = [b - a for a, b in zip(low, high)]
    eigenvalue = _nearest_eigenvalue(k**2, sides)
    if abs(eigenvalue - k**2) <= EIGENVALUE_TOLERANCE * k**2:
        raise ValueError(
            f"wavenumber {k:g}: k² = {k**2:.6g} is an eigenvalue of −Δ on this box ({eigenvalue:.6g}), "
            "so the Helmholtz problem has no unique solution; choose another wavenumber or box"
        )
    dim = len(low)

    def operator(ev: Evaluation) -> Tensor:
        f = (dim - 1) * k**2 * _sine_product(ev.x, torch.full((dim,), k), torch.zeros(dim))
        return -ev.laplacian - k**2 * ev.value - f

    parameters = {"low": list(low), "high": list(high), "wavenumber": k, "hard": options.hard}
    return _stationary("helmholtz", low, high, k, operator, k**2, parameters, options)


def _nearest_eigenvalue(target: float, sides: Sequence[float]) -> float:
    """The Dirichlet eigenvalue π² Σ (n_i / L_i)² of −Δ on a box of these sides nearest `target`.

    The modes of every axis but the longest are enumerated (`_mode_sums`); for each combination the
    nearest on the longest axis is one of the two whole numbers around the root. The work is
    Π (√target·L_i/π + 2) over the enumerated axes, in numpy arrays of the last one's modes: at
    most (2·SCALE_LIMIT/π + 2)² for a wavenumber and box in their ranges."""
    *enumerated, longest = sorted(sides)
    unit = (math.pi / longest) ** 2
    best = math.inf
    for partial in _mode_sums(target, enumerated):
        root = np.floor(np.sqrt(np.maximum(target - partial, 0.0) / unit))
        for n in (np.maximum(root, 1.0), root + 1):
            values = partial + unit * n**2
            best = min(best, float(values[np.abs(values - target).argmin()]), key=lambda v: abs(v - target))
    return best


def _mode_sums(target: float, sides: Sequence[float]) -> Iterator[np.ndarray]:
    """Σ_i (π n_i / L_i)² over these axes' modes n_i ≥ 1, each up to the first whose own term passes
    `target` (a larger one only moves further up), as arrays over the last axis's modes, one per
    combination of the others'; [0] for no axes."""
    if not sides:
        yield np.zeros(1)
        return
    *others, last = sides
    modes = (math.pi * np.arange(1, int(math.sqrt(target) * last / math.pi) + 2) / last) ** 2
    for partial in _mode_sums(target, others):
        for value in partial:
            yield value + modes


def _time_dependent(
    name: str,
    parameters: dict[str, Any],
    equation: Callable[[Evaluation], Tensor],
    initial: list[tuple[str, Callable[[Evaluation], Tensor], set[str]]],
    lift: PointFunction,
    time_power: int,
    exact: PointFunction | None,
    options: PDEOptions,
) -> PDE:
    """A problem in space and time (time last) on the box of `parameters` ("low", "high"): the
    equation inside, u = 0 on the spatial boundary, the `initial` conditions at t = low_t.
    Hard: u = lift + (t − t0)^time_power · distance_x · Φ."""
    low, high = tuple(parameters["low"]), tuple(parameters["high"])
    dim = len(low)
    low_t, high_t = torch.tensor(low), torch.tensor(high)
    spatial = tuple(range(dim - 1))
    conditions = [("initial_" + n, BoxBoundary(low_t, high_t, (dim - 1,), "low"), r, needs) for n, r, needs in initial]
    ansatz = Ansatz.for_box(low, high)
    if options.hard:
        space = _box_distance(low_t, high_t, spatial)

        def distance(x: Tensor) -> Tensor:
            return (x[:, -1:] - low[-1]) ** time_power * space(x)

        ansatz = Ansatz.for_box(low, high, distance=distance, lift=lift)
        conditions = []
    else:
        conditions.append(("boundary", BoxBoundary(low_t, high_t, spatial), lambda ev: ev.value, {"value"}))
    needs = {"second", "gradient"}
    constraints = _constraints(equation, needs, Box(low_t, high_t), conditions, options)
    axes = ("x", "y", "z")[: dim - 1] + ("t",)
    problem = Problem(constraints, ansatz=ansatz, refinement=_refinement(options))
    return PDE(name, problem, low, high, axes, exact, parameters, options=options)


def heat(
    low: Sequence[float] = (0.0, 0.0),
    high: Sequence[float] = (1.0, 1.0),
    diffusivity: float = 0.4,
    options: PDEOptions = PDEOptions(),
) -> PDE:
    """u_t = a Δ_x u on the box (1 or 2 space axes, then time), u = 0 on the spatial boundary,
    u(x, t0) = Π_i sin(π (x_i − low_i) / L_i); exact u = exp(−a π² Σ_i L_i⁻² (t − t0)) u(x, t0)."""
    low, high = check_box(low, high, (2, 3))
    dim = len(low)
    frequencies = torch.tensor([math.pi / (high[i] - low[i]) for i in range(dim - 1)])
    phases = frequencies * torch.tensor(low[:-1])
    rate = float(frequencies.square().sum())
    a = _scale("the diffusivity", diffusivity, rate * _reach(low[-1:], high[-1:]), "a·π²·Σ L_i⁻²·|t|")
    decay = a * rate

    def initial_value(x: Tensor) -> Tensor:
        return _sine_product(x[:, :-1], frequencies, phases)

    def exact(x: Tensor) -> Tensor:
        return torch.exp(-decay * (x[:, -1:] - low[-1])) * initial_value(x)

    def equation(ev: Evaluation) -> Tensor:
        return (ev.gradient[:, :, -1] - a * ev.second[:, :, :-1].sum(-1)) / decay

    initial = [("value", lambda ev: ev.value - initial_value(ev.x), {"value"})]
    parameters = {"low": list(low), "high": list(high), "diffusivity": a, "hard": options.hard}
    return _time_dependent("heat", parameters, equation, initial, initial_value, 1, exact, options)


def wave(
    low: Sequence[float] = (-1.0, 0.0),
    high: Sequence[float] = (1.0, 1.0),
    speed: float = 1.0,
    width: float = 0.1,
    options: PDEOptions = PDEOptions(),
) -> PDE:
    """u_tt = c² Δ_x u on the box (1 or 2 space axes, then time), u = 0 on the spatial boundary, a
    Gaussian pulse u(x, t0) = exp(−|x − center|² / (2 width²)) at rest (u_t = 0) at the center of
    the space. Exact in one space axis: half the pulse travels each way and reflects inverted."""
    low, high = check_box(low, high, (2, 3))
    shortest = min(b - a for a, b in zip(low[:-1], high[:-1]))
    sigma = _length("the pulse width", width, _reach(low[:-1], high[:-1]), shortest, "the box's shortest side")
    c = _scale("the speed", speed, _reach(low[-1:], high[-1:]) / sigma, "c·|t| / width")
    dim = len(low)
    center = torch.tensor([(low[i] + high[i]) / 2 for i in range(dim - 1)])

    def pulse(x: Tensor) -> Tensor:
        return torch.exp(-(x - center.to(x.device)).square().sum(-1, keepdim=True) / (2 * sigma**2))

    def initial_value(x: Tensor) -> Tensor:
        return pulse(x[:, :-1])

    def equation(ev: Evaluation) -> Tensor:
        return (ev.second[:, :, -1] - c**2 * ev.second[:, :, :-1].sum(-1)) * (sigma / c) ** 2

    initial = [
        ("value", lambda ev: ev.value - initial_value(ev.x), {"value"}),
        ("velocity", lambda ev: ev.gradient[:, :, -1] * sigma / c, {"gradient"}),
    ]
    exact = _reflected_pulse(pulse, low[0], high[0], low[-1], c, sigma) if dim == 2 else None
    parameters = {"low": list(low), "high": list(high), "speed": c, "width": sigma, "hard": options.hard}
    return _time_dependent("wave", parameters, equation, initial, initial_value, 2, exact, options)


PULSE_TAIL = 9.0
"""Widths from its center past which a Gaussian pulse counts as 0 (it is below exp(−40) there)."""


def _reflected_pulse(pulse: PointFunction, a: float, b: float, t0: float, c: float, width: float) -> PointFunction:
    """d'Alembert's solution on [a, b] with u = 0 at both ends, starting from `pulse` (a Gaussian of
    this width at the center) at rest: ½ (ũ(x − ct) + ũ(x + ct)) with ũ the pulse's odd reflection
    about a, repeated with period P = 2(b − a). ũ is summed at its argument brought into [a, a + P)
    over the images within PULSE_TAIL widths of it, so its cost does not grow with c·t."""
    period = 2 * (b - a)
    images = math.ceil(PULSE_TAIL * width / period) + 2

    def odd_periodic(y: Tensor) -> Tensor:
        y = a + torch.remainder(y - a, period)
        return sum(pulse(y + j * period) - pulse(2 * a - y + j * period) for j in range(-images, images + 1))

    def exact(x: Tensor) -> Tensor:
        shift = c * (x[:, 1:] - t0)
        return 0.5 * (odd_periodic(x[:, :1] - shift) + odd_periodic(x[:, :1] + shift))

    return exact


SOURCE_CORE = 5.0
"""The exact point-source solution is given from this many source widths away from the source on."""
LAYER_LEAK = 1e-4
"""The most of the outgoing wave a point source's layer may let back, exp(−2k·a0·pml/3)."""
SOURCE_SHARE = 1e-6
"""The least share exp(−(kσ)²/2) of a point source's wave that the Gaussian source of width σ may
radiate at wavenumber k: a wider source's wave sinks into float32's rounding of its own core."""


def point_source(
    low: Sequence[float] = (-1.0, -1.0),
    high: Sequence[float] = (1.0, 1.0),
    wavenumber: float = 10.0,
    source: Sequence[float] = (0.0, 0.0),
    source_width: float = 0.05,
    pml: float = 0.5,
    pml_strength: float = 5.0,
    options: PDEOptions = PDEOptions(),
) -> PDE:
    """Δu + k²u = −f, u complex, f a unit Gaussian source, inside a perfectly matched layer; 1 or 2 axes.

    The source f = exp(−|x − s|² / (2σ²)) / (2πσ²)^(d/2) (σ = `source_width`) stands for a point
    source δ(x − s). The layer is the rim of the box `pml` thick: each axis is stretched there
    into the complex plane, ∂/∂x̃_i = ∂/∂x_i / e_i with e_i = 1 + i·a0·(depth_i / pml)²
    (a0 = `pml_strength`), so outgoing waves decay in it instead of reflecting, and
    Σ_i ∂_i((E / e_i²) ∂_i u) + k² E u = −f with E = Π_i e_i, u = 0 on the box's boundary. The
    solution is two channels, Re u and Im u. Exact from `SOURCE_CORE` widths away from the source:
    exp(−k²σ²/2) G(x̃ − s) with G the outgoing Green's function of Δ + k² (i e^{ik|x|} / (2k) in
    1-D, i H0⁽¹⁾(k|x|) / 4 in 2-D), continued into the layer with the stretched coordinates x̃ (the
    factor is the Gaussian's average of a Helmholtz solution). It leaves out the wave that
    u = 0 on the box's boundary reflects: up to exp(−k·a0·pml/3) of the source's wave at the
    boundary, and exp(−2k·a0·pml/3) once back in the inner box (ValueError where that exceeds
    LAYER_LEAK, or where the source radiates less than SOURCE_SHARE of a point source's wave).

    The SIREN paper's setting is k = 20 on [−1, 1]² with the layer 0.5 thick, a0 = 5 and a
    point-like source; the defaults halve k and widen the source to 0.05 so that a CPU solves it
    in minutes (README: solving PDEs)."""
    low, high = check_box(low, high, (1, 2))
    reach, shortest = _reach(low, high), min(b - a for a, b in zip(low, high))
    k = _scale("the wavenumber", wavenumber, reach, "k·|x|")
    widest = math.sqrt(2 * math.log(1 / SOURCE_SHARE)) / k
    sigma = _length(
        "the source width",
        source_width,
        reach,
        widest,
        f"{widest:.3g}, where it radiates {SOURCE_SHARE:g} of a point source",
    )
    thickness = _length("the PML thickness", pml, reach, shortest / 2, "half the box's shortest side")
    strength = _in_range("the PML strength", pml_strength, SCALE_FLOOR, SCALE_LIMIT, "the range of a problem's scales")
    center = tuple(float(v) for v in source)
    if len(center) != len(low):
        raise ValueError(f"the source needs one coordinate per axis ({len(low)}), got {list(center)}")
    margin = thickness + SOURCE_CORE * sigma
    if not all(a + margin <= c <= b - margin for a, b, c in zip(low, high, center)):
        raise ValueError(
            f"the source {list(center)} with its core ({SOURCE_CORE:g} widths) must lie inside the box "
            f"and outside the PML ({thickness:g} thick)"
        )
    leak = math.exp(-2 * k * strength * thickness / 3)
    if leak > LAYER_LEAK:
        raise ValueError(
            f"the PML lets back {leak:.2g} of the outgoing wave (more than {LAYER_LEAK:g}): "
            "make it thicker (--pml) or stronger (--pml-strength)"
        )
    dim = len(low)
    low_t, high_t, center_t = torch.tensor(low), torch.tensor(high), torch.tensor(center)
    layer = _PerfectlyMatchedLayer(low_t, high_t, thickness, strength)

    def density(x: Tensor) -> Tensor:
        r2 = (x - center_t.to(x.device)).square().sum(-1)
        return torch.exp(-r2 / (2 * sigma**2)) / (2 * math.pi * sigma**2) ** (dim / 2)

    def equation(ev: Evaluation) -> Tensor:
        u = torch.complex(ev.value[:, 0], ev.value[:, 1])  # (n,)
        du = torch.complex(ev.gradient[:, 0], ev.gradient[:, 1])  # (n, d)
        d2u = torch.complex(ev.second[:, 0], ev.second[:, 1])  # (n, d)
        e, de = layer.factors(ev.x)
        total = e.prod(-1)
        flux = total[:, None] / e**2 * d2u - total[:, None] * de / e**3 * du
        residual = (flux.sum(-1) + k**2 * total * u + density(ev.x)) / k**2
        return torch.stack([residual.real, residual.imag], -1)

    def exact(x: Tensor) -> Tensor:
        stretched = (layer.stretched(x.double()) - center_t.double()).numpy()
        r = np.sqrt((stretched**2).sum(-1))
        green = 0.5j / k * np.exp(1j * k * r) if dim == 1 else 0.25j * special.hankel1(0, k * r)
        u = torch.from_numpy(np.exp(-((k * sigma) ** 2) / 2) * green)
        core = (x - center_t).norm(dim=-1) < SOURCE_CORE * sigma
        return torch.stack([u.real, u.imag], -1).to(x.dtype).masked_fill(core[:, None], math.nan)

    def outer(x: Tensor) -> Tensor:
        return torch.zeros(len(x), 2, device=x.device)

    needs = {"value", "gradient", "second"}
    source_disk = [("source", Ball(center_t, 3 * sigma), equation, needs)]
    problem = _dirichlet("point_source", equation, needs, low, high, outer, source_disk, options)
    parameters = {
        "low": list(low),
        "high": list(high),
        "wavenumber": k,
        "source": list(center),
        "source_width": sigma,
        "pml": thickness,
        "pml_strength": strength,
        "hard": options.hard,
    }
    return PDE("point_source", problem, low, high, ("x", "y")[:dim], exact, parameters, ("Re u", "Im u"), options)


@dataclass(frozen=True)
class _PerfectlyMatchedLayer:
    """The complex coordinate stretch of a box's rim `thickness` thick: at depth δ_i into the
    layer along axis i, e_i = 1 + i·a0·(δ_i / thickness)² and x̃_i = x_i ± i·a0·δ_i³ / (3 thickness²)
    (outward sign), so that dx̃_i / dx_i = e_i; inside the inner box e_i = 1 and x̃ = x."""

    low: Tensor
    high: Tensor
    thickness: float
    strength: float

    def _depth(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Depth into the layer (n, d) ≥ 0 and its derivative along the axis (−1, 0 or 1)."""
        below = (self.low.to(x) + self.thickness - x).clamp(min=0)
        above = (x - self.high.to(x) + self.thickness).clamp(min=0)
        return below + above, (above > 0).to(x) - (below > 0).to(x)

    def factors(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """e (n, d) complex and its derivative de_i/dx_i (n, d) complex."""
        depth, slope = self._depth(x)
        scale = self.strength / self.thickness**2
        zero = torch.zeros_like(depth)
        return torch.complex(torch.ones_like(depth), scale * depth**2), torch.complex(zero, 2 * scale * depth * slope)

    def stretched(self, x: Tensor) -> Tensor:
        """x̃ (n, d) complex."""
        depth, slope = self._depth(x)
        return torch.complex(x, slope * self.strength * depth**3 / (3 * self.thickness**2))


PDES: dict[str, Callable[..., PDE]] = {
    "poisson": poisson,
    "helmholtz": helmholtz,
    "heat": heat,
    "wave": wave,
    "point_source": point_source,
}
"""The built-in problems by name (`sirenkit solve NAME`)."""
