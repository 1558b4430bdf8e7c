"""Corpus settings (CorpusConfig): which corpus, where, which classes; the `corpus` section of a run config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class CorpusConfig:
    SECTION: ClassVar[str] = "corpus"
    NOT_IN_KEY: ClassVar[tuple[str, ...]] = ("manifest",)

    name: str = "csv"  # corpus reader (misgan.data.corpora.CORPORA): iemocap, msp-improv, msp-podcast, csv, ...
    root: str = ""  # corpus folder (for `csv`: the folder holding manifest.csv, or the CSV file itself)
    classes: str = "4"  # "4" (neutral, happy, sad, angry) or "all"
    manifest: str = ""  # where the manifest CSV is written; "" = manifests/<run.name>.csv
    options: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments of the reader
