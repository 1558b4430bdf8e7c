"""Where a bad setting came from, for misgan.config's errors: the YAML file and key, or the option the user
typed (`--ratio 0.0 (command line)`), so a check in a config's __post_init__ never blames `<defaults>` for a
value given on the command line. Used on the error path only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

COMMAND_LINE = "command line"
GIVEN = ("COMMANDLINE", "ENVIRONMENT")  # click ParameterSource names (typer vendors its own click)


def blame(cls: type, kwargs: dict, raw: Mapping, message: str, source: str, where: str, cli: Any) -> str:
    """The origins of the values that make `cls(**kwargs)` fail: each given key whose default alone makes the
    check pass, else each given key the message names; `source` when no given key is to blame."""

    def passes(rest: dict) -> bool:
        try:
            cls(**rest)
        except Exception:  # any failure: this key alone is not the cause
            return False
        return True

    keys = [k for k in kwargs if passes({n: v for n, v in kwargs.items() if n != k})]
    keys = keys or [k for k in kwargs if re.search(rf"\b{re.escape(str(k))}\b", message)]
    origins = []
    for key in keys:
        dotted = f"{where}.{key}" if where else str(key)
        if dotted in cli:
            origins.append(command_line(dotted, raw[key], kwargs[key]))
        else:
            origins.append(f"{source} ({dotted}: {kwargs[key]!r})")
    return "; ".join(dict.fromkeys(origins)) or source


def relabel(message: str, dotted: str, raw: Any) -> str:
    """A coercion error of a command-line value ("command line: KEY: ..."), naming the option typed instead."""
    if not message.startswith(f"{COMMAND_LINE}:"):
        return message
    return command_line(dotted, raw, raw, bare=True) + message[len(COMMAND_LINE) :]


def command_line(dotted: str, raw: Any, value: Any, bare: bool = False) -> str:
    """ "--ratio 0.0 (command line)": the option of the running command that set the override `dotted`, found
    by name, else by value (--clf-epochs sets classifier.max_epochs); without one "command line (KEY: VALUE)",
    or with `bare` just "command line" (the message names the key)."""
    ctx = _current_context()
    options = []
    if ctx is not None:
        typed = [p for p in ctx.command.params if _source(ctx, p.name) in GIVEN and _long(p)]
        leaf = dotted.rsplit(".", 1)[-1]
        names = {leaf, leaf.removesuffix("s"), dotted.replace(".", "_")}
        options = [p for p in typed if p.name in names] or [p for p in typed if _same(ctx.params[p.name], raw)]
    if len(options) != 1:
        return COMMAND_LINE if bare else f"{COMMAND_LINE} ({dotted}: {value!r})"
    p = options[0]
    got = ctx.params[p.name]
    how = "environment" if _source(ctx, p.name) == "ENVIRONMENT" else COMMAND_LINE
    if isinstance(got, bool) and getattr(p, "is_flag", False):
        return f"{p.opts[0] if got else (p.secondary_opts or p.opts)[0]} ({how})"
    shown = " ".join(f"{p.opts[0]} {v}" for v in got) if isinstance(got, (list, tuple)) else f"{p.opts[0]} {got}"
    return f"{shown} ({how})"


def _current_context() -> Any:
    for module in ("typer._click.globals", "click.globals"):  # typer >= 0.2x vendors click; older use click
        try:
            ctx = __import__(module, fromlist=["get_current_context"]).get_current_context(silent=True)
        except (ImportError, AttributeError):
            continue
        if ctx is not None:
            return ctx
    return None


def _source(ctx: Any, name: str | None) -> str:
    return getattr(ctx.get_parameter_source(name), "name", "") if name else ""


def _long(param: Any) -> bool:
    opts = getattr(param, "opts", None) or []
    return bool(opts) and opts[0].startswith("--")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return type(a) is type(b) and a == b
