"""Crafted and damaged files: every reader (`compression.container.decode`, `store.load_representation`
for a model, a tiled model and a packed collection, `store.load_train_state`) answers any bytes with
success or one `InputError`, and allocates no more than the file's bytes and its header imply.

Each fuzz test mutates one small valid file a few hundred times, seeded: bytes flipped, cut and
inserted, and, re-encoded so that the mutation reaches the parser (a valid checksum, a valid
safetensors header), its JSON metadata changed node by node (values of other types, huge
numbers, keys deleted or added, deep nesting) and its tensors renamed, reshaped, retyped,
dropped or added. Memory is traced per read (`tracemalloc`: Python objects and NumPy arrays).
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import pytest
import torch
from safetensors.torch import load, save

from sirenkit.compression.container import MAGIC, PREFIX, VERSION, Quantized, decode, encode
from sirenkit.compression.quantization import TensorCode, named_tensors
from sirenkit.errors import InputError
from sirenkit.fields import FIELD_BUILDERS, FieldConfig, build_field, stack_fields
from sirenkit.fields.tiled import TiledField, tile_grid
from sirenkit.store import (
    MAX_JSON_DEPTH,
    Representation,
    TrainState,
    load_representation,
    load_train_state,
    save_representation,
    save_train_state,
)

CONFIG = FieldConfig(width=8, depth=1, out_dim=3)
SIGNAL = {"kind": "image", "shape": [6, 8], "channels": 3, "bit_depth": 8}
TRACED_LIMIT = 8 << 20
"""The most Python and NumPy memory one read of these small files may trace (bytes)."""
MUTATIONS = 200


# ---- small valid files -----------------------------------------------------------------------


def _representation(count: int | None = None) -> Representation:
    field = build_field(CONFIG, seed=1)
    if count is not None:
        field = stack_fields([build_field(CONFIG, seed=seed) for seed in range(count)])
    return Representation(field, CONFIG, dict(SIGNAL))


def _skz() -> bytes:
    representation = _representation()
    return encode(Quantized.of(representation, [TensorCode.of_bits(8) for _ in named_tensors(representation.field)]))


def _saved(tmp_path: Path, name: str, save_it: Callable[[Path], None]) -> bytes:
    path = tmp_path / name
    save_it(path)
    return path.read_bytes()


def _model(tmp_path: Path) -> bytes:
    return _saved(tmp_path, "model.safetensors", lambda p: save_representation(p, _representation()))


def _packed(tmp_path: Path) -> bytes:
    collection = Representation(
        _representation(3).field, CONFIG, {"kind": "collection", "member_kind": "image", "index": "packed.json"}
    )
    return _saved(tmp_path, "packed.safetensors", lambda p: save_representation(p, collection))


def _tiled(tmp_path: Path) -> bytes:
    tile_shape, starts = tile_grid((10, 12), 6, 2)
    config = FieldConfig(width=4, depth=0, out_dim=1)
    tiles = stack_fields([build_field(config, seed=k) for k in range(len(starts))])
    tiled = Representation(TiledField(tiles, (10, 12), tile_shape, starts, 2), config, {"kind": "image"})
    return _saved(tmp_path, "tiled.safetensors", lambda p: save_representation(p, tiled))


def _train_state(tmp_path: Path) -> bytes:
    representation = _representation()
    optimizer = torch.optim.Adam(representation.field.parameters())
    representation.field(torch.rand(4, 2)).sum().backward()
    optimizer.step()
    state = TrainState(representation, optimizer.state_dict(), torch.Generator().get_state(), 1, {"phase": "adam"})
    return _saved(tmp_path, "checkpoint.safetensors", lambda p: save_train_state(p, state))


# ---- mutations -------------------------------------------------------------------------------

ODD_VALUES: list[Any] = [
    "8",
    "",
    8.5,
    -3,
    0,
    True,
    None,
    10**30,
    10**9,
    1e308,
    float("nan"),
    float("-inf"),
    [],
    [1, "x"],
    {},
    {"a": 1},
]


DEEP = "<deep>"
"""Stands for a deeply nested value in a document until `_dumps` writes it."""


def _dumps(document: Any) -> str:
    """JSON text of `document`, each DEEP written as lists and mappings nested past what readers take
    (and past what Python's own encoder could write)."""
    deep = '{"x":[' * 2500 + "0" + "]}" * 2500
    return json.dumps(document).replace(json.dumps(DEEP), deep)


def _shallow(depth: int) -> Any:
    """Lists nested `depth` deep: just past what readers take when `depth` is MAX_JSON_DEPTH."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def _nodes(document: Any, path: tuple = ()) -> list[tuple]:
    """The paths to every value inside a JSON document."""
    found = [path]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _nodes(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _nodes(value, (*path, index))
    return found


def _mutate_json(document: Any, rng: random.Random) -> Any:
    """A copy of `document` with one node changed: another value, a huge or deep one, a key
    deleted or added."""
    document = copy.deepcopy(document)
    path = rng.choice(_nodes(document)[1:])
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    choice = rng.random()
    if choice < 0.15 and isinstance(parent, dict):
        del parent[path[-1]]
    elif choice < 0.25 and isinstance(parent, dict):
        parent[rng.choice(["extra", "count", "tiles", "format", "signal", "field"])] = rng.choice(ODD_VALUES)
    elif choice < 0.35:
        parent[path[-1]] = DEEP if rng.random() < 0.5 else _shallow(MAX_JSON_DEPTH)
    elif choice < 0.45 and isinstance(parent[path[-1]], int) and not isinstance(parent[path[-1]], bool):
        parent[path[-1]] = parent[path[-1]] * rng.choice([10**6, 10**9, -1, 2])
    else:
        parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
    return document


def _mutate_bytes(data: bytes, rng: random.Random, start: int = 0) -> bytes:
    """`data` with bytes flipped, cut or inserted at or after `start`."""
    data = bytearray(data)
    choice = rng.random()
    position = rng.randrange(start, len(data))
    if choice < 0.4:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(start, len(data))] ^= 1 << rng.randrange(8)
    elif choice < 0.7:
        del data[position:]
    else:
        data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(data)


def _safetensors_parts(data: bytes) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    length = struct.unpack("<Q", data[:8])[0]
    return load(data), json.loads(json.loads(data[8 : 8 + length])["__metadata__"]["sirenkit"])


def _safetensors(tensors: dict[str, torch.Tensor], meta: Any) -> bytes:
    return save(tensors, metadata={"sirenkit": _dumps(meta)})


def _mutate_tensors(tensors: dict[str, torch.Tensor], rng: random.Random) -> dict[str, torch.Tensor]:
    tensors = dict(tensors)
    name = rng.choice(sorted(tensors))
    choice = rng.random()
    if choice < 0.2:
        del tensors[name]
    elif choice < 0.4:
        tensors[name + ".x" if rng.random() < 0.5 else "optimizer.9.exp_avg"] = torch.zeros(2)
    elif choice < 0.6:
        tensors[name] = tensors[name].reshape(-1)[: max(tensors[name].numel() - 1, 0)].clone()
    elif choice < 0.8:
        tensors[name] = tensors[name].to(rng.choice([torch.float64, torch.float16, torch.int32, torch.uint8]))
    else:
        tensors[name] = torch.zeros(2, *tensors[name].shape)
    return tensors


def _safetensors_mutant(data: bytes, rng: random.Random) -> bytes:
    tensors, meta = _safetensors_parts(data)
    choice = rng.random()
    if choice < 0.3:
        return _mutate_bytes(data, rng)
    if choice < 0.45:
        return _safetensors(_mutate_tensors(tensors, rng), meta)
    if choice < 0.5:
        length = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8 : 8 + length])
        name = rng.choice(sorted(set(header) - {"__metadata__"}))
        header[name] = _mutate_json(header[name], rng)
        text = _dumps(header).encode()
        return struct.pack("<Q", len(text)) + text + data[8 + length :]
    return _safetensors(tensors, _mutate_json(meta, rng))


def _skz_parts(data: bytes) -> tuple[Any, bytes]:
    body = brotli.decompress(data[PREFIX:])
    length = int.from_bytes(body[:2], "big")
    return json.loads(body[2 : 2 + length]), body[2 + length :]


def _skz_file(header: Any, rest: bytes) -> bytes:
    text = _dumps(header).encode()
    body = len(text).to_bytes(2, "big") + text + rest
    return MAGIC + bytes([VERSION]) + zlib.crc32(body).to_bytes(4, "big") + brotli.compress(body, quality=1)


def _skz_mutant(data: bytes, rng: random.Random) -> bytes:
    header, rest = _skz_parts(data)
    choice = rng.random()
    if choice < 0.3:
        return _mutate_bytes(data, rng, len(MAGIC) + 1)
    if choice < 0.45:
        return _skz_file(header, _mutate_bytes(rest, rng))
    return _skz_file(_mutate_json(header, rng), rest)


# ---- crafted files ---------------------------------------------------------------------------


def _traced_peak(read: Callable[[], object]) -> tuple[int, BaseException | None]:
    """The traced memory peak of `read()` and the exception it raised (None if none), from a second
    run: the first imports whatever torch loads on first use."""
    with contextlib.suppress(Exception):
        read()
    tracemalloc.start()
    try:
        read()
        error = None
    except Exception as raised:
        error = raised
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, error


def test_a_brotli_bomb_with_a_valid_checksum_inflates_no_further_than_its_header_implies():
    header, rest = _skz_parts(_skz())
    text = json.dumps(header).encode()
    body = len(text).to_bytes(2, "big") + text + rest
    zeros, blocks = bytes(1 << 24), 16  # 256 MiB of zeros after the body, a few hundred bytes once compressed
    compressor, crc = brotli.Compressor(quality=1), zlib.crc32(body)
    parts = [compressor.process(body)]
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
        parts.append(compressor.process(zeros))
    bomb = MAGIC + bytes([VERSION]) + crc.to_bytes(4, "big") + b"".join(parts) + compressor.finish()
    assert len(bomb) < 1 << 20
    peak, error = _traced_peak(lambda: decode(bomb, "bomb.skz"))
    assert isinstance(error, InputError) and "bomb.skz is corrupt" in str(error), error
    assert peak < 4 << 20, peak


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"width": 10**6}, "needs about"),  # within the bounds: refused by the memory it would take
        ({"ff_features": 10**9, "model": "ff"}, "ff-features must be at most"),
        ({"depth": 10**9}, "depth must be at most"),
        ({"width": "8"}, "width must be a whole number"),
        ({"omega0": [30]}, "omega0 must be a finite number"),
    ],
)
def test_a_compressed_file_claiming_a_huge_or_odd_field_is_refused_before_anything_is_allocated(field, message):
    header, rest = _skz_parts(_skz())
    header["field"].update(field)
    peak, error = _traced_peak(lambda: decode(_skz_file(header, rest), "x.skz"))
    assert isinstance(error, InputError) and message in str(error) and "x.skz" in str(error), error
    assert peak < 1 << 20, peak


BAD_SIGNALS = {
    "shape as text": ({"shape": "6x8"}, "shape must be a list of 2 whole numbers"),
    "shape as a number": ({"shape": 6.5}, "shape must be a list of 2 whole numbers"),
    "a negative side": ({"shape": [-6, 8]}, "shape must be a list of 2 whole numbers"),
    "a huge side": ({"shape": [10**30, 8]}, "shape must be a list of 2 whole numbers"),
    "channels as text": ({"channels": "3"}, "channels must be a whole number"),
    "kind as a list": ({"kind": ["image"]}, "kind must be text"),
}


@pytest.mark.parametrize("case", sorted(BAD_SIGNALS))
def test_signal_metadata_of_the_wrong_type_is_refused_as_a_compressed_file_is_read(case):
    change, message = BAD_SIGNALS[case]
    header, rest = _skz_parts(_skz())
    header["signal"].update(change)
    with pytest.raises(InputError, match=f"x.skz is corrupt .*{message}"):
        decode(_skz_file(header, rest), "x.skz")


@pytest.mark.parametrize("case", sorted(BAD_SIGNALS))
def test_signal_metadata_of_the_wrong_type_is_refused_as_a_model_file_is_read(case, tmp_path):
    change, message = BAD_SIGNALS[case]
    tensors, meta = _safetensors_parts(_model(tmp_path))
    meta["signal"].update(change)
    path = tmp_path / "odd.safetensors"
    path.write_bytes(_safetensors(tensors, meta))
    with pytest.raises(InputError, match=f"odd.safetensors: .*{message}"):
        load_representation(path)


@pytest.mark.parametrize("signal", [[1, 2], "image", 3, None])
def test_signal_metadata_that_is_not_a_mapping_is_refused(signal, tmp_path):
    header, rest = _skz_parts(_skz())
    with pytest.raises(InputError, match="signal metadata must be a mapping"):
        decode(_skz_file({**header, "signal": signal}, rest), "x.skz")
    tensors, meta = _safetensors_parts(_model(tmp_path))
    path = tmp_path / "odd.safetensors"
    path.write_bytes(_safetensors(tensors, {**meta, "signal": signal}))
    with pytest.raises(InputError, match="odd.safetensors: the signal metadata must be a mapping"):
        load_representation(path)


def test_a_missing_shape_is_one_error_line_when_the_checkpoint_is_rendered(tmp_path, capsys):
    from conftest import run_cli

    tensors, meta = _safetensors_parts(_model(tmp_path))
    del meta["signal"]["shape"]
    path = tmp_path / "no-shape.safetensors"
    path.write_bytes(_safetensors(tensors, meta))
    code, err = run_cli(["render", str(path), "--out", str(tmp_path / "r.png")], capsys)
    assert code == 2 and err.count("\n") == 1 and "has no shape" in err, err
    header, rest = _skz_parts(_skz())
    del header["signal"]["shape"]
    from sirenkit.recipes.image import render_size

    with pytest.raises(InputError, match="has no shape"):
        render_size(decode(_skz_file(header, rest)).representation())
    image = tmp_path / "x.png"
    image.write_bytes(bytes.fromhex("89504e470d0a1a0a"))  # never read: the checkpoint is refused first
    code, err = run_cli(["derivatives", str(path), "--image", str(image), "--out", str(tmp_path / "maps")], capsys)
    assert code == 2 and err.count("\n") == 1 and "has no shape" in err, err
    tensors, meta = _safetensors_parts(_model(tmp_path))
    meta["signal"] = {"kind": "pde"}
    path.write_bytes(_safetensors(tensors, meta))
    code, err = run_cli(["render", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1, err
    from sirenkit.recipes.pde import load_solution

    with pytest.raises(InputError, match="has no problem"):
        load_solution(path)


def test_deeply_nested_metadata_is_an_input_error_not_a_recursion_error(tmp_path):
    header, rest = _skz_parts(_skz())
    for deep in (DEEP, _shallow(MAX_JSON_DEPTH)):
        with pytest.raises(InputError, match="x.skz is corrupt: its header nests deeper than"):
            decode(_skz_file({**header, "signal": {**header["signal"], "shape": deep}}, rest), "x.skz")
        tensors, meta = _safetensors_parts(_model(tmp_path))
        path = tmp_path / "deep.safetensors"
        path.write_bytes(_safetensors(tensors, {**meta, "signal": deep}))
        with pytest.raises(InputError, match="deep.safetensors: its sirenkit metadata nests deeper than"):
            load_representation(path)


@pytest.mark.parametrize(
    ("make", "change", "message"),
    [
        (_model, {"field": {**CONFIG.to_dict(), "width": 10**6}}, "weights do not match the field configuration"),
        (_model, {"field": {**CONFIG.to_dict(), "model": "ff", "ff_features": 10**9}}, "ff-features must be at most"),
        (_model, {"field": {**CONFIG.to_dict(), "model": "ff", "ff_features": 10**7}}, "weights do not match"),
        (_model, {"count": 10**9}, "weights do not match the field configuration"),
        (_packed, {"count": 10**9}, "weights do not match the field configuration"),
        (_packed, {"count": 2}, "weights do not match the field configuration"),
        (_packed, {"count": True}, "bad field count"),
        (_train_state, {"field": {**CONFIG.to_dict(), "width": 10**6}}, "weights do not match"),
    ],
)
def test_a_checkpoint_claiming_sizes_its_tensors_do_not_have_is_refused_before_anything_is_allocated(
    make, change, message, tmp_path
):
    tensors, meta = _safetensors_parts(make(tmp_path))
    path = tmp_path / "claims.safetensors"
    path.write_bytes(_safetensors(tensors, {**meta, **change}))
    load_it = load_train_state if make is _train_state else load_representation
    peak, error = _traced_peak(lambda: load_it(path))
    assert isinstance(error, InputError) and message in str(error) and str(path) in str(error), error
    assert peak < 1 << 20, peak


@pytest.mark.parametrize(("dtype", "message"), [("F4", "dtype F4"), ("F8_E8M0", "dtype F8_E8M0"), ("BOOL", "bool")])
def test_a_tensor_of_a_dtype_torch_does_not_read_or_the_field_does_not_have_is_an_input_error(dtype, message, tmp_path):
    data = _model(tmp_path)
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + length])
    entry = header["head.bias"]  # 3 float32: 12 bytes, as many F4 (half a byte each) as 24
    entry.update(dtype=dtype, shape=[24 if dtype == "F4" else 12])
    text = json.dumps(header).encode()
    path = tmp_path / "odd.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length :])
    with pytest.raises(InputError, match=message):
        load_representation(path)


def _without_rng_state(tensors: dict, meta: dict) -> tuple[dict, dict]:
    return {k: v for k, v in tensors.items() if k != "rng_state"}, meta


def _listing_a_missing_tensor(tensors: dict, meta: dict) -> tuple[dict, dict]:
    return tensors, {**meta, "optimizer_lists": {"0": {"history": [True]}}}


BAD_TRAINING_STATES = {
    "no param_groups": (lambda t, m: (t, {k: v for k, v in m.items() if k != "param_groups"}), "param_groups"),
    "param_groups not a list": (lambda t, m: (t, {**m, "param_groups": {"params": [0]}}), "param_groups"),
    "indices as text": (
        lambda t, m: (t, {**m, "param_groups": [{**m["param_groups"][0], "params": ["0", "1", "2", "3", "4", "5"]}]}),
        "param_groups must number",
    ),
    "an index twice": (
        lambda t, m: (t, {**m, "param_groups": [{**m["param_groups"][0], "params": [0, 0, 1, 2, 3, 4]}]}),
        "param_groups must number",
    ),
    "a slot of a missing parameter": (
        lambda t, m: (t, {**m, "optimizer_numbers": {"9": {"n": 1}}}),
        "optimizer_numbers",
    ),
    "a slot index as words": (lambda t, m: (t, {**m, "optimizer_numbers": {"one": {"n": 1}}}), "optimizer_numbers"),
    "a list naming a missing tensor": (_listing_a_missing_tensor, "names a tensor the file does not hold"),
    "no rng_state": (_without_rng_state, "there is no rng_state"),
    "rng_state of another size": (
        lambda t, m: ({**t, "rng_state": torch.zeros(10, dtype=torch.uint8)}, m),
        "not a random generator's state",
    ),
    "step as text": (lambda t, m: (t, {**m, "step": "1"}), "step must be a whole number"),
    "step as a fraction": (lambda t, m: (t, {**m, "step": 1.5}), "step must be a whole number"),
    "no step": (lambda t, m: (t, {k: v for k, v in m.items() if k != "step"}), "step must be a whole number"),
    "extra as a list": (lambda t, m: (t, {**m, "extra": []}), "extra must be a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRAINING_STATES))
def test_malformed_optimizer_and_training_metadata_is_refused(case, tmp_path):
    change, message = BAD_TRAINING_STATES[case]
    path = tmp_path / "checkpoint.safetensors"
    path.write_bytes(_safetensors(*change(*_safetensors_parts(_train_state(tmp_path)))))
    with pytest.raises(InputError, match=f"{path}: bad training state \\(.*{message}"):
        load_train_state(path)


# ---- the checks ------------------------------------------------------------------------------


def _read_within_limits(read: Callable[[], object]) -> None:
    """Run one read: success or InputError, and no more than TRACED_LIMIT traced."""
    tracemalloc.start()
    try:
        read()
    except InputError as error:
        assert "\n" not in str(error)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < TRACED_LIMIT, peak


def _fuzz(valid: bytes, mutant: Callable[[bytes, random.Random], bytes], read: Callable[[bytes], object]) -> None:
    rng = random.Random(32)
    read(valid)
    for model in FIELD_BUILDERS:  # what torch imports on a first build is not the reader's memory
        with torch.device("meta"):
            build_field(FieldConfig(model=model, pe_octaves=2))
    for number in range(MUTATIONS):
        data = mutant(valid, rng)
        try:
            _read_within_limits(lambda data=data: read(data))
        except Exception as error:
            raise AssertionError(f"mutation {number}: {type(error).__name__}: {error}") from error


def _from_path(tmp_path: Path, load_it: Callable[[Path], object]) -> Callable[[bytes], object]:
    def read(data: bytes) -> object:
        path = tmp_path / "mutant.safetensors"
        path.write_bytes(data)
        return load_it(path)

    return read


def test_random_damage_to_a_compressed_file_is_an_input_error_within_bounded_memory():
    _fuzz(_skz(), _skz_mutant, lambda data: decode(data, "x.skz").representation())


@pytest.mark.parametrize("make", [_model, _tiled, _packed], ids=["model", "tiled model", "packed collection"])
def test_random_damage_to_a_model_file_is_an_input_error_within_bounded_memory(make, tmp_path):
    _fuzz(make(tmp_path), _safetensors_mutant, _from_path(tmp_path, load_representation))


def test_random_damage_to_a_training_checkpoint_is_an_input_error_within_bounded_memory(tmp_path):
    _fuzz(_train_state(tmp_path), _safetensors_mutant, _from_path(tmp_path, load_train_state))
