"""The linear reference every stage is measured against: a standardised, class-balanced logistic regression.

`lr_reference(x, y, fold)` fits scikit-learn's `StandardScaler` + `LogisticRegression(class_weight="balanced")`
on the fold's training speakers (`fold.train_all`: train + valid) and scores `fold.test` with misgan.metrics.
With `c=None` the inverse regularisation C is chosen from `C_GRID` by inner grouped cross-validation over the
training speakers only (sklearn `GroupKFold`, mean UAR; ties go to the smaller C), then refitted on all of them,
so the test speaker never influences the choice. `lr_transfer` is the cross-corpus form: fitted on every row of
one corpus (C chosen the same way), scored per unit (speaker) of another. Numbers only: no torch, no I/O.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from misgan.errors import MisganError

C_GRID: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0)
INNER_SPLITS = 4
MAX_ITER = 2000


class ReferenceFitError(MisganError):
    """The reference cannot be computed (no training rows, one class only, bad groups)."""


class _Features:
    """The reference's input transform, fitted on training rows: z-scores (sklearn's StandardScaler), and for
    wide data (more columns than rows) a rotation onto the training rows' span. The L2-penalised optimum
    lies in that span and the penalty is rotation-invariant, so the classifier is the same, at a fraction
    of the cost (ComParE: 6373 columns, ~650 rows); the basis comes from the rows' Gram matrix."""

    def __init__(self, x: np.ndarray) -> None:
        from sklearn.preprocessing import StandardScaler

        self.scaler = StandardScaler().fit(x)
        self.basis: np.ndarray | None = None
        if x.shape[1] > x.shape[0]:
            xs = self.scaler.transform(x)
            vals, vecs = np.linalg.eigh(xs @ xs.T)
            keep = vals > vals.max() * 1e-10
            # V = Xs' U S^-1: orthonormal columns spanning the training rows
            self.basis = xs.T @ (vecs[:, keep] / np.sqrt(vals[keep]))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = self.scaler.transform(x)
        return z if self.basis is None else z @ self.basis


