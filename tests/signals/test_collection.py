"""Which files a collection names: folders, glob patterns, list files; unique member names."""

from __future__ import annotations

from pathlib import Path

import pytest

from sirenkit.errors import InputError
from sirenkit.signals.collection import collection_sources, is_collection, is_safe_name, member_names, pattern_reaches


def test_folders_patterns_and_lists_name_their_files_in_a_stated_order(tmp_path):
    for name in ("b.png", "a.png", ".hidden.png", "c.wav"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.png").write_bytes(b"x")
    assert collection_sources(tmp_path) == [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.wav"]
    assert collection_sources(tmp_path / "*.png") == [tmp_path / "a.png", tmp_path / "b.png"]
    assert collection_sources(tmp_path / "**" / "*.png") == [
        tmp_path / "a.png",
        tmp_path / "b.png",
        tmp_path / "sub" / "d.png",
    ]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# chosen\nb.png\n\n  sub/d.png \n{tmp_path / 'a.png'}\nb.png\n")
    assert collection_sources(listing) == [tmp_path / "b.png", tmp_path / "sub" / "d.png", tmp_path / "a.png"]


def test_what_counts_as_a_collection(tmp_path):
    (tmp_path / "one.png").write_bytes(b"x")
    (tmp_path / "odd[1].png").write_bytes(b"x")
    assert is_collection(tmp_path) and is_collection(tmp_path / "files.txt") and is_collection(tmp_path / "*.png")
    assert not is_collection(tmp_path / "one.png") and not is_collection(tmp_path / "odd[1].png")
    assert not is_collection(tmp_path / "missing.png")


def test_a_collection_that_names_nothing_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="names no files"):
        collection_sources(tmp_path)
    with pytest.raises(InputError, match="names no files"):
        collection_sources(tmp_path / "*.png")
    with pytest.raises(InputError, match="cannot read the list"):
        collection_sources(tmp_path / "absent.txt")


def test_member_names_are_unique_stems():
    sources = [Path("a/x.png"), Path("b/x.png"), Path("c/y.png"), Path("d/x.png"), Path("x-2.png")]
    assert member_names(sources) == ["x", "x-2", "y", "x-3", "x-2-2"]


def test_names_are_fixed_when_first_seen_and_stay_plain_folder_names():
    known = {"a/x.bmp": "x"}
    sources = [Path("a/x.bmp"), Path("a/X.png"), Path("a/...png"), Path("a/é t.png"), Path("a/" + "n" * 300 + ".png")]
    names = member_names(sources, known)
    assert names[:4] == ["x", "X-2", "signal", "__t"] and names[4] == "n" * 100
    assert all(is_safe_name(name) for name in names)
    assert not any(is_safe_name(bad) for bad in ("..", ".", ".hidden", "a/b", "", 7, None))


def test_a_pattern_reaches_an_output_folder_only_where_it_can_match_files_inside(tmp_path):
    data = tmp_path / "D"
    assert pattern_reaches(data / "**" / "*.png", data / "run")
    assert pattern_reaches(data / "*" / "*" / "*.png", data / "run")
    assert not pattern_reaches(data / "*.png", data / "run")
    assert not pattern_reaches(data / "x*" / "*.png", data / "run")
    assert not pattern_reaches(tmp_path / "E" / "**" / "*.png", data / "run")
