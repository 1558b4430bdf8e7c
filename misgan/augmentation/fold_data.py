"""One fold of stage 3 and its hygiene: `FoldData` (features, heads, row partition) and `TrainView`.

`FoldData.train_view()` hands out copies of the training (and validation) rows only; augmenters and the GAN
receive nothing else, every row handed out is remembered in `requested`, a test row asked for fitting raises
FoldError (leakage), and test rows are read once, after training (`FoldData.test()`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from misgan.errors import FoldError, MisganError


class AugmentError(MisganError):
    """Stage-3 inputs are inconsistent (shapes, labels, empty folds)."""


@dataclass(frozen=True)
class TrainView:
    """What an augmenter or the GAN may see of a fold: copies of the training rows and the heads."""

    h: np.ndarray
    t: np.ndarray
    y: np.ndarray
    heads: dict[str, np.ndarray]
    n_classes: int
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (h, y, t) of the validation speakers


@dataclass
class FoldData:
    """One fold: the aligned features of every row, the stage-1 heads and the row partition."""

    name: str
    h: np.ndarray  # (N, Dh) aligned audio features (stage 1 output)
    t: np.ndarray  # (N, Dt) text features
    y: np.ndarray  # (N,)
    train_idx: np.ndarray
    valid_idx: np.ndarray
    test_idx: np.ndarray
    heads: dict[str, np.ndarray]  # W_y, b_y, W_t, b_t
    n_classes: int
    attrs: dict[str, Any] = field(default_factory=dict)
    requested: set[int] = field(default_factory=set)  # rows handed out for fitting (never a test row)

    def __post_init__(self) -> None:
        parts = {"train": self.train_idx, "valid": self.valid_idx, "test": self.test_idx}
        for a, b in (("train", "test"), ("valid", "test"), ("train", "valid")):
            if len(np.intersect1d(parts[a], parts[b])):
                raise FoldError(f"fold {self.name}: rows shared between {a} and {b}")
        if len(self.train_idx) == 0 or len(self.test_idx) == 0:
            raise FoldError(f"fold {self.name}: empty train or test rows")
        for key in ("W_y", "b_y", "W_t", "b_t"):
            if key not in self.heads:
                raise AugmentError(f"fold {self.name}: stage-1 head {key} missing")

    def _take(self, rows: np.ndarray) -> np.ndarray:
        """Row indices handed out for fitting, checked against the test rows and remembered."""
        bad = np.intersect1d(rows, self.test_idx)
        if len(bad):
            raise FoldError(f"fold {self.name}: test row(s) such as {int(bad[0])} requested for fitting (leakage)")
        self.requested.update(np.asarray(rows).tolist())
        return rows

    def train_view(self) -> TrainView:
        r, v = self._take(self.train_idx), self._take(self.valid_idx)
        heads = {k: v.copy() for k, v in self.heads.items()}
        valid = (self.h[v].copy(), self.y[v].copy(), self.t[v].copy())
        return TrainView(self.h[r].copy(), self.t[r].copy(), self.y[r].copy(), heads, self.n_classes, valid)

    def valid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = self._take(self.valid_idx)
        return self.h[r], self.t[r], self.y[r]

    def test(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = self.test_idx
        return self.h[r], self.t[r], self.y[r]

    def stage1_c(self) -> float | None:
        """The C stage 1 chose for this fold by inner CV over the training speakers (None: not recorded)."""
        return (self.attrs.get("selection") or {}).get("c")

    def head_init(self, config: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """The stage-1 head (W_y, b_y) as a plain linear head's start (None for MLP or standardised heads)."""
        return None if config.hidden or config.standardize else (self.heads["W_y"], self.heads["b_y"])

    def with_features(self, name: str, h: np.ndarray, heads: dict[str, np.ndarray]) -> FoldData:
        """The same partition over other features/heads (the α=β=0 stage-1 variant)."""
        return dataclasses.replace(self, name=name, h=h, heads=heads, requested=set())


def _check_view(view: TrainView, labels: np.ndarray) -> None:
    missing = sorted(set(np.unique(labels).tolist()) - set(np.unique(view.y).tolist()))
    if missing:
        raise AugmentError(f"cannot synthesise class(es) {missing}: no training rows of them in this fold")