def _fit_lr(c: float, z: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        # Tiny C on wide features can stop at max_iter a hair from the optimum; the score is unaffected.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, class_weight="balanced", max_iter=MAX_ITER, tol=1e-4).fit(z, y)


def fit_predict(c: float, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Predictions on `x_test` of the reference fitted on (x_train, y_train) with this C."""
    prep = _Features(x_train)
    return _fit_lr(c, prep(x_train), y_train).predict(prep(x_test))


def _grid_scores(x: np.ndarray, y: np.ndarray, splits: Sequence[tuple], grid: Sequence[float]) -> dict:
    """Mean UAR over `splits` for every C of `grid` (one transform per split, shared by the grid)."""
    from misgan.metrics import uar

    per: dict[float, list[float]] = {float(c): [] for c in grid}
    for tr, te in splits:
        prep = _Features(x[tr])
        ztr, zte = prep(x[tr]), prep(x[te])
        for c in per:
            per[c].append(uar(y[te], _fit_lr(c, ztr, y[tr]).predict(zte)))
    return {c: float(np.mean(v)) for c, v in sorted(per.items())}


def best_c(scores: dict[float, float]) -> float:
    """The C with the best score; ties go to the smaller C (stronger regularisation)."""
    return max(scores, key=lambda c: (round(scores[c], 12), -c))


def inner_splits(groups: np.ndarray, n_splits: int = INNER_SPLITS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped inner folds (positions into `groups`): GroupKFold with min(n_splits, #groups) splits."""
    from sklearn.model_selection import GroupKFold

    g = np.asarray(groups).astype(str)
    k = min(n_splits, len(set(g.tolist())))
    if k < 2:
        raise ReferenceFitError("reference: inner cross-validation needs at least two training speakers")
    return list(GroupKFold(n_splits=k).split(np.zeros(len(g)), groups=g))


def select_c(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, grid: Sequence[float] = C_GRID
) -> tuple[float, dict[float, float]]:
    """C from `grid` with the best mean inner-fold UAR over grouped folds of (x, y, groups); ties: smaller C."""
    scores = _grid_scores(x, y, inner_splits(groups), grid)
    return best_c(scores), scores


def lr_reference(
    x: np.ndarray,
    y: np.ndarray,
    fold: Any,
    *,
    c: float | None = None,
    groups: np.ndarray | None = None,
    grid: Sequence[float] = C_GRID,
) -> dict[str, Any]:
    """UAR / WA / macro-F1 / confusion on `fold.test` of the reference fitted on `fold.train_all`.

    `c=None`: C chosen by inner grouped CV over the training speakers. `groups` (speaker per row of x) defines
    the inner folds; without it the fold's own split is the one inner fold (fit on fold.train, score on
    fold.valid, which are whole speakers). Returns the metrics plus `c` (the C used) and `inner` (C -> mean
    inner UAR; empty when c was given)."""
    from misgan.metrics import classification_metrics

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(np.int64)
    tr = np.asarray(fold.train_all, dtype=np.int64)
    te = np.asarray(fold.test, dtype=np.int64)
    if len(tr) == 0 or len(te) == 0:
        raise ReferenceFitError(f"reference: fold {fold.name} has no training or no test rows")
    if len(set(y[tr].tolist())) < 2:
        raise ReferenceFitError(f"reference: fold {fold.name} has a single class in its training rows")
    inner: dict[float, float] = {}
    if c is None:
        if groups is not None:
            c, inner = select_c(x[tr], y[tr], np.asarray(groups)[tr], grid)
        elif len(fold.valid):
            c, inner = _select_on_valid(x, y, fold, grid)
        else:
            raise ReferenceFitError(f"reference: fold {fold.name}: choosing C needs speaker groups or valid rows")
    n_classes = int(y.max()) + 1
    out = classification_metrics(y[te], fit_predict(float(c), x[tr], y[tr], x[te]), n_classes)
    out.update(c=float(c), inner=inner, fold=fold.name)
    return out


def _select_on_valid(x: np.ndarray, y: np.ndarray, fold: Any, grid: Sequence[float]) -> tuple[float, dict]:
    scores = _grid_scores(x, y, [(np.asarray(fold.train), np.asarray(fold.valid))], grid)
    return best_c(scores), scores


def lr_reference_folds(
    x: np.ndarray,
    y: np.ndarray,
    folds: Sequence[Any],
    *,
    c: float | None = None,
    groups: np.ndarray | None = None,
    grid: Sequence[float] = C_GRID,
) -> list[dict[str, Any]]:
    """`lr_reference` for every fold, in order."""
    return [lr_reference(x, y, f, c=c, groups=groups, grid=grid) for f in folds]


def lr_transfer(
    x_train: np.ndarray,
    y_train: np.ndarray,
    groups: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    units: Mapping[str, np.ndarray],
    n_classes: int,
    *,
    c: float | None = None,
    grid: Sequence[float] = C_GRID,
) -> list[dict[str, Any]]:
    """The cross-corpus reference: fitted once on every (x_train, y_train) row, scored on each unit of the test
    corpus (`units`: name -> row positions of x_test, e.g. one per test speaker).

    `c=None`: C chosen exactly as `lr_reference` does, by `select_c` over grouped inner folds of the training
    speakers (`groups`), so the test corpus never influences it. One record per unit, in `units` order: the
    metrics plus `c`, `inner` (C -> mean inner UAR; empty when c was given) and `fold` (the unit's name)."""
    from misgan.metrics import classification_metrics

    x_train = np.asarray(x_train, dtype=np.float64)
    y_train = np.asarray(y_train).astype(np.int64)
    y_test = np.asarray(y_test).astype(np.int64)
    if len(y_train) == 0 or len(y_test) == 0:
        raise ReferenceFitError("reference: no training or no test rows")
    if len(set(y_train.tolist())) < 2:
        raise ReferenceFitError("reference: a single class in the training rows")
    inner: dict[float, float] = {}
    if c is None:
        c, inner = select_c(x_train, y_train, np.asarray(groups), grid)
    pred = fit_predict(float(c), x_train, y_train, np.asarray(x_test, dtype=np.float64))
    out = []
    for name, rows in units.items():
        rows = np.asarray(rows, dtype=np.int64)
        m = classification_metrics(y_test[rows], pred[rows], n_classes)
        out.append({**m, "c": float(c), "inner": dict(inner), "fold": name})
    return out


def summarise_reference(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± sample std of uar / wa / macro_f1 over per-fold reference records."""
    from misgan.metrics import mean_std

    out: dict[str, Any] = {"n_folds": len(records)}
    for m in ("uar", "wa", "macro_f1"):
        mu, sd = mean_std([r[m] for r in records])
        out[m] = {"mean": mu, "std": sd}
    return out
