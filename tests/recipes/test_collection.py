"""fit_collection: many signals as batched fields, each ending as its lone fit would, in a manifest."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import save_png
from sirenkit.errors import InputError
from sirenkit.fields import FieldConfig
from sirenkit.fit import FitConfig
from sirenkit.recipes.collection import MANIFEST_NAME, Manifest, fit_collection
from sirenkit.recipes.image import ImageKind, fit_image
from sirenkit.signals import load_image
from sirenkit.store import file_digest, load_representation

FIELD = FieldConfig(width=16, depth=1)
FIT = FitConfig(steps=25, lr=1e-3, schedule="cosine", checkpoint_every=0, precision="fp32")


def crops(folder: Path, camera, sizes) -> list[Path]:
    """Crops of camera of the given (height, width), saved as PNG files c0.png, c1.png, ..."""
    folder.mkdir(exist_ok=True)
    return [
        save_png(folder / f"c{i}.png", camera.pixels[20 * i : 20 * i + h, 40 * i : 40 * i + w])
        for i, (h, w) in enumerate(sizes)
    ]


def collect(sources, run: Path, *, batch=None, group_size=256, resume=False, fit_config=FIT, load=load_image):
    return fit_collection(
        sources,
        ImageKind,
        load,
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
    with pytest.raises(InputError, match="group-size"):
        collect([tmp_path / "x.png"], tmp_path / "run", group_size=0)
    with pytest.raises(InputError, match="batch"):
        collect([tmp_path / "x.png"], tmp_path / "run", batch=0)
    assert not (tmp_path / "run").exists()


def loads_at_fit_time(change):
    """A loader that calls change(path) on its second read of a file: the group's, after the scan."""
    reads: dict[Path, int] = {}

    def load(path: Path):
        reads[path] = reads.get(path, 0) + 1
        if reads[path] == 2:
            change(path)
        return load_image(path)

    return load


def test_a_file_gone_or_changed_at_fit_time_is_an_error_row_and_its_group_goes_on(camera, tmp_path):
    sources = crops(tmp_path / "in", camera, [(16, 16)] * 3)
    collect(
        sources, tmp_path / "run", load=loads_at_fit_time(lambda path: path.unlink() if path == sources[1] else None)
    )
    rows = Manifest.read(tmp_path / "run" / MANIFEST_NAME).rows
    assert [rows[str(p)].status for p in sources] == ["done", "error", "done"]
    assert "c1.png" in rows[str(sources[1])].error
    assert load_representation(tmp_path / "run" / "packed.safetensors").field.count == 2

    def replace_with_another(path: Path) -> None:
        if path == sources[0]:
            save_png(path, 1 - camera.pixels[:16, :16])

    run = tmp_path / "run2"
    collect(sources[:1] + sources[2:], run, load=loads_at_fit_time(replace_with_another))
    rows = Manifest.read(run / MANIFEST_NAME).rows
    assert rows[str(sources[0])].status == "error" and "changed while" in rows[str(sources[0])].error
    collect(sources[:1] + sources[2:], run, resume=True)  # the next resume fits the bytes as they are now
    row = Manifest.read(run / MANIFEST_NAME).rows[str(sources[0])]
    assert row.status == "done" and row.sha256 == file_digest(sources[0])


def test_the_packed_export_is_rewritten_whole(camera, tmp_path):
    gray = crops(tmp_path / "in", camera, [(16, 16)] * 2)
    rgb = save_png(tmp_path / "in" / "rgb.png", np.repeat(camera.pixels[:16, :16], 3, axis=2) * [1, 0.5, 0.2])
    run = tmp_path / "run"
    collect([*gray, rgb], run)
    assert (run / "packed-2.safetensors").is_file() and (run / "packed-2.json").is_file()
    save_png(rgb, camera.pixels[16:32, :16])  # now gray too: one architecture
    collect([*gray, rgb], run, resume=True)
    assert not (run / "packed-2.safetensors").exists() and not (run / "packed-2.json").exists()
    assert load_representation(run / "packed.safetensors").field.count == 3


def test_a_resume_of_other_settings_is_refused(camera, tmp_path):
    sources = crops(tmp_path / "in", camera, [(16, 16)])
    collect(sources, tmp_path / "run")
    with pytest.raises(InputError, match="--lr 0.001 -> 0.5"):
        collect(sources, tmp_path / "run", resume=True, fit_config=replace(FIT, lr=0.5))


def test_a_damaged_manifest_is_one_input_error_whatever_its_bytes(camera, tmp_path):
    sources = crops(tmp_path / "in", camera, [(16, 16)] * 2)
    collect(sources, tmp_path / "run")
    valid = (tmp_path / "run" / MANIFEST_NAME).read_bytes()
    damaged = tmp_path / "damaged.jsonl"
    generator = random.Random(32)
    mutations = [
        lambda b: b,
        lambda b: b.replace(b"\n", b"\n\n"),
        lambda b: b[: generator.randrange(len(b))],
        lambda b: bytes(x ^ (1 << generator.randrange(8)) if generator.random() < 0.02 else x for x in b),
        lambda b: b.replace(b'"c0"', generator.choice([b'"../x"', b'".."', b"7", b"null", b'""'])),
        lambda b: b.replace(b'"done"', generator.choice([b'"lost"', b"1", b"[]"])),
        lambda b: b.replace(b"{", b"[" * 100_000 + b"{", 1),
        lambda b: b.replace(b'"steps": 25', generator.choice([b'"steps": 1e999', b'"steps": true', b'"steps": "25"'])),
        lambda b: b.replace(b'"name": "c1"', b'"name": "C0"'),
        lambda b: b"\n" * 3 + b" " * (1 << 17),
    ]
    outcomes = set()
    for _ in range(300):
        damaged.write_bytes(generator.choice(mutations)(valid))
        try:
            Manifest.read(damaged)
            outcomes.add("read")
        except InputError:
            outcomes.add("refused")
    assert outcomes == {"read", "refused"}
