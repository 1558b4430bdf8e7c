"""Validation-gated augmentation: augment only when it beats no augmentation on the validation speakers.

For one fitted augmenter, `gated_score` samples once per ratio of `config.gate_ratios` (the fit is reused), trains
the stage-3 classifier on real ∪ synthetic rows with the synthetic rows weighted by each of `config.gate_weights`,
and scores every candidate on the fold's VALIDATION rows (never the test rows). The best candidate is kept only
when its validation UAR beats the no-augmentation classifier's by more than `config.gate_margin`; otherwise
the fold falls back to no augmentation and its test score is the "none" classifier's. The decision and every
validation figure are returned for results.json. (The classifier also early-stops on the same validation rows:
the gate is a choice among a handful of candidates, the test speakers stay untouched.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from misgan.augmentation.classifier import score_classifier
from misgan.augmentation.trainer import train_classifier
from misgan.metrics import uar


def _fit(fold: Any, x_syn: np.ndarray | None, y_syn: np.ndarray | None, weight: float, config: Any, seed: int):
    view = fold.train_view()
    x, y, sw = view.h, view.y, None
    if x_syn is not None and len(x_syn):
        x = np.concatenate([x, np.asarray(x_syn, dtype=np.float32)])
        y = np.concatenate([y, np.asarray(y_syn, dtype=np.int64)])
        sw = np.concatenate([np.ones(len(view.y)), np.full(len(x_syn), weight)]).astype(np.float32)
    hv, _, yv = fold.valid()
    init = None if config.hidden or config.standardize else (fold.heads["W_y"], fold.heads["b_y"])
    clf = train_classifier(x, y, fold.n_classes, config, valid=(hv, yv), init=init, seed=seed, sample_weight=sw)
    return clf, (uar(yv, clf.predict(hv)) if len(yv) else float("nan"))


def gated_score(
    fold: Any,
    aug: Any,
    labels_for: Callable[[float], np.ndarray],
    config: Any,
    seed: int,
    none_metrics: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(test metrics of the gated classifier, the decision record) for one fold, seed and fraction."""
    _, none_valid = _fit(fold, None, None, 1.0, config.classifier, seed)
    grid: list[dict[str, Any]] = []
    best: tuple[float, Any, float, float, np.ndarray, np.ndarray] | None = None
    for ratio in config.gate_ratios:
        x_syn, y_syn = aug.sample(labels_for(ratio), seed)
        for w in config.gate_weights:
            clf, v = _fit(fold, x_syn, y_syn, w, config.classifier, seed)
            grid.append({"ratio": float(ratio), "weight": float(w), "valid_uar": v})
            if best is None or v > best[0]:
                best = (v, clf, float(ratio), float(w), x_syn, y_syn)
    decision: dict[str, Any] = {"valid_uar_none": none_valid, "grid": grid, "margin": config.gate_margin}
    if best is not None and np.isfinite(none_valid) and best[0] > none_valid + config.gate_margin:
        v, clf, ratio, w, x_syn, _ = best
        ht, _, yt = fold.test()
        metrics = score_classifier(clf, ht, yt, fold.n_classes)
        metrics.update(n_train=len(fold.train_idx), n_syn=len(x_syn))
        decision.update(augmented=True, ratio=ratio, weight=w, valid_uar=v)
        return metrics, decision
    decision.update(augmented=False, ratio=0.0, weight=0.0, valid_uar=none_valid)
    return dict(none_metrics), decision
