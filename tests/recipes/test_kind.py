"""The kind registry (`recipes/kind.py`): every fitting kind under the name its checkpoints record."""

from __future__ import annotations

from sirenkit.recipes.kind import KINDS


def test_every_fitting_kind_is_registered_by_the_name_its_checkpoints_record():
    assert {"image", "audio", "video", "volume"} <= set(KINDS)
