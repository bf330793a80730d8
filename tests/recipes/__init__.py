"""Tests of the recipes (`sirenkit.recipes`), one file per kind of signal."""
