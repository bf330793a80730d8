"""Tests of the command line (`sirenkit.cli`), one file per command module."""
