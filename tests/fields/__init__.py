"""Tests of the networks (`sirenkit.fields`)."""
