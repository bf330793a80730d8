"""fit_collection: many signals as batched fields, each ending as its lone fit would, in a manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import save_png
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.recipes.collection import MANIFEST_NAME, Manifest, fit_collection
from sirenkit.recipes.image import ImageKind, fit_image
from sirenkit.signals import load_image
from sirenkit.store import load_representation

FIELD = FieldConfig(width=16, depth=1)
FIT = FitConfig(steps=25, lr=1e-3, schedule="cosine", checkpoint_every=0, precision="fp32")


def crops(folder: Path, camera, sizes) -> list[Path]:
    """Crops of camera of the given (height, width), saved as PNG files c0.png, c1.png, ..."""
    folder.mkdir(exist_ok=True)
    return [
        save_png(folder / f"c{i}.png", camera.pixels[20 * i : 20 * i + h, 40 * i : 40 * i + w])
        for i, (h, w) in enumerate(sizes)
    ]


def collect(sources, run: Path, *, batch=None, group_size=256, resume=False, fit_config=FIT):
    return fit_collection(
        sources,
        ImageKind,
        load_image,
        FIELD,
        fit_config,
        run_dir=run,
        batch=batch,
        group_size=group_size,
        resume=resume,
        quiet=True,
    )


def weights(path: Path) -> list[torch.Tensor]:
    return list(load_representation(path).field.state_dict().values())


def test_each_member_ends_as_its_lone_fit_and_the_packed_export_stacks_them(camera, tmp_path):
    sources = crops(tmp_path / "in", camera, [(16, 16)] * 3)
    outcome = collect(sources, tmp_path / "run")
    rows = Manifest.read(tmp_path / "run" / MANIFEST_NAME).rows
    assert [row.status for row in rows.values()] == ["done"] * 3
    packed = load_representation(tmp_path / "run" / "packed.safetensors")
    index = json.loads((tmp_path / "run" / "packed.json").read_text())
    assert packed.field.count == index["count"] == 3 and [r["name"] for r in index["rows"]] == ["c0", "c1", "c2"]
    for k, source in enumerate(sources):
        alone = fit_image(load_image(source), FIELD, FIT, batch=None, quiet=True)
        member = tmp_path / "run" / "signals" / f"c{k}"
        for ours, theirs in zip(
            weights(member / "model.safetensors"), alone.result.representation.field.state_dict().values()
        ):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
        assert rows[str(source)].measures["psnr_db"] == pytest.approx(alone.psnr, abs=1e-2)
        assert json.loads((member / "summary.json").read_text())["psnr_db"] == rows[str(source)].measures["psnr_db"]
        torch.testing.assert_close(
            packed.field.field(k).state_dict()["head.weight"], weights(member / "model.safetensors")[-2]
        )
    assert (tmp_path / "run" / "signals" / "c0" / "reconstruction.png").is_file()
    assert "3 of 3 signals fitted" in outcome.headline() and "median psnr_db" in outcome.headline()


def test_an_unreadable_file_is_an_error_row_and_the_rest_go_on(camera, tmp_path):
    sources = crops(tmp_path / "in", camera, [(16, 16)] * 2)
    broken = tmp_path / "in" / "broken.png"
    broken.write_text("not a picture")
    missing = tmp_path / "in" / "gone.png"
    collect([sources[0], broken, missing, sources[1]], tmp_path / "run")
    rows = Manifest.read(tmp_path / "run" / MANIFEST_NAME).rows
    assert [rows[str(p)].status for p in (sources[0], broken, missing, sources[1])] == [
        "done",
        "error",
        "error",
        "done",
    ]
    assert "as an image" in rows[str(broken)].error and rows[str(broken)].sha256 is not None
    assert "gone.png" in rows[str(missing)].error and rows[str(missing)].sha256 is None


def test_members_group_by_field_settings_and_batch_shapes(camera, tmp_path):
    sources = crops(tmp_path / "in", camera, [(16, 16), (20, 20), (16, 16)])
    collect(sources, tmp_path / "full")  # every pixel each step: one group per size
    groups = {row.group for row in Manifest.read(tmp_path / "full" / MANIFEST_NAME).rows.values()}
    assert len(groups) == 2
    collect(sources, tmp_path / "drawn", batch=64)  # 64 pixels each step from every image: one group
    rows = Manifest.read(tmp_path / "drawn" / MANIFEST_NAME).rows.values()
    assert len({row.group for row in rows}) == 1 and {row.group_size for row in rows} == {3}
    collect(sources, tmp_path / "small", batch=64, group_size=2)
    assert sorted(row.group_size for row in Manifest.read(tmp_path / "small" / MANIFEST_NAME).rows.values()) == [
        1,
        2,
        2,
    ]


def test_a_resume_skips_finished_members_and_refits_changed_or_failed_ones(camera, tmp_path):
    sources = crops(tmp_path / "in", camera, [(16, 16)] * 3)
    broken = tmp_path / "in" / "late.png"
    broken.write_text("not yet")
    run = tmp_path / "run"
    collect([*sources, broken], run, group_size=2)
    before = {p: (run / "signals" / p.stem / "model.safetensors").stat().st_mtime_ns for p in sources}
    save_png(broken, camera.pixels[:16, :16])  # the failed file is fixed,
    save_png(sources[2], 1 - camera.pixels[:16, :16])  # and a finished one changes
    outcome = collect([*sources, broken], run, group_size=2, resume=True)
    assert outcome.fitted == 2
    rows = Manifest.read(run / MANIFEST_NAME).rows
    assert all(row.status == "done" for row in rows.values())
    after = {p: (run / "signals" / p.stem / "model.safetensors").stat().st_mtime_ns for p in sources}
    assert after[sources[0]] == before[sources[0]] and after[sources[1]] == before[sources[1]]
    assert after[sources[2]] != before[sources[2]]
    assert load_representation(run / "packed.safetensors").field.count == 4


def test_bad_settings_are_refused_before_any_work(tmp_path):
    from sirenkit.errors import InputError

    with pytest.raises(InputError, match="group-size"):
        collect([tmp_path / "x.png"], tmp_path / "run", group_size=0)
    with pytest.raises(InputError, match="batch"):
        collect([tmp_path / "x.png"], tmp_path / "run", batch=0)
    assert not (tmp_path / "run").exists()
