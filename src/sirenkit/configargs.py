"""Command-line options from typed config dataclasses: each field's docstring becomes its --help."""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import typing
from dataclasses import MISSING, fields
from typing import Any


@functools.cache
def attribute_docs(cls: type) -> dict[str, str]:
    """The string literal under each annotated attribute of a class body, by attribute name."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, after in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def add_config_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    skip: tuple[str, ...] = (),
    defaults: dict[str, Any] | None = None,
    choices: dict[str, list[str]] | None = None,
) -> None:
    """Add one --option per field of dataclass `cls`, with the field's docstring as help; not for
    the fields in `skip` nor those whose metadata says `option: False` (settings the command line
    takes from elsewhere, such as the environment)."""
    defaults = defaults or {}
    choices = choices or {}
    docs = attribute_docs(cls)
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__)
    for f in fields(cls):
        if f.name in skip or not f.metadata.get("option", True):
            continue
        default = defaults.get(f.name, f.default if f.default is not MISSING else None)
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{docs.get(f.name, '')} (default: {default})"
        hint = hints[f.name]
        if hint is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(hint) is typing.Literal or f.name in choices:
            options = choices.get(f.name) or typing.get_args(hint)
            group.add_argument(flag, choices=options, default=default, help=help_text)
        else:
            kind = next(t for t in (int, float, str) if t is hint or t in typing.get_args(hint))
            group.add_argument(flag, type=kind, default=default, metavar=kind.__name__.upper(), help=help_text)


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """Build dataclass `cls` from the parsed options that `add_config_options` added."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    values.update(overrides)
    return cls(**values)
