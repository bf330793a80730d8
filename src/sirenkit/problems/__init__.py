"""Problems: constraints on a field and its derivatives over sampled domains."""

from sirenkit.problems.ansatz import Ansatz, Solution
from sirenkit.problems.base import Batch, Constraint, Domain, Evaluation, Problem, Reference, Refinement, evaluate
from sirenkit.problems.domains import Ball, Box, BoxBoundary, Grid, PointSet, RefinedSet, collocation
from sirenkit.problems.fitting import fitting_problem

__all__ = [
    "Ansatz",
    "Ball",
    "Batch",
    "Box",
    "BoxBoundary",
    "Constraint",
    "Domain",
    "Evaluation",
    "Grid",
    "PointSet",
    "Problem",
    "Reference",
    "RefinedSet",
    "Refinement",
    "Solution",
    "collocation",
    "evaluate",
    "fitting_problem",
]
