"""The kind registry (`recipes/kind.py`): every fitting kind under the name its checkpoints record."""

from __future__ import annotations

import pytest

from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig, build_field
from sirenkit.recipes.kind import KINDS, kind_name
from sirenkit.store import Representation


def test_every_fitting_kind_is_registered_by_the_name_its_checkpoints_record():
    assert {"image", "audio", "video", "volume"} <= set(KINDS)


def test_a_checkpoint_of_another_kind_is_named_with_the_right_article():
    field_config = FieldConfig(in_dim=2, out_dim=1, width=2, depth=0)
    image = Representation(build_field(field_config), field_config, {"kind": "image"})
    with pytest.raises(InputError, match=r"^this checkpoint represents an image, not audio or a video$"):
        kind_name(image, "audio", "video")
    odd = Representation(image.field, field_config, {"kind": "ultrasound"})
    with pytest.raises(InputError, match=r"represents a signal of kind 'ultrasound', not an image$"):
        kind_name(odd, "image")
