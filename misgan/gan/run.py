"""Stage 2 on a feature cache: one generator per fold, trained on that fold's training rows only.

Each fold's rows reach the GAN through `GuardedRows`, which raises `LeakageError` if a test row is ever
requested; `load_fold_training` also checks that no training speaker is a test speaker. Outputs of a
run folder `runs/NAME/`: config.yaml, command.txt, meta.json (misgan.runs), log.jsonl (one record per
fold and epoch), `<fold>/generator.pt` (misgan.gan.models.save_generator) and `<fold>/metrics.json`,
and `summary.json` (the kept epoch's metrics of every fold).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misgan.config import to_dict
from misgan.errors import FoldError, StoreError
from misgan.features.store import FeatureStore, open_store, store_from_arrays
from misgan.gan.models import HEAD_KEYS, TEXT_STAT_KEYS
from misgan.gan.train import (
    GanConfig,
    GanError,
    conditioning_text,
    fit_gan,
    generate,
    load_generator,
    save_generator,
)
from misgan.runs import JsonlLog

FOLD_KEYS = ("h", *HEAD_KEYS, "train_idx", "valid_idx", "test_idx")


class LeakageError(FoldError):
    """A test row (of a test speaker) was requested while training a generator."""


class GuardedRows:
    """Row access to one fold's data that refuses any test row.

    `sources` maps a name to an array (indexed by row) or to a function rows -> array (read lazily,
    e.g. `store.read("text", rows)`). Every request is checked against `test_idx` before anything is read."""

    def __init__(
        self,
        sources: dict[str, np.ndarray | Callable[[np.ndarray], np.ndarray]],
        test_idx: np.ndarray,
        where: str,
    ) -> None:
        self._sources = sources
        self._test = np.asarray(test_idx, np.int64)
        self._where = where
        self.requested: set[int] = set()  # every row handed out (tests assert it avoids the test rows)

    def take(self, name: str, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, np.int64)
        bad = np.intersect1d(rows, self._test)
        if len(bad):
            raise LeakageError(
                f"{self._where}: {len(bad)} test row(s) requested from {name!r} (e.g. row {int(bad[0])}); "
                "the generator may only see the fold's training speakers"
            )
        self.requested.update(rows.tolist())
        src = self._sources[name]
        return np.asarray(src(rows) if callable(src) else src[rows])


@dataclass
class FoldTraining:
    """What stage 2 may see of one fold: training rows, validation rows (training speakers), the heads."""

    name: str
    h: np.ndarray
    y: np.ndarray
    t: np.ndarray | None
    valid: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None
    heads: dict[str, np.ndarray]  # W_y, b_y, W_t, b_t (+ text_mean, text_std when stage 1 stored them)
    label_names: list[str]
    train_idx: np.ndarray
    guard: GuardedRows


def load_fold_training(store: FeatureStore, fold: str, use_text: bool = True) -> FoldTraining:
    """Read one fold group and its training (and validation) rows through a `GuardedRows`."""
    where = f"{store.path}: fold {fold}"
    arrays, attrs = store.read_fold(fold)
    missing = [k for k in FOLD_KEYS if k not in arrays]
    if missing:
        raise StoreError(f"{where}: the fold group lacks {', '.join(missing)}; re-run `misgan align`")
    train, valid, test = (np.asarray(arrays[k], np.int64) for k in ("train_idx", "valid_idx", "test_idx"))
    speakers = store.meta()["speaker"].astype(str).to_numpy()
    test_speakers = set(speakers[test]) | {str(s) for s in attrs.get("test_speakers", [])}
    both = sorted(set(speakers[np.concatenate([train, valid])]) & test_speakers)
    if both or len(np.intersect1d(np.concatenate([train, valid]), test)):
        raise LeakageError(f"{where}: training and test rows share speaker(s) {', '.join(both[:5]) or '?'}")
    has_text = "text" in store.dims
    if use_text and not has_text:
        raise StoreError(f"{where}: the cache has no text features; train with --no-text")
    sources: dict[str, Any] = {"h": arrays["h"], "y": store.labels}
    if has_text:
        sources["t"] = lambda rows: store.read("text", rows)
    guard = GuardedRows(sources, test, where)

    def part(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        t = guard.take("t", rows) if (use_text and has_text) else None
        return guard.take("h", rows).astype(np.float32), guard.take("y", rows).astype(np.int64), t

    h, y, t = part(train)
    heads = {k: np.asarray(arrays[k], np.float32) for k in (*HEAD_KEYS, *TEXT_STAT_KEYS) if k in arrays}
    return FoldTraining(fold, h, y, t, part(valid) if len(valid) else None, heads, store.label_names, train, guard)


class _FoldLog:
    """Adds the fold name to each epoch record of the run's JSON-lines log."""

    def __init__(self, log: JsonlLog, fold: str) -> None:
        self.log, self.fold = log, fold

    def write(self, record: dict[str, Any]) -> None:
        self.log.write({"fold": self.fold, **record})


def train_fold(
    store: FeatureStore, fold: str, config: GanConfig, run_dir: Path, progress: bool | None = None
) -> dict[str, Any]:
    """Train, save `<run_dir>/<fold>/generator.pt` and metrics.json; return the fold's summary."""
    data = load_fold_training(store, fold, config.use_text)
    log = _FoldLog(JsonlLog(run_dir / "log.jsonl"), fold)
    result = fit_gan(
        data.h,
        data.y,
        data.t,
        data.heads,
        config,
        log=log,
        valid=data.valid,
        progress=progress,
        desc=f"gan {fold}",
    )
    out = run_dir / fold
    extra = {"cache": str(store.path), "cache_fingerprint": store.fingerprint, "n_train": len(data.h)}
    save_generator(out / "generator.pt", result, label_names=data.label_names, fold=fold, extra=extra)
    summary = {
        "fold": fold,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped": result.stopped,
        **to_dict(result.metrics),
    }
    _write_json(out / "metrics.json", summary)
    return summary


def run_gan(
    cache: str | Path,
    config: GanConfig,
    run_dir: Path,
    folds: list[str] | None = None,
    progress: bool | None = None,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train one generator per fold (all folds of the cache when `folds` is None); write summary.json."""
    store = open_store(cache)
    try:
        names = store.folds() if folds is None else folds
        if not names:
            raise StoreError(f"{store.path}: no stage-1 folds in this cache; run `misgan align` first")
        summaries = []
        for fold in names:
            summaries.append(train_fold(store, fold, config, run_dir, progress))
            if on_fold is not None:
                on_fold(summaries[-1])
    finally:
        store.close()
    _write_json(run_dir / "summary.json", summaries)
    return summaries


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
        data = load_fold_training(store, fold, generator.use_text)
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


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_dict(data), indent=2, default=float) + "\n")
    tmp.replace(path)
