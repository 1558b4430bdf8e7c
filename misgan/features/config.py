"""Extraction settings (ExtractConfig): encoders and cache format; the `extract` section of a run config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from misgan.errors import ConfigError


@dataclass(frozen=True)
class ExtractConfig:
    SECTION: ClassVar[str] = "extract"
    # the features do not depend on where or in what batches they were computed, nor where they are written
    NOT_IN_KEY: ClassVar[tuple[str, ...]] = ("device", "batch_size", "output")

    audio_encoder: str = "egemaps"  # registry name, HF id or local folder (`misgan encoders`)
    text_encoder: str = "minilm"  # "" = no text features
    format: str = "zarr"  # "zarr" or "h5"
    device: str = "cpu"  # not part of the fingerprint: it does not change the features
    batch_size: int = 16  # not part of the fingerprint either
    output: str = ""  # cache path; "" = cache/<run.name>.<format>

    def __post_init__(self) -> None:
        if self.format not in ("zarr", "h5"):
            raise ConfigError(f"extract: format must be 'zarr' or 'h5' (got {self.format!r})")
        if self.batch_size < 1:
            raise ConfigError(f"extract: batch_size must be >= 1 (got {self.batch_size})")
