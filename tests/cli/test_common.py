"""What every command shares (`cli/common.py`): option defaults from the recipes, a failure after training."""

from __future__ import annotations

import argparse

import pytest

from run_helpers import fit_args, limit_file_size, start_cli
from sirenkit.cli import build_parser
from sirenkit.store import load_representation


def fit_commands(parser) -> list:
    """Every (sub)command parser that takes the fit loop's options (those with --retain-memory)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += fit_commands(sub)
        elif action.dest == "retain_memory":
            found.append(parser)
    return found


def test_every_fit_command_tunes_the_allocator_while_the_library_does_not_unless_asked():
    from sirenkit.fit import FitConfig

    assert FitConfig().retain_memory is False
    commands = fit_commands(build_parser())
    assert len(commands) >= 7
    for command in commands:
        assert command.get_default("retain_memory") is True, command.prog


@pytest.mark.parametrize(
    "command,module,fit_name,batch_name",
    [
        (["fit", "image"], "image", "IMAGE_FIT", "IMAGE_BATCH"),
        (["fit", "audio"], "audio", "AUDIO_FIT", "AUDIO_BATCH"),
        (["fit", "video"], "video", "VIDEO_FIT", "VIDEO_BATCH"),
        (["fit", "volume"], "volume", "VOLUME_FIT", "VOLUME_BATCH"),
        (["fit", "sdf"], "sdf", "SDF_FIT", None),
        (["poisson"], "gradient_domain", "POISSON_FIT", None),
        (["blend", "b.png"], "gradient_domain", "POISSON_FIT", None),
        (["compare", "image"], "derivative_maps", "COMPARE_FIT", None),
    ],
)
def test_the_library_defaults_are_the_commands_defaults(command, module, fit_name, batch_name):
    """Each command's options default to its recipe's settings (the allocator tuning aside)."""
    import importlib
    from dataclasses import asdict, fields

    from sirenkit.fit import FitConfig

    recipe = importlib.import_module(f"sirenkit.recipes.{module}")
    args = build_parser().parse_args([*command, "a.png", "--out", "out"])
    library = asdict(getattr(recipe, fit_name))
    for f in fields(FitConfig):
        if hasattr(args, f.name) and f.name != "retain_memory":
            assert getattr(args, f.name) == library[f.name], f.name
    if batch_name is not None:
        assert args.batch == getattr(recipe, batch_name)


# 5 and 8. Trained work is saved before anything can fail; write errors are errors.


def test_a_write_error_after_training_keeps_the_model_and_names_the_file(image_file, tmp_path):
    run = tmp_path / "run"
    child = start_cli(fit_args(image_file, run, steps=3), preexec_fn=limit_file_size(16_000))
    _, err = child.communicate(timeout=120)
    assert child.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sirenkit: error: ") and "Traceback" not in err
    assert "File too large" in err and str(run / "curve.png") in err and "model.safetensors is saved" in err
    assert load_representation(run / "model.safetensors").signal["kind"] == "image"
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def _stopping_recipe(writes: list[str], stop: BaseException):
    """A recipe that writes the files `writes` (relative to its run folder), then raises `stop`."""

    def recipe(settings):
        for name in writes:
            (settings["run_dir"] / name).parent.mkdir(parents=True, exist_ok=True)
            (settings["run_dir"] / name).write_text("work")
        raise stop

    return recipe


def _args(out, overwrite=False) -> argparse.Namespace:
    return argparse.Namespace(out=out, device="cpu", quiet=True, resume=False, overwrite=overwrite)


@pytest.mark.parametrize(
    "layout_name,writes,kept",
    [
        ("COLLECTION_LAYOUT", ["manifest.jsonl", "collection.json", "signals/a/model.safetensors"], "signals fitted"),
        ("TILES_LAYOUT", ["tiles/0000/checkpoint.safetensors"], "groups of tiles"),
    ],
)
def test_a_stop_before_the_product_says_what_is_kept_and_never_replaces_the_previous_run(
    layout_name, writes, kept, tmp_path
):
    from sirenkit.cli.common import RunStopped, run_fit
    from sirenkit.errors import InputError
    from sirenkit.recipes import collection, tiles

    layout = getattr(collection, layout_name, None) or getattr(tiles, layout_name)
    out = tmp_path / "run"
    out.mkdir()
    (out / "earlier.txt").write_text("the previous run")
    for stop in (KeyboardInterrupt(), OSError(28, "No space left on device", str(out / "x"))):
        expected = RunStopped if isinstance(stop, KeyboardInterrupt) else InputError
        with pytest.raises(expected) as raised:
            run_fit(_args(out, overwrite=True), {}, _stopping_recipe(writes, stop), layout=layout)
        message = str(raised.value)
        assert kept in message and "untouched" in message and "training had ended" not in message
        assert "after training" not in message and (out / "earlier.txt").read_text() == "the previous run"
    fresh = tmp_path / "fresh"
    with pytest.raises(KeyboardInterrupt):  # nothing worth keeping: the folder goes, and main says so
        run_fit(
            _args(fresh),
            {},
            _stopping_recipe(["manifest.jsonl", "collection.json"], KeyboardInterrupt()),
            layout=layout,
        )
    assert not fresh.exists()
