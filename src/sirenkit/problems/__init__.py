"""Problems: constraints on a field and its derivatives over sampled domains."""

from sirenkit.problems.base import Batch, Constraint, Domain, Evaluation, Problem, evaluate
from sirenkit.problems.fitting import SampledSignal, fitting_problem

__all__ = ["Batch", "Constraint", "Domain", "Evaluation", "Problem", "SampledSignal", "evaluate", "fitting_problem"]
