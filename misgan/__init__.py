"""misgan: mutual-information-regularised feature-level augmentation for speech emotion recognition.

The public API (docs/api.md): the stage functions `extract`, `align`, `train_gan`, `augment` (each
returns a `RunResult`), the synthesizer `InfoGAN` for any feature matrix, and the data helpers below.

Importing this package does no I/O and loads no heavy dependency (torch, pandas, zarr): each public
name is imported from its module on first access and then kept here. No submodule of `misgan` itself
is named like a public function, so importing a submodule never replaces one (tests/test_api.py).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.4"

# public name -> module that defines it
_PUBLIC = {
    # stage functions: (cache, config=None, run_dir=None, ...) -> RunResult
    "extract": "misgan.features.extract",
    "align": "misgan.alignment.run",
    "train_gan": "misgan.gan.run",
    "augment": "misgan.augmentation.evaluate",
    "RunResult": "misgan.runs",
    # the synthesizer for any feature matrix
    "InfoGAN": "misgan.gan.synthesizer",
    "Samples": "misgan.gan.synthesizer",
    # settings
    "load_config": "misgan.config",
    "AlignConfig": "misgan.alignment.config",
    "GanConfig": "misgan.gan.config",
    "AugmentConfig": "misgan.augmentation.config",
    # data, folds, the feature cache
    "load_corpus": "misgan.data.corpora",
    "Manifest": "misgan.data.manifest",
    "read_manifest": "misgan.data.manifest",
    "write_manifest": "misgan.data.manifest",
    "make_folds": "misgan.data.folds",
    "Fold": "misgan.data.folds",
    "open_store": "misgan.features.store",
    "FeatureStore": "misgan.features.store",
    "MisganError": "misgan.errors",
    # deployment: a bundle from `misgan export`
    "load_model": "misgan.export.predict",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'misgan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
