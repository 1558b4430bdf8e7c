"""Stage 3: score classifiers trained on real ∪ synthetic features on the test speakers: unimodal
(`evaluate_unimodal`) and multimodal (`evaluate_multimodal`, Tables IV-V). Training one classifier is
misgan.augmentation.trainer; `evaluate_unimodal` fits the linear head on every row of the training speakers
(train + valid) plus the synthetic rows, so stage-3 "none" solves the stage-1 head's own problem and reaches
the logistic-regression reference.

Fold hygiene (misgan.augmentation.fold_data): `FoldData.train_view()` hands out copies of the training rows
only; augmenters and the GAN receive nothing else, and test rows are read once, after training.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from misgan.augmentation.config import ClassifierConfig
from misgan.augmentation.fold_data import AugmentError, FoldData, TrainView
from misgan.augmentation.trainer import TrainedClassifier, train_classifier
from misgan.metrics import classification_metrics

__all__ = [
    "AugmentError",
    "ClassifierConfig",
    "FoldData",
    "TrainView",
    "evaluate_multimodal",
    "evaluate_unimodal",
    "project_text",
    "score_classifier",
]


# ---------------------------------------------------------------- evaluation


def score_classifier(
    clf: TrainedClassifier, x_test: np.ndarray, y_test: np.ndarray, n_classes: int
) -> dict[str, Any]:
    out = classification_metrics(y_test, clf.predict(x_test), n_classes)
    out["best_epoch"] = clf.best_epoch
    return out


def evaluate_unimodal(
    fold: FoldData,
    h_syn: np.ndarray | None,
    y_syn: np.ndarray | None,
    config: ClassifierConfig,
    *,
    seed: int = 0,
    weight: float = 1.0,
) -> dict[str, Any]:
    """Fine-tune the stage-1 head on h ∪ ĥ (ĥ may be None/empty: the no-augmentation run), the synthetic rows'
    loss terms scaled by `weight`; score on test."""
    view = fold.train_view()
    x, y = view.h, view.y
    n_real, n_syn = len(view.y), 0 if h_syn is None else len(h_syn)
    if h_syn is not None and len(h_syn):
        h_syn = np.asarray(h_syn, dtype=np.float32)
        if h_syn.shape[1] != x.shape[1]:
            raise AugmentError(
                f"fold {fold.name}: synthetic features have {h_syn.shape[1]} dims, real {x.shape[1]}"
            )
        x = np.concatenate([x, h_syn])
        y = np.concatenate([y, np.asarray(y_syn, dtype=np.int64)])
    hv, _, yv = fold.valid()
    init = fold.head_init(config)
    if config.optimizer == "lbfgs" and not config.hidden:
        # full batch: every row of the training speakers (+ synthetic), C as stage 1 chose it for this fold by
        # inner grouped CV over the same speakers (no C recorded: chosen on the validation rows instead)
        c = fold.stage1_c()
        groups = np.array(["train"] * n_real + [""] * (len(y) - n_real) + ["valid"] * len(yv))
        x_all, y_all = np.concatenate([x, hv]), np.concatenate([y, yv])
        sw = _weights(n_real, n_syn, len(yv), weight)
        clf = train_classifier(
            x_all, y_all, fold.n_classes, config, init=init, seed=seed, c=c, groups=groups, sample_weight=sw
        )
    else:
        sw = _weights(n_real, n_syn, 0, weight)
        valid = (hv, yv)
        clf = train_classifier(x, y, fold.n_classes, config, valid=valid, init=init, seed=seed, sample_weight=sw)
    ht, _, yt = fold.test()
    out = score_classifier(clf, ht, yt, fold.n_classes)
    out["n_train"] = len(view.y)
    out["n_syn"] = n_syn
    return out


def _weights(n_real: int, n_syn: int, n_valid: int, weight: float) -> np.ndarray | None:
    """Per-row loss weights in the order real, synthetic, validation (None when every weight is 1)."""
    if weight == 1.0 or not n_syn:
        return None
    return np.concatenate([np.ones(n_real), np.full(n_syn, weight), np.ones(n_valid)]).astype(np.float32)


def project_text(h: np.ndarray, heads: dict[str, np.ndarray]) -> np.ndarray:
    """t′ = W_t·h + b_t: the text embedding the stage-1 head predicts from audio features."""
    return (np.asarray(h, dtype=np.float32) @ heads["W_t"].T + heads["b_t"]).astype(np.float32)


def evaluate_multimodal(
    fold: FoldData,
    h_syn: np.ndarray | None,
    y_syn: np.ndarray | None,
    t_syn: np.ndarray | None,
    config: ClassifierConfig,
    *,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """The three columns of Tables IV-V (audio, text, audio+text) for one fold.

    Augmented training sets (synthetic rows given): audio h ∪ ĥ; text t ∪ t′(ĥ); audio+text the four
    combinations (h,t), (h,t′(h)), (ĥ,t_cond), (ĥ,t′(ĥ)). Without synthetic rows: h, t, (h,t).
    `t_syn` is the text embedding each ĥ was conditioned on. Tests use real (h, t) pairs.
    """
    view = fold.train_view()
    hv, tv, yv = fold.valid()
    ht, tt, yt = fold.test()
    C = fold.n_classes
    aug = h_syn is not None and len(h_syn) > 0
    std = dataclasses.replace(config, standardize=True)
    out: dict[str, dict[str, Any]] = {}

    xa, ya = view.h, view.y
    xt_, yt_ = view.t, view.y
    if aug:
        assert y_syn is not None and t_syn is not None
        ys = np.asarray(y_syn, dtype=np.int64)
        tp_syn = project_text(h_syn, fold.heads)
        xa, ya = np.concatenate([view.h, h_syn]), np.concatenate([view.y, ys])
        xt_, yt_ = np.concatenate([view.t, tp_syn]), np.concatenate([view.y, ys])
        pairs = [
            (view.h, view.t, view.y),
            (view.h, project_text(view.h, fold.heads), view.y),
            (h_syn, t_syn, ys),
            (h_syn, tp_syn, ys),
        ]
    else:
        pairs = [(view.h, view.t, view.y)]
    xm = np.concatenate([np.concatenate([a, b], axis=1) for a, b, _ in pairs])
    ym = np.concatenate([c for _, _, c in pairs])

    clf = train_classifier(xa, ya, C, std, valid=(hv, yv), seed=seed)
    out["audio"] = score_classifier(clf, ht, yt, C)
    clf = train_classifier(xt_, yt_, C, std, valid=(tv, yv), seed=seed)
    out["text"] = score_classifier(clf, tt, yt, C)
    clf = train_classifier(xm, ym, C, std, valid=(np.concatenate([hv, tv], axis=1), yv), seed=seed)
    out["audio_text"] = score_classifier(clf, np.concatenate([ht, tt], axis=1), yt, C)
    return out
