"""Fitting a field to samples of a signal: the simplest problem, Φ(x) = a(x) on the sample points."""

from __future__ import annotations

from sirenkit.problems.base import Constraint, Problem
from sirenkit.problems.domains import PointSet


def fitting_problem(samples: PointSet, *, points: int | None = None) -> Problem:
    """One constraint, "fit": mean squared error between Φ and samples.data["target"] (training units).

    `points` samples are drawn per step (all when None).
    """
    fit = Constraint("fit", samples, lambda ev: ev.value - ev.data["target"], points=points)
    return Problem([fit])
