"""Stage 3: train one classifier on real ∪ synthetic features (`train_classifier` -> `TrainedClassifier`).

Only the classification layers are trained here (paper §3.3). The linear head (unimodal SER, `hidden=()`) is
fitted full batch by default (`optimizer="lbfgs"`, augmentation/fullhead.py): the L2-penalised class-balanced
softmax regression of misgan.alignment.fullbatch, its C given by the caller (stage 1's inner-CV choice for the
fold), or chosen by inner grouped CV over `groups`, or on the validation rows. `evaluate_unimodal` fits it on
every row of the training speakers (train + valid) plus the synthetic rows, so stage-3 "none" solves the
stage-1 head's own problem and reaches the logistic-regression reference. `optimizer="adam"` (and every MLP)
keeps the mini-batch Adam loop with early stopping on the validation rows, fine-tuned from the stage-1 W_y.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from misgan.alignment.losses import class_weights_from_labels
from misgan.augmentation.config import ClassifierConfig
from misgan.augmentation.fold_data import AugmentError
from misgan.callbacks import BestState, EarlyStopping
from misgan.training import fit


@dataclass
class TrainedClassifier:
    model: Any  # torch.nn.Module
    mean: np.ndarray | None
    scale: np.ndarray | None
    best_epoch: int
    epochs: int
    c: float | None = None  # full batch: the inverse L2 strength used

    def logits(self, x: np.ndarray) -> np.ndarray:
        import torch

        x = np.asarray(x, dtype=np.float32)
        if self.mean is not None and self.scale is not None:
            x = (x - self.mean) / self.scale
        self.model.eval()
        with torch.no_grad():
            return self.model(torch.from_numpy(x)).numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.logits(x).argmax(axis=1).astype(np.int64)


def _build(d_in: int, n_classes: int, config: ClassifierConfig) -> Any:
    import torch.nn as nn

    layers: list[nn.Module] = []
    width = d_in
    for h in config.hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if config.dropout > 0:
            layers.append(nn.Dropout(config.dropout))
        width = h
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def train_classifier(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    config: ClassifierConfig,
    *,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
    sample_weight: np.ndarray | None = None,
    c: float | None = None,
    groups: np.ndarray | None = None,
) -> TrainedClassifier:
    """Fit the head on (x, y); the `valid` rows are never trained on.

    Linear head with `optimizer="lbfgs"` (default): full batch at inverse L2 strength `c`; with `c=None`, C is
    chosen from `config.c_grid` by inner grouped CV over `groups` (speaker per row of x; "" = always on the
    training side, e.g. generated rows), else on the `valid` rows, else `config.c_default`. Otherwise (Adam,
    MLPs): keep the weights of the best validation loss, or train `max_epochs` without validation rows.
    `init` = (W (C, D), b (C,)) starts a linear head from given weights (the stage-1 head): fine-tuning with
    Adam, a warm start for L-BFGS (whose optimum is unique). `sample_weight` scales each row's loss term.
    """
    import torch

    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
        raise AugmentError(f"classifier: features {x.shape} and labels {y.shape} do not match")
    if y.min() < 0 or y.max() >= n_classes:
        raise AugmentError(f"classifier: labels outside 0..{n_classes - 1}")
    mean = scale = None
    if config.standardize:
        mean = x.mean(axis=0)
        scale = x.std(axis=0) + 1e-6
        x = (x - mean) / scale
    if config.optimizer == "lbfgs" and not config.hidden:
        from misgan.augmentation.fullhead import fit_linear_head

        if init is not None and (init[0].shape != (n_classes, x.shape[1]) or init[1].shape != (n_classes,)):
            raise AugmentError(f"classifier: init head {init[0].shape} does not fit {x.shape[1]} inputs")
        if init is not None and config.standardize:
            raise AugmentError("classifier: init weights apply to a plain linear head only")
        return fit_linear_head(x, y, n_classes, config, valid, init, sample_weight, c, groups, (mean, scale))
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = _build(x.shape[1], n_classes, config)
    if init is not None:
        if config.hidden or config.standardize:
            raise AugmentError("classifier: init weights apply to a plain linear head only")
        w, b = init
        if w.shape != (n_classes, x.shape[1]) or b.shape != (n_classes,):
            raise AugmentError(f"classifier: init head {w.shape}/{b.shape} does not fit {x.shape[1]} inputs")
        with torch.no_grad():
            model[0].weight.copy_(torch.as_tensor(w, dtype=torch.float32))
            model[0].bias.copy_(torch.as_tensor(b, dtype=torch.float32))
    weights = class_weights_from_labels(y, n_classes) if config.class_weights else np.ones(n_classes)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.as_tensor(weights, dtype=torch.float32))
    if sample_weight is not None:  # per-row weights (stage 3's gated synthetic rows): weighted class-weighted CE
        sw = torch.as_tensor(np.asarray(sample_weight, dtype=np.float32))
        cw = torch.as_tensor(weights, dtype=torch.float32)
        per_row = torch.nn.CrossEntropyLoss(weight=cw, reduction="none")

        def loss_fn(logits: Any, target: Any, _idx: Any = None) -> Any:
            w = sw[_idx] if _idx is not None else sw
            return (per_row(logits, target) * w).sum() / (cw[target] * w).sum()

    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    bs = max(1, config.batch_size)
    val_loss = _validation_loss(model, valid, mean, scale, n_classes, config.class_weights)
    min_epochs = min(config.min_epochs, config.max_epochs)

    def step(epoch: int) -> dict[str, Any]:
        model.train()
        order = torch.randperm(len(yt), generator=gen)
        for start in range(0, len(yt), bs):
            idx = order[start : start + bs]
            opt.zero_grad()
            out = model(xt[idx])
            loss = loss_fn(out, yt[idx], idx) if sample_weight is not None else loss_fn(out, yt[idx])
            loss.backward()
            opt.step()
        if val_loss is None or epoch < min_epochs:  # validation only on the epochs early stopping judges
            return {"epoch": epoch}
        return {"epoch": epoch, "val_loss": val_loss()}

    if val_loss is None:
        epochs = fit(step, epochs=config.max_epochs).epochs
        return TrainedClassifier(model, mean, scale, epochs, epochs)
    # the starting weights compete as epoch 0 when every epoch is judged
    initial = val_loss() if min_epochs <= 0 else np.inf
    best = BestState(model, "val_loss", "min", min_delta=1e-6, initial=initial, min_epochs=min_epochs)
    epochs = fit(
        step, epochs=config.max_epochs, callbacks=[best, EarlyStopping(best, patience=config.patience)]
    ).epochs
    return TrainedClassifier(model, mean, scale, best.best_epoch, epochs)


def _validation_loss(
    model: Any,
    valid: tuple[np.ndarray, np.ndarray] | None,
    mean: np.ndarray | None,
    scale: np.ndarray | None,
    n_classes: int,
    class_weights: bool,
) -> Callable[[], float] | None:
    """The validation CE of `model` as a function (None without validation rows). The class weights have the
    training weights' shape but the validation rows' own balance."""
    import torch

    if valid is None or not len(valid[1]):
        return None
    xv_np = np.asarray(valid[0], dtype=np.float32)
    if mean is not None and scale is not None:
        xv_np = (xv_np - mean) / scale
    yv_np = np.asarray(valid[1], dtype=np.int64)
    xv, yv = torch.from_numpy(xv_np), torch.as_tensor(yv_np)
    vw = class_weights_from_labels(yv_np, n_classes) if class_weights else None
    loss_fn = torch.nn.CrossEntropyLoss(weight=None if vw is None else torch.as_tensor(vw, dtype=torch.float32))

    def val_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(loss_fn(model(xv), yv))

    return val_loss
