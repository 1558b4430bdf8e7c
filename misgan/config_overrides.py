"""Command-line overrides for `misgan.config.load_config`: dotted keys expanded into a tree (`expand_dotted`),
merged over the file's settings (`merge_trees`), and their dotted keys collected (`dotted_keys`) so that an
error names the command line, not the file, as the source of a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from misgan.errors import ConfigError


def expand_dotted(flat: dict[str, Any]) -> dict[str, Any]:
    """{"gan.epochs": 5} -> {"gan": {"epochs": 5}}."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = str(key).split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"command line: {key}: {p!r} is a setting, not a section")
        if isinstance(node.get(leaf), dict):
            raise ConfigError(f"command line: {key}: {leaf!r} is a section; give its settings as {leaf}.NAME")
        node[leaf] = value
    return out


def merge_trees(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_trees(out[key], value)
        else:
            out[key] = value
    return out


def dotted_keys(tree: Mapping[str, Any], prefix: str = "") -> frozenset[str]:
    """The dotted leaf keys of an expanded overrides tree (to name the command line in errors)."""
    out: set[str] = set()
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        out |= dotted_keys(value, dotted + ".") if isinstance(value, Mapping) else {dotted}
    return frozenset(out)
