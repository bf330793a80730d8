"""K problems of one shape posed to the K fields of a `BatchedField`, as one loss.

Member k's constraints draw their points exactly as they would in a fit of its own: before each
sample group is drawn the sampler's state is saved, and every member draws from that same state,
so member k sees the points a lone fit with the same seed would (the sampler then stands where a
lone fit's would). Members whose samples come from point sets of one size draw the same rows
from that state (`PointSet.indices`), so those rows are drawn once and gathered from the stacked
point sets. The batches are stacked to (K, n, d), the batched field is evaluated once, and
each constraint's loss is the sum over members of member k's own loss, so the gradient in field
k's parameters is that of its own problem (`fields.batched` states why this makes K fits equal
to one batched fit).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from sirenkit.calculus import Compiler
from sirenkit.problems.base import Batch, Constraint, Problem, draw, evaluate, union_of_needs
from sirenkit.problems.domains import PointSet


class BatchedProblem:
    """The problems of K signals, one per field of a `BatchedField` of K fields.

    Every problem must have the same constraints (names, needs, norms, points, and the same
    sharing of samples) and draw batches of the same size, which signals of one kind and one
    shape do; weights may differ (member k's loss carries its own). A residual must read what
    differs between members from the batch's data, not from values it closes over: it is
    evaluated once, member 0's, on the stacked batch. `losses` returns, per constraint, the sum
    of the K members' losses; `member_terms` holds the last step's loss of each member, (K,) per
    constraint name, detached.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("a batched problem needs at least one problem")
        self.problems = list(problems)
        if any(problem.ansatz is not None for problem in self.problems):
            raise ValueError("a batched problem takes problems without an ansatz (u = Φ)")
        first = _layout(self.problems[0])
        for k, problem in enumerate(self.problems[1:], start=1):
            if _layout(problem) != first:
                raise ValueError(f"problem {k} has other constraints than problem 0: {_layout(problem)} vs {first}")
        weights = [{c.name: c.weight for c in problem.constraints} for problem in self.problems]
        self.weights = {c.name: [member[c.name] for member in weights] for c in self.constraints}
        """Per constraint name, each member's weight."""
        self.groups = [problem.sample_groups() for problem in self.problems]
        """Each member's sample groups, fixed with its constraints (not rebuilt each step)."""
        self.stacked_points = [
            _stacked_points([groups[index][0].domain for groups in self.groups]) for index in range(len(self.groups[0]))
        ]
        """Per sample group, the members' point sets stacked to (K, N, ...) when they are point sets
        of one size (`PointSet.indices`: one draw serves them all), else None."""
        self.member_terms: dict[str, Tensor] = {}

    @property
    def count(self) -> int:
        """K, the number of members."""
        return len(self.problems)

    @property
    def constraints(self) -> Sequence[Constraint]:
        """The constraints of member 0 (every member's have the same names and settings)."""
        return self.problems[0].constraints

    def losses(
        self,
        field_: torch.nn.Module,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        compiler: Compiler | None = None,
    ) -> dict[str, Tensor]:
        """Per constraint name, Σₖ loss of member k (a scalar); `field_` is a `BatchedField` of K fields."""
        out: dict[str, Tensor] = {}
        for index, members in enumerate(self.groups[0]):
            points = self.stacked_points[index]
            if points is not None:  # every member's rows are the same draw: take them once
                rows = members[0].domain.indices(members[0].points, generator)
                batch = Batch(
                    _rows(points.x, rows).to(device), {k: _rows(v, rows).to(device) for k, v in points.data.items()}
                )
            else:
                state = generator.get_state()
                batches = []
                for member_groups in self.groups:
                    generator.set_state(state)
                    batches.append(draw(member_groups[index][0], generator, device))
                batch = stack_batches(batches)
            ev = evaluate(field_, batch, union_of_needs(members), self.problems[0].derivative_method, compiler)
            for c in members:
                measured = c.measure(ev).reshape(self.count, -1).mean(dim=1)
                per_member = measured * measured.new_tensor(self.weights[c.name])
                self.member_terms[c.name] = per_member.detach()
                out[c.name] = per_member.sum()
        return {c.name: out[c.name] for c in self.constraints}


def stack_batches(batches: Sequence[Batch]) -> Batch:
    """K batches of n points each as one: x (K, n, d) and each datum (K, n, ...).

    Raises ValueError when they hold different numbers of points or different data."""
    sizes = {tuple(batch.x.shape) for batch in batches}
    if len(sizes) != 1:
        raise ValueError(f"the members drew batches of different shapes {sorted(sizes)}; batch signals of one shape")
    names = set(batches[0].data)
    if any(set(batch.data) != names for batch in batches):
        raise ValueError("the members' batches carry different data")
    return Batch(
        torch.stack([batch.x for batch in batches]),
        {name: torch.stack([batch.data[name] for batch in batches]) for name in batches[0].data},
    )


def _rows(stacked: Tensor, rows: Tensor | None) -> Tensor:
    """Rows `rows` (None: all) of every member of a (K, N, ...) stack: (K, n, ...)."""
    return stacked if rows is None else stacked.index_select(1, rows)


def _stacked_points(domains: Sequence[object]) -> Batch | None:
    """The domains' points and data stacked along a leading K axis, when every one is a
    `PointSet` with the same numbers of rows and the same data; else None."""
    if not all(isinstance(domain, PointSet) for domain in domains):
        return None
    try:
        return stack_batches([Batch(domain.x, dict(domain.data)) for domain in domains])
    except (ValueError, RuntimeError):  # other sizes or other data: each member draws alone
        return None


def _layout(problem: Problem) -> list[list[tuple]]:
    """What two members must share: the sample groups and each constraint's settings."""
    return [[(c.name, sorted(c.needs), c.norm, c.points) for c in members] for members in problem.sample_groups()]
