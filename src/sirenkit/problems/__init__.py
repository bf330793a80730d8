"""Problems: constraints on a field and its derivatives over sampled domains."""

from sirenkit.problems.base import Batch, Constraint, Domain, Evaluation, Problem, evaluate
from sirenkit.problems.domains import Box, BoxBoundary, Grid, PointSet
from sirenkit.problems.fitting import fitting_problem

__all__ = [
    "Batch",
    "Box",
    "BoxBoundary",
    "Constraint",
    "Domain",
    "Evaluation",
    "Grid",
    "PointSet",
    "Problem",
    "evaluate",
    "fitting_problem",
]
