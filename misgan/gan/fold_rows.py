"""What stage 2 may see of one fold of a stage-1 run: its training and validation rows, read only through
`GuardedRows` (a test row requested raises `LeakageError`), and the frozen heads (`load_fold_training`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from misgan.alignment.run import load_fold
from misgan.errors import FoldError, StoreError
from misgan.features.store import FeatureStore
from misgan.gan.models import HEAD_KEYS, TEXT_STAT_KEYS
from misgan.runs import StageRun


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


def load_fold_training(store: FeatureStore, align_run: StageRun, fold: str, use_text: bool = True) -> FoldTraining:
    """Read one stage-1 fold and its training (and validation) rows through a `GuardedRows`."""
    where = f"{align_run.path}: fold {fold}"
    arrays, attrs = load_fold(align_run, fold)
    train, valid, test = (np.asarray(arrays[k], np.int64) for k in ("train_idx", "valid_idx", "test_idx"))
    if len(arrays["h"]) != store.n_rows:
        raise StoreError(f"{where}: h has {len(arrays['h'])} rows, {store.path} has {store.n_rows}")
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
    if "W_t" not in heads:  # an audio-only stage 1 has no text head: an empty one (G(z, c) never uses it)
        heads |= {"W_t": np.zeros((0, heads["W_y"].shape[1]), np.float32), "b_t": np.zeros(0, np.float32)}
    return FoldTraining(fold, h, y, t, part(valid) if len(valid) else None, heads, store.label_names, train, guard)
