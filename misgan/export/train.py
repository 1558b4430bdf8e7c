"""The classifiers of an exported model, trained once on every speaker (see misgan.export.bundle).

Same recipe as a stage-3 fold (misgan.augmentation.classifier): the unimodal head on h ∪ ĥ starts from the
stage-1 W_y when it is a plain linear head; the multimodal MLP (a multimodal run) trains on (h, t) pairs plus
(ĥ, t_cond) when augmented. Arrays come back as plain numpy (state dict + standardisation), so the bundle
stores them in safetensors and rebuilds the modules from their ClassifierConfig.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


def classifier_configs(config: Any) -> dict[str, Any]:
    """name -> ClassifierConfig: "audio" (the run's classifier) and "audio_text" (its multimodal MLP)."""
    return {
        "audio": config.classifier,
        "audio_text": dataclasses.replace(
            config.classifier,
            hidden=tuple(config.mm_hidden),
            standardize=True,
            max_epochs=config.mm_max_epochs,
            patience=config.mm_patience,
        ),
    }


def _arrays(clf: Any) -> dict[str, np.ndarray]:
    out = {f"model.{k}": v.detach().cpu().numpy() for k, v in clf.model.state_dict().items()}
    if clf.mean is not None and clf.scale is not None:
        out.update(mean=np.asarray(clf.mean, np.float32), scale=np.asarray(clf.scale, np.float32))
    return out


def train_classifiers(
    r: Any, text: np.ndarray | None, y: np.ndarray, fold: Any, config: Any, method: str, n_classes: int, say: Any
) -> tuple[dict[str, dict[str, np.ndarray]], int]:
    """({"audio": arrays, ["audio_text": arrays]}, number of synthetic rows) for stage-1 result `r`."""
    from misgan.augmentation.augmenters import balance_labels, ratio_labels
    from misgan.augmentation.classifier import TrainView, project_text
    from misgan.augmentation.job import build_augmenter
    from misgan.augmentation.trainer import train_classifier

    h = np.asarray(r.h, np.float32)
    t = np.zeros((len(y), 0), np.float32) if text is None else np.asarray(text, np.float32)
    tr, va = fold.train, fold.valid
    heads = {k: np.asarray(v, np.float32) for k, v in r.heads.items()}
    for k in ("text_mean", "text_std"):
        if k in r.extras:
            heads[k] = np.asarray(r.extras[k], np.float32)
    if t.shape[1] == 0:  # audio-only: no text head, and the generator is G(z, c), as in stage 3
        heads.setdefault("W_t", np.zeros((0, h.shape[1]), np.float32))
        heads.setdefault("b_t", np.zeros(0, np.float32))
        config = dataclasses.replace(config, gan=config.gan.for_text(False))
    view = TrainView(h[tr].copy(), t[tr].copy(), y[tr].copy(), heads, n_classes, (h[va], y[va], t[va]))
    x, yy = view.h, view.y
    h_syn = y_syn = t_syn = None
    if method != "none":
        aug = build_augmenter(method, config, None)
        aug.fit(view, config.seed)
        labels = (
            balance_labels(view.y, n_classes) if config.balance else ratio_labels(view.y, config.ratio, n_classes)
        )
        h_syn, y_syn = aug.sample(labels, config.seed)
        t_syn = getattr(aug, "last_text", None)
        x, yy = np.concatenate([x, h_syn]), np.concatenate([yy, y_syn])
        say(f"export: {method}: {len(h_syn)} synthetic rows added to {len(view.y)} real training rows")
    cfgs = classifier_configs(config)
    cfg = cfgs["audio"]
    init = None if cfg.hidden or cfg.standardize else (heads["W_y"], heads["b_y"])
    out = {
        "audio": _arrays(
            train_classifier(x, yy, n_classes, cfg, valid=(h[va], y[va]), init=init, seed=config.seed)
        )
    }
    if config.multimodal and text is not None:
        pairs = [(view.h, view.t, view.y)]
        if h_syn is not None:
            ts = t_syn if t_syn is not None and len(t_syn) == len(h_syn) else project_text(h_syn, heads)
            pairs.append((h_syn, ts, y_syn))
        xm = np.concatenate([np.concatenate([a, b], axis=1) for a, b, _ in pairs])
        ym = np.concatenate([c for _, _, c in pairs])
        valid = (np.concatenate([h[va], t[va]], axis=1), y[va])
        clf = train_classifier(xm, ym, n_classes, cfgs["audio_text"], valid=valid, seed=config.seed)
        out["audio_text"] = _arrays(clf)
    return out, 0 if h_syn is None else len(h_syn)
