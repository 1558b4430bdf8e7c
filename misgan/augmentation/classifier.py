"""Stage 3: train classifiers on real ∪ synthetic features and score them on the test speakers.

Only the classification layers are trained here (paper §3.3). The linear head (unimodal SER, `hidden=()`) is
fitted full batch by default (`optimizer="lbfgs"`, augmentation/fullhead.py): the L2-penalised class-balanced
softmax regression of misgan.alignment.fullbatch, its C given by the caller (stage 1's inner-CV choice for the
fold), or chosen by inner grouped CV over `groups`, or on the validation rows. `evaluate_unimodal` fits it on
every row of the training speakers (train + valid) plus the synthetic rows, so stage-3 "none" solves the
stage-1 head's own problem and reaches the logistic-regression reference. `optimizer="adam"` (and every MLP)
keeps the mini-batch Adam loop with early stopping on the validation rows, fine-tuned from the stage-1 W_y.

Fold hygiene (misgan.augmentation.fold_data): `FoldData.train_view()` hands out copies of the training rows
only; augmenters and the GAN receive nothing else, and test rows are read once, after training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from misgan.alignment.losses import class_weights_from_labels
from misgan.augmentation.config import ClassifierConfig
from misgan.augmentation.fold_data import AugmentError, FoldData, TrainView
from misgan.callbacks import BestState, EarlyStopping
from misgan.metrics import classification_metrics
from misgan.training import fit

__all__ = [
    "AugmentError",
    "ClassifierConfig",
    "FoldData",
    "TrainView",
    "TrainedClassifier",
    "evaluate_multimodal",
    "evaluate_unimodal",
    "project_text",
    "score_classifier",
    "train_classifier",
]


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
) -> dict[str, Any]:
    """Fine-tune the stage-1 head on h ∪ ĥ (ĥ may be None/empty: the no-augmentation run); score on test."""
    view = fold.train_view()
    x, y = view.h, view.y
    if h_syn is not None and len(h_syn):
        h_syn = np.asarray(h_syn, dtype=np.float32)
        if h_syn.shape[1] != x.shape[1]:
            raise AugmentError(
                f"fold {fold.name}: synthetic features have {h_syn.shape[1]} dims, real {x.shape[1]}"
            )
        x = np.concatenate([x, h_syn])
        y = np.concatenate([y, np.asarray(y_syn, dtype=np.int64)])
    hv, _, yv = fold.valid()
    init = None if config.hidden or config.standardize else (fold.heads["W_y"], fold.heads["b_y"])
    if config.optimizer == "lbfgs" and not config.hidden:
        # full batch: every row of the training speakers (+ synthetic), C as stage 1 chose it for this fold by
        # inner grouped CV over the same speakers (no C recorded: chosen on the validation rows instead)
        c = (fold.attrs.get("selection") or {}).get("c")
        n_real = len(view.y)
        groups = np.array(["train"] * n_real + [""] * (len(y) - n_real) + ["valid"] * len(yv))
        x_all, y_all = np.concatenate([x, hv]), np.concatenate([y, yv])
        clf = train_classifier(x_all, y_all, fold.n_classes, config, init=init, seed=seed, c=c, groups=groups)
    else:
        clf = train_classifier(x, y, fold.n_classes, config, valid=(hv, yv), init=init, seed=seed)
    ht, _, yt = fold.test()
    out = score_classifier(clf, ht, yt, fold.n_classes)
    out["n_train"] = len(view.y)
    out["n_syn"] = 0 if h_syn is None else len(h_syn)
    return out


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
