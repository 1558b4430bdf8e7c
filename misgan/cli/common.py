"""Helpers shared by the CLI modules: clean exits on user errors, options the user gave, defaults shown
from the config dataclasses, and the plain per-fold lines for a non-terminal stdout."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator
from typing import Any

import typer

from misgan.errors import MisganError

# click's ParameterSource names (typer vendors its own click, so compare names, not enum members)
GIVEN = ("COMMANDLINE", "ENVIRONMENT")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a MisganError as one clear line on stderr and exit 2, without a traceback."""
    try:
        yield
    except MisganError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


def given(ctx: typer.Context, **options: Any) -> dict[str, Any]:
    """The options the user gave (command line or environment), by name: a flag's default must never
    replace a value from the config file."""
    return {k: v for k, v in options.items() if getattr(ctx.get_parameter_source(k), "name", None) in GIVEN}


def default(cls: type, name: str) -> Any:
    """The default of field `name` of config dataclass `cls`: what `--help` shows, defined once."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return ",".join(map(str, value)) if isinstance(value, tuple) else value


def fold_echo() -> Callable[[str], None] | None:
    """`typer.echo` where stdout is not a terminal (a log file, CI): one plain line per finished fold
    instead of a progress bar's silence; None on a terminal, where the progress bar shows it."""
    return None if sys.stdout.isatty() else typer.echo


def pct(x: float) -> str:
    """A score in [0, 1] as the percent every printed table uses."""
    return f"{100 * x:.2f}"


THREADS_HELP = "torch/BLAS threads; 0 = the idle physical cores (at most 8), 1 per worker with --jobs."


def threads_option(cls: type) -> Any:
    """The one `--threads` option of every training command (the thread policy: misgan.runtime)."""
    return typer.Option(default(cls, "threads"), "--threads", min=0, help=THREADS_HELP)
