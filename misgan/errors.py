"""Exception types. Every user-facing error names the file (and line, where there is one) and the problem."""

from __future__ import annotations

from pathlib import Path


class MisganError(Exception):
    """Base class for errors the CLI reports as a one-line message instead of a traceback."""


class CorpusError(MisganError):
    """A corpus folder or label file is missing or malformed."""


class ManifestError(MisganError):
    """A manifest table breaks the schema."""


class StoreError(MisganError):
    """A feature cache is missing, incomplete, or was built from different inputs."""


class FoldError(MisganError):
    """A fold assignment is invalid (for example a speaker in both train and test)."""


class EncoderError(MisganError):
    """An encoder cannot be found or loaded."""


class ExtractError(MisganError):
    """An utterance failed under --strict, or the run was set up wrongly."""


class ConfigError(MisganError):
    """A configuration file or value is invalid."""


class SynthesizerError(MisganError):
    """Bad input to `InfoGAN` (shapes, NaN, labels), or a call before `fit`."""


def where(path: str | Path, line: int | None = None) -> str:
    """Format a location as `file:line` (or just `file`) for error messages."""
    return f"{path}:{line}" if line is not None else str(path)
