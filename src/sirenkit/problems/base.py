"""The general problem: constraints on a field and its derivatives, each over its own domain.

A problem is a list of constraints. At every step each constraint draws fresh points from its
domain, the field is evaluated there with exactly the derivatives the constraint needs, and
the constraint's residual is reduced by its norm and scaled by its weight into one named loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import torch
from torch import Tensor

from sirenkit.calculus import Compiler, Jet, jet
from sirenkit.problems.ansatz import Ansatz, Solution

Need = Literal["value", "gradient", "laplacian", "second"]
Norm = Literal["l2", "l1"]


@dataclass
class Batch:
    """Points drawn from a domain: x of shape (n, d) and data a(x), each (n, ...)."""

    x: Tensor
    data: dict[str, Tensor] = field(default_factory=dict)


class Domain(Protocol):
    """A set Ω of points with a sampler."""

    def sample(self, n: int | None, generator: torch.Generator) -> Batch:
        """`n` points of Ω with their data (all of Ω's points when n is None, if Ω is finite)."""
        ...


@dataclass
class Evaluation:
    """The field at a batch: value (n, c), gradient (n, c, d), Laplacian (n, c), the unmixed second
    derivatives ∂²Φ/∂x_i² (n, c, d) (`second`: u_tt and u_xx apart, for time-dependent PDEs), data, and x.

    A constraint's residual reads it through `Constraint.measure`, which sets `needs` and `reader`:
    reading a derivative the constraint does not list in its needs is then a ValueError naming
    the constraint and the missing need, even when another constraint's needs had it computed.
    """

    x: Tensor
    jet: Jet
    data: dict[str, Tensor]
    needs: frozenset[Need] | None = None
    reader: str = ""

    @property
    def value(self) -> Tensor:
        return self.jet.value

    @property
    def gradient(self) -> Tensor:
        return self._derivative("gradient")

    @property
    def laplacian(self) -> Tensor:
        return self._derivative("laplacian")

    @property
    def second(self) -> Tensor:
        return self._derivative("second")

    def _derivative(self, need: Need) -> Tensor:
        if self.needs is not None and need not in self.needs:
            raise ValueError(
                f"constraint {self.reader!r} reads the {need} of the field but its needs are {sorted(self.needs)}; "
                f"add {need!r} to its needs"
            )
        return self.jet.required(need)


Residual = Callable[[Evaluation], Tensor]


@dataclass
class Constraint:
    """C(x, Φ, ∇Φ, ΔΦ, a(x)) = 0 on a domain, penalized as weight · mean(norm(residual)).

    `needs` names the derivatives the residual reads, so the field is asked for no more.
    `points` is the number of points drawn per step (None: every point of a finite domain).
    """

    name: str
    domain: Domain
    residual: Residual
    needs: frozenset[Need] = frozenset({"value"})
    weight: float = 1.0
    norm: Norm = "l2"
    points: int | None = None

    def measure(self, ev: Evaluation) -> Tensor:
        """norm(residual) at each point, in the residual's shape (the penalty before its weight)."""
        r = self.residual(replace(ev, needs=self.needs, reader=self.name))
        return r.square() if self.norm == "l2" else r.abs()

    def penalty(self, ev: Evaluation) -> Tensor:
        """weight · norm(residual) at each point, in the residual's shape."""
        return self.weight * self.measure(ev)

    def loss(self, ev: Evaluation) -> Tensor:
        return self.penalty(ev).mean()


def evaluate(
    field_: torch.nn.Module,
    batch: Batch,
    needs: frozenset[Need],
    method: str = "auto",
    compiler: Compiler | None = None,
    ansatz: Ansatz | None = None,
) -> Evaluation:
    """The field's value and the derivatives in `needs` at the batch's points (`method` and
    `compiler` as in `sirenkit.calculus.jet`); with an `ansatz`, those of the solution it makes
    of the field (`problems.ansatz`)."""
    second = "second" in needs
    order = 2 if second or "laplacian" in needs else 1 if "gradient" in needs else 0
    if ansatz is not None:
        return Evaluation(batch.x, ansatz.jet(field_, batch.x, order, method, compiler, second), batch.data)
    return Evaluation(
        batch.x, jet(field_, batch.x, order=order, method=method, compiler=compiler, second=second), batch.data
    )


@dataclass
class Reference:
    """A known solution on a set of points, to measure a fit against while it trains: points x
    (n, d) and values u (n, c) in the problem's units. `fit` logs the relative L2 error
    ‖u_fit − u‖ / ‖u‖ as "l2_error" every `every` steps and at the last."""

    x: Tensor
    u: Tensor
    every: int = 100

    def __post_init__(self) -> None:
        if self.x.dim() != 2 or self.u.dim() != 2 or self.x.shape[0] != self.u.shape[0] or self.x.shape[0] == 0:
            raise ValueError(
                f"a reference needs x (n, d) and u (n, c), got {tuple(self.x.shape)}, {tuple(self.u.shape)}"
            )
        if self.every < 1:
            raise ValueError(f"a reference's every must be at least 1, got {self.every}")

    def l2_error(self, solution: torch.nn.Module) -> float:
        """‖solution(x) − u‖ / ‖u‖ over the points (`evaluate_points`)."""
        values = evaluate_points(solution, self.x, next(solution.parameters()).device)
        return float((values - self.u.float()).norm() / self.u.float().norm())


def evaluate_points(module: torch.nn.Module, x: Tensor, device: torch.device | str, chunk: int = 65536) -> Tensor:
    """module(x) for points x (n, d), evaluated on `device` in chunks without a graph: (n, c) float32 on the CPU."""
    with torch.no_grad():
        return torch.cat([module(part.to(device)).float().cpu() for part in x.split(chunk)])


@dataclass(frozen=True)
class Refinement:
    """Residual-based refinement of a problem's `RefinedSet`s: every `every` steps, `candidates`
    points are drawn from each set's source and the `add` with the largest penalty join it."""

    every: int
    candidates: int = 4096
    add: int = 64

    def __post_init__(self) -> None:
        if self.every < 1 or self.candidates < 1 or not 1 <= self.add <= self.candidates:
            raise ValueError(f"a refinement needs every, candidates >= 1 and 1 <= add <= candidates, got {self}")


@dataclass
class Problem:
    """A list of constraints; `losses` gives one named, weighted loss per constraint.

    Constraints on the same domain object with the same `points` share one sample per step
    and one evaluation of the field (with the union of their needs), as the SDF's on-surface
    value, normal and eikonal terms do.
    """

    constraints: Sequence[Constraint]
    derivative_method: str = "auto"
    """How derivatives are taken: auto (forward mode when the field supports it), forward, autograd."""
    ansatz: Ansatz | None = None
    """How the solution is made of the field (scaled coordinates, hard constraints); None: u = Φ."""
    reference: Reference | None = None
    """A known solution that `fit` measures the fit against while it trains."""
    refinement: Refinement | None = None
    """When `fit` grows the problem's refined sets (`refine`); None: never."""

    @property
    def needs(self) -> frozenset[Need]:
        return union_of_needs(self.constraints)

    def losses(
        self,
        field_: torch.nn.Module,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        compiler: Compiler | None = None,
    ) -> dict[str, Tensor]:
        """One loss per constraint, by name; `compiler` runs the derivative kernels (see
        `sirenkit.calculus.jet`; None: eager)."""
        out = {}
        for members in self.sample_groups():
            batch = draw(members[0], generator, device)
            ev = evaluate(field_, batch, union_of_needs(members), self.derivative_method, compiler, self.ansatz)
            for c in members:
                out[c.name] = c.loss(ev)
        return {c.name: out[c.name] for c in self.constraints}

    def refine(
        self,
        field_: torch.nn.Module,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        compiler: Compiler | None = None,
    ) -> None:
        """Add to each constraint's refined set (a domain with a `source`) the `refinement.add` of
        `refinement.candidates` points from its source where the constraint's penalty is largest."""
        if self.refinement is None:
            return
        for c in self.constraints:
            if getattr(c.domain, "source", None) is None:
                continue
            batch = c.domain.source.sample(self.refinement.candidates, generator)
            batch = Batch(batch.x.to(device), {k: v.to(device) for k, v in batch.data.items()})
            ev = evaluate(field_, batch, c.needs, self.derivative_method, compiler, self.ansatz)
            score = c.measure(ev).detach().reshape(batch.x.shape[0], -1).sum(1)
            c.domain.add(batch.x[score.topk(self.refinement.add).indices])

    def refined_points(self) -> dict[str, Tensor]:
        """The points of each constraint's refined set, by constraint name (what a checkpoint keeps)."""
        return {c.name: c.domain.x for c in self.constraints if getattr(c.domain, "source", None) is not None}

    def solution(self, field_: torch.nn.Module) -> torch.nn.Module:
        """The solution as one module of x in the problem's units: the field under the ansatz."""
        return field_ if self.ansatz is None else Solution(field_, self.ansatz)

    def sample_groups(self) -> list[list[Constraint]]:
        """The constraints that share one sample per step (same domain object, same `points`), in
        the order of their first member."""
        groups: dict[tuple[int, int | None], list[Constraint]] = {}
        for c in self.constraints:
            groups.setdefault((id(c.domain), c.points), []).append(c)
        return list(groups.values())


def draw(constraint: Constraint, generator: torch.Generator, device: torch.device | str) -> Batch:
    """A fresh batch of the constraint's domain (`points` points), on `device`."""
    batch = constraint.domain.sample(constraint.points, generator)
    return Batch(batch.x.to(device), {k: v.to(device) for k, v in batch.data.items()})


def union_of_needs(constraints: Sequence[Constraint]) -> frozenset[Need]:
    """Every derivative any of the constraints reads."""
    return frozenset().union(*(c.needs for c in constraints))
