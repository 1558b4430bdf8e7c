"""Helpers shared by the CLI modules: turning library errors into clean exits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

from misgan.errors import MisganError


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a MisganError as one clear line on stderr and exit 2, without a traceback."""
    try:
        yield
    except MisganError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
