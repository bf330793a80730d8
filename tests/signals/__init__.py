"""Tests of the signals (`sirenkit.signals`): loaders, grids, finite differences."""
