"""Tests of the outputs (`sirenkit.outputs`): files, metrics, meshes, previews."""
