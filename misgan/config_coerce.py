"""Coercion of one config value to its dataclass field's type hint (`coerce`), for `misgan.config`'s loader:
YAML and command-line strings become ints, floats, bools, tuples, paths and nested dataclasses, and a value
that cannot names its source and dotted key in a ConfigError.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from misgan.errors import ConfigError


def coerce(hint: Any, value: Any, source: str, key: str, cli=()) -> Any:
    """`value` as type `hint`, or a ConfigError `source: key: must be ... (got ...)`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return coerce(option, value, source, key, cli)
            except ConfigError as exc:
                errors.append(exc)
        if len(options) == 1:
            raise errors[0]
        raise ConfigError(f"{source}: {key}: must be {' or '.join(map(_type_name, options))} (got {value!r})")
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        from misgan.config import build  # a nested dataclass goes through the loader again

        return build(hint, value, source, key, cli)
    if origin is tuple or hint is tuple:
        return _tuple(args, value, source, key)
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: {key}: must be a mapping (got {value!r})")
        return dict(value)
    if origin is list or hint is list:
        return list(_tuple((args[0], ...) if args else (), value, source, key))
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        raise ConfigError(f"{source}: {key}: must be true or false (got {value!r})")
    if hint in _NUMBERS:
        accepted, what = _NUMBERS[hint]
        if isinstance(value, accepted) and not isinstance(value, bool):
            return hint(value)
        if isinstance(value, str):  # the CLI's strings; YAML reads `1e-4` (no dot) as a string
            try:
                return hint(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{source}: {key}: must be {what} (got {value!r})")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # `classes: 4`
        raise ConfigError(f"{source}: {key}: must be a string (got {value!r})")
    if hint is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{source}: {key}: must be a path (got {value!r})")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{source}: {key}: must be {_type_name(hint)} (got {value!r})")
    return value


_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
# the numeric types a config field may have: what a value may already be, and how an error names it
_NUMBERS: dict[type, tuple[tuple[type, ...], str]] = {
    int: ((int,), "an integer"),
    float: ((int, float), "a number"),
}


def _tuple(args: tuple, value: Any, source: str, key: str) -> tuple:
    if isinstance(value, str):
        items: list = [v.strip() for v in value.split(",") if v.strip()]  # "0.5,1,2" from a command line
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        items = [value]  # `mm_hidden: 256`
    else:
        raise ConfigError(f"{source}: {key}: must be a list (got {value!r})")
    if not args:
        return tuple(items)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(coerce(args[0], v, source, f"{key}[{i}]") for i, v in enumerate(items))
    if len(items) != len(args):
        raise ConfigError(f"{source}: {key}: must be a list of {len(args)} values (got {value!r})")
    return tuple(coerce(a, v, source, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, items, strict=True)))


def _type_name(hint: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))
