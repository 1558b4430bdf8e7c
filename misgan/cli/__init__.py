"""The `misgan` command line: a thin typer shell over the library.

Each stage keeps its commands in its own module under misgan/cli/ and exposes `register(app)`;
heavy imports (torch, transformers) happen inside the command bodies so `misgan --help` stays fast.
"""

from __future__ import annotations

import importlib

import typer

from misgan import __version__

_COMMAND_MODULES = ("data", "extract", "align", "gan", "augment", "pipeline", "export")

app = typer.Typer(
    name="misgan",
    help="Feature-level data augmentation for speech emotion recognition (MI-regularised InfoGAN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is plain: `[manifests/<corpus>.csv]` must not be read as markup
    context_settings={"show_default": True},  # every option's default in --help
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"misgan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Feature-level data augmentation for speech emotion recognition."""


for _name in _COMMAND_MODULES:
    importlib.import_module(f"misgan.cli.{_name}").register(app)


def main() -> None:
    app()
