"""Stage 3's linear head fitted full batch (ClassifierConfig.optimizer "lbfgs"): misgan.alignment.fullbatch's
L2-penalised class-balanced softmax regression, with the model selection `train_classifier` documents."""

from __future__ import annotations

from typing import Any

import numpy as np

from misgan.alignment.fullbatch import fit_softmax, select_c, softmax_scorer


def fit_linear_head(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    config: Any,
    valid: tuple[np.ndarray, np.ndarray] | None,
    init: tuple[np.ndarray, np.ndarray] | None,
    sample_weight: np.ndarray | None,
    c: float | None,
    groups: np.ndarray | None,
    standardisation: tuple[np.ndarray | None, np.ndarray | None],
) -> Any:
    """A TrainedClassifier (torch Linear) from (x, y) already standardised as `standardisation` says."""
    import torch

    from misgan.augmentation.trainer import TrainedClassifier

    kw: dict[str, Any] = {"class_weights": config.class_weights, "max_iter": config.lbfgs_iter}
    if c is None and len(config.c_grid) == 1:
        c = float(config.c_grid[0])
    if c is None and groups is not None and len({g for g in np.asarray(groups).astype(str) if g}) >= 2:
        score = softmax_scorer(x, y, n_classes, sample_weight=sample_weight, **kw)
        c, _ = select_c(score, np.asarray(groups), config.c_grid, config.inner_folds)
    elif c is None and valid is not None and len(valid[1]):
        mean, scale = standardisation
        xv = np.asarray(valid[0], dtype=np.float32)
        xv = xv if mean is None or scale is None else (xv - mean) / scale
        z = np.concatenate([x, xv])
        zy = np.concatenate([y, np.asarray(valid[1], dtype=np.int64)])
        sw = None if sample_weight is None else np.concatenate([sample_weight, np.ones(len(xv))])
        split = [(np.arange(len(x)), np.arange(len(x), len(z)))]
        score = softmax_scorer(z, zy, n_classes, sample_weight=sw, **kw)
        scores = {float(cc): score(float(cc), *split[0]) for cc in sorted(config.c_grid)}
        c = max(scores, key=lambda k: (round(scores[k], 12), -k))
    elif c is None:
        c = float(config.c_default)
    w, b = fit_softmax(x, y, n_classes, float(c), sample_weight=sample_weight, init=init, **kw)
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], n_classes))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(w).float())
        model[0].bias.copy_(torch.from_numpy(b).float())
    mean, scale = standardisation
    return TrainedClassifier(model, mean, scale, 0, 0, c=float(c))
