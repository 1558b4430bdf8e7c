"""misgan: mutual-information-regularised feature-level augmentation for speech emotion recognition.

Importing this package does no I/O and loads no heavy dependency: the public names below are
resolved lazily on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC = {
    "Manifest": "misgan.data.manifest",
    "read_manifest": "misgan.data.manifest",
    "write_manifest": "misgan.data.manifest",
    "load_corpus": "misgan.data.corpora",
    "make_folds": "misgan.data.folds",
    "Fold": "misgan.data.folds",
    "FeatureStore": "misgan.features.store",
    "open_store": "misgan.features.store",
    "extract": "misgan.features.extract",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'misgan' has no attribute {name!r}")
