"""Tests of the derivative paths (`sirenkit.calculus`)."""
