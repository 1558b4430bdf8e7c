"""Classification metrics: the scores of one set of predictions, and mean ± std over folds.

UAR (unweighted average recall) is the primary figure, as in the paper; WA is plain accuracy.
UAR, WA, macro-F1 and the confusion matrix are scikit-learn's (`balanced_accuracy_score`, `accuracy_score`,
`f1_score` with average="macro", `confusion_matrix`), so a class absent from a test speaker's rows does not
count towards UAR. These wrappers add the checks and the conventions misgan relies on. Numbers only: no
torch, no I/O. The paired tests are misgan.stats; the stage-3 tables misgan.augmentation.summary.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from misgan.errors import MisganError


class MetricError(MisganError):
    """Predictions and references do not match up (length, empty input)."""


def _check(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(y_pred).astype(np.int64).ravel()
    if len(t) != len(p):
        raise MetricError(f"metrics: {len(t)} reference labels but {len(p)} predictions")
    if len(t) == 0:
        raise MetricError("metrics: no rows to score")
    return t, p


def confusion(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Counts (C, C): row = true class, column = predicted class (`sklearn.metrics.confusion_matrix` over
    the labels 0..C-1, so a class absent from both sides still gets its row and column)."""
    from sklearn.metrics import confusion_matrix

    t, p = _check(y_true, y_pred)
    c = int(max(t.max(), p.max()) + 1) if n_classes is None else int(n_classes)
    if t.max() >= c or p.max() >= c or min(t.min(), p.min()) < 0:
        raise MetricError(f"metrics: labels outside 0..{c - 1}")
    return confusion_matrix(t, p, labels=np.arange(c))


def uar(y_true: Any, y_pred: Any) -> float:
    """Mean per-class recall over the classes present in y_true (`sklearn.metrics.balanced_accuracy_score`).
    A predicted class absent from y_true (a test speaker without one emotion) and a single class on both
    sides are expected here, so sklearn's warnings about them are silenced."""
    from sklearn.metrics import balanced_accuracy_score

    t, p = _check(y_true, y_pred)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        warnings.filterwarnings("ignore", message="A single label was found")
        return float(balanced_accuracy_score(t, p))


def wa(y_true: Any, y_pred: Any) -> float:
    """Weighted accuracy: the fraction of rows predicted correctly (`sklearn.metrics.accuracy_score`)."""
    from sklearn.metrics import accuracy_score

    t, p = _check(y_true, y_pred)
    return float(accuracy_score(t, p))


def macro_f1(y_true: Any, y_pred: Any) -> float:
    """Unweighted mean F1 (`sklearn.metrics.f1_score`, average="macro") over the classes seen in y_true or
    y_pred (scikit-learn's default labels: a class absent from both does not pull the mean to 0); a class
    never predicted, or never present, scores 0 without a warning (zero_division=0)."""
    from sklearn.metrics import f1_score

    t, p = _check(y_true, y_pred)
    return float(f1_score(t, p, average="macro", zero_division=0))


def classification_metrics(y_true: Any, y_pred: Any, n_classes: int) -> dict[str, Any]:
    """UAR, WA, macro-F1 and the confusion matrix (as nested lists, ready for JSON)."""
    return {
        "uar": uar(y_true, y_pred),
        "wa": wa(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "confusion": confusion(y_true, y_pred, n_classes).tolist(),
    }


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise MetricError("mean_std: no values")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
