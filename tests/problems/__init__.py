"""Tests of the problems (`sirenkit.problems`): domains, constraints, problems."""
