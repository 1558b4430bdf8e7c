"""`misgan gan --sample`: generated rows of every class from one fold's generator, written into a new
feature store (ĥ in `audio`, the conditioning text in `text`, attrs marking it synthetic).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misgan.features.store import FeatureStore, open_store, store_from_arrays
from misgan.gan.checkpoint import load_generator
from misgan.gan.fold_rows import load_fold_training
from misgan.gan.models import GanError
from misgan.gan.sampling import conditioning_text, generate
from misgan.runs import StageRun


def sample_to_store(
    cache: str | Path,
    generator_path: str | Path,
    n_per_class: int,
    out: str | Path,
    seed: int = 0,
    text_mode: str = "class",
    overwrite: bool = False,
) -> FeatureStore:
    """Write `n_per_class` generated rows of every class into a new store at `out`: ĥ in `audio`, the raw
    conditioning text in `text` (when the generator uses text); attrs mark it `synthetic`."""
    if n_per_class < 1:
        raise GanError(f"--sample must be >= 1 (got {n_per_class})")
    generator, ckpt = load_generator(generator_path)
    fold, names = ckpt.get("fold"), ckpt.get("label_names")
    store = open_store(cache)
    try:
        if fold is None or names is None:
            raise GanError(f"{generator_path}: the checkpoint names no fold or labels; cannot sample from it")
        if list(names) != store.label_names:
            raise GanError(f"{generator_path}: its labels {names} differ from {store.path}'s {store.label_names}")
        data = load_fold_training(store, _align_run_of(ckpt, generator_path), fold, generator.use_text)
    finally:
        store.close()
    labels = np.repeat(np.arange(len(names)), n_per_class)
    rng = np.random.default_rng(seed)
    mode = text_mode if generator.use_text else "none"
    t_cond = conditioning_text(data.t, data.y, labels, mode, rng)
    h_syn = generate(generator, labels, t_cond, seed)
    meta = pd.DataFrame(
        {
            "utt_id": [f"synthetic-{fold}-{names[k]}-{i:06d}" for i, k in enumerate(labels)],
            "label": [names[k] for k in labels],
            "speaker": "synthetic",
            "session": "",
            "gender": "",
            "split": "synthetic",
        }
    )
    attrs = {
        "synthetic": True,
        "space": "stage-1 aligned features h (the audio array holds ĥ)",
        "source_cache": str(cache),
        "fold": fold,
        "generator": str(generator_path),
        "seed": seed,
        "text_mode": mode,
        "n_per_class": n_per_class,
    }
    return store_from_arrays(out, meta, h_syn, t_cond, list(names), attrs, overwrite=overwrite)


def _align_run_of(ckpt: dict[str, Any], generator: str | Path) -> StageRun:
    """The align run a generator was trained on: named in its checkpoint, else its gan run's upstream key
    (found among the runs of the checkpoint's cache)."""
    from misgan.run_lookup import find_run

    path = ckpt.get("align_run")
    if path and Path(path, "run.json").is_file():
        return StageRun.open(path)
    key, cache = ckpt.get("align_key"), ckpt.get("cache")
    found = find_run(cache, "align", key) if (key and cache) else None
    if found is None:
        raise GanError(f"{generator}: its stage-1 run ({path or '?'}) is gone; cannot find the fold's rows")
    return found
