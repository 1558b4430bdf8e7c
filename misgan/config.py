"""Configuration: frozen dataclasses per stage (defined beside each stage), ONE loader, YAML in and out.

`load_config(cls, path, section=..., overrides=...)` is the only way a config is read: a YAML file holds
either the stage's own fields or a whole `misgan run` config (sections corpus, extract, align, gan,
augment, run), values are coerced and checked against the dataclass's type hints, an unknown key names the
closest valid one, and command-line overrides (only the options the user gave) are applied last through
the same coercion. Every problem is a ConfigError naming the file and the dotted key.

A config class may declare `SECTION` (its section of a run config, and the prefix of its error keys) and
`NOT_IN_KEY` (fields that do not change its output; `key_fields` leaves them out of run fingerprints).
Value coercion: `misgan.config_coerce`; command-line overrides: `misgan.config_overrides`; where a bad value
came from: `misgan.config_origin`.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from misgan.config_coerce import coerce
from misgan.config_overrides import dotted_keys, expand_dotted, merge_trees
from misgan.errors import ConfigError

T = TypeVar("T")

RUN_SECTIONS = ("corpus", "extract", "align", "gan", "augment", "run")
TRAINING_SECTIONS = ("align", "gan", "augment")  # take run.seed / run.threads unless they set their own
COMMAND_LINE = "command line"


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass (possibly nested) as plain dicts/lists, ready for YAML or JSON."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def key_fields(cfg: Any) -> Any:
    """The settings of `cfg` that change a stage's output: `to_dict` without the fields a config class lists
    in its `NOT_IN_KEY` class attribute (thread counts, fold subsets, devices), recursively."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        skip = set(getattr(cfg, "NOT_IN_KEY", ()))
        return {f.name: key_fields(getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.name not in skip}
    return to_dict(cfg)


def replace(cfg: T, **changes: Any) -> T:
    """Copy of a frozen dataclass with fields changed; None values are ignored."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[type-var]


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if path.is_dir():
        raise ConfigError(f"{path}: a directory, not a config file; give the YAML file itself")
    if not path.is_file():  # /dev/null, a pipe: "not found" would send the user looking for a missing file
        raise ConfigError(f"{path}: not a regular file (a device, pipe or socket); give a YAML config file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from exc
    if data is None:
        raise ConfigError(f"{path}: empty config file (no settings); leave out --config to use the defaults")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def save_yaml(data: Any, path: str | Path) -> Path:
    from misgan.io import atomic_write

    return atomic_write(path, yaml.safe_dump(to_dict(data), sort_keys=False))


# ---------------------------------------------------------------- the loader


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    *,
    section: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """`cls` from the YAML file `path` (None: the defaults), then `overrides` (dotted keys allowed, e.g.
    {"gan.epochs": 5}); see the module docstring. A whole run config gives its `section` (default:
    `cls.SECTION`), with `run.seed` / `run.threads` as the default seed and threads of the training
    sections and the `gan` section as the default of `augment.gan`."""
    source = str(path) if path is not None else "<defaults>"
    data: dict[str, Any] = load_yaml(path) if path is not None else {}
    name = section or getattr(cls, "SECTION", None)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    extra = expand_dotted(dict(overrides or {}))
    if names == set(RUN_SECTIONS):
        # the run config itself: options act as if written in the file (run.seed reaches the sections)
        return build(cls, run_sections(merge_trees(data, extra), source), source, "", dotted_keys(extra))
    if is_run_config(data, cls):
        if name not in RUN_SECTIONS:
            raise ConfigError(f"{source}: a `misgan run` config has no section for {cls.__name__}")
        data = run_sections(data, source)[name]
    prefix = f"{name}." if name else ""
    return build(cls, merge_trees(data, extra), source, name or "", dotted_keys(extra, prefix))


def is_run_config(data: Mapping[str, Any], cls: type) -> bool:
    """Whether `data` is a whole `misgan run` config rather than `cls`'s own fields: its keys are section
    names and at least one is not a field of `cls` (AugmentConfig has a `gan` field, a run config a section)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return bool(data) and set(data) <= set(RUN_SECTIONS) and not set(data) <= names


def run_sections(data: Mapping[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """The six sections of a run config as dicts, with the defaults one section gives another filled in."""
    for key in data:
        if key not in RUN_SECTIONS:
            raise ConfigError(f"{source}: unknown section {key!r}{_suggest(key, RUN_SECTIONS)}")
    out: dict[str, dict[str, Any]] = {}
    for key in RUN_SECTIONS:
        value = data.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"{source}: {key}: must be a mapping of settings (got {value!r})")
        out[key] = dict(value or {})
    for key in ("seed", "threads"):
        if key in out["run"]:
            value = coerce(int, out["run"][key], source, f"run.{key}")
            for name in TRAINING_SECTIONS:
                out[name].setdefault(key, value)
    # stage 3 trains (or finds) its generators with the gan section's settings unless it overrides them
    own = out["augment"].get("gan")
    if own is None or isinstance(own, Mapping):
        out["augment"]["gan"] = {**out["gan"], **(own or {})}
    return out


def build(cls: type[T], data: Mapping[str, Any], source: str = "<config>", where: str = "", cli=()) -> T:
    """Dataclass `cls` from a mapping: keys checked, values coerced to the field types (nested dataclasses
    recursively); `where` is the dotted prefix of error keys, `cli` the dotted keys given on the command line."""
    where = where or getattr(cls, "SECTION", "")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {where or cls.__name__}: must be a mapping of settings (got {data!r})")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        dotted = f"{where}.{key}" if where else str(key)
        src = COMMAND_LINE if dotted in cli else source
        if key not in fields:
            at = f"{where}: " if where else ""
            raise ConfigError(f"{src}: {at}unknown setting {key!r}{_suggest(str(key), fields)}")
        try:
            kwargs[key] = coerce(hints[key], value, src, dotted, cli)
        except ConfigError as exc:
            if src != COMMAND_LINE:
                raise
            from misgan.config_origin import relabel

            raise ConfigError(relabel(str(exc), dotted, value)) from None
    try:
        return cls(**kwargs)
    except (ConfigError, TypeError, ValueError) as exc:
        from misgan.config_origin import blame  # the error path only

        what = "" if isinstance(exc, ConfigError) else f"{where or cls.__name__}: "
        raise ConfigError(f"{blame(cls, kwargs, data, str(exc), source, where, cli)}: {what}{exc}") from None


def from_dict(cls: type[T], data: Mapping[str, Any] | None, source: str = "<config>") -> T:
    """`build` with the class's own prefix (kept for callers that have a dict, not a file)."""
    return build(cls, data or {}, source)


def _suggest(key: str, valid: Any) -> str:
    close = difflib.get_close_matches(str(key), list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(valid)}"
