"""Fitting a field to samples of a signal: the simplest problem, Φ(x) = a(x) on the sample points."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sirenkit.problems.base import Batch, Constraint, Problem


@dataclass
class SampledSignal:
    """A domain of N sample points with known values: coords (N, d), values (N, c).

    Sampling n points draws n indices uniformly with replacement, fresh each step.
    """

    coords: Tensor
    values: Tensor

    def sample(self, n: int | None, generator: torch.Generator) -> Batch:
        count = self.coords.shape[0]
        if n is None or n >= count:
            return Batch(self.coords, {"target": self.values})
        index = torch.randint(count, (n,), generator=generator).to(self.coords.device)
        return Batch(self.coords[index], {"target": self.values[index]})


def fitting_problem(signal: SampledSignal, *, points: int | None = None) -> Problem:
    """One constraint, "fit": mean squared error between Φ and the samples (in training units)."""
    fit = Constraint("fit", signal, lambda ev: ev.value - ev.data["target"], points=points)
    return Problem([fit])
