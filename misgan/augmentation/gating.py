"""Validation-gated augmentation, cross-fitted: augment only when choosing an augmentation on validation speakers
beats no augmentation on OTHER validation speakers.

For one fitted augmenter, `gated_score` samples once per ratio of `config.gate_ratios` (the fit is reused) and fits
the stage-3 head on the training rows plus the synthetic rows, weighted by each of `config.gate_weights`; "none" is
the same head without synthetic rows. Every head uses the fold's stage-1 C (no choice on validation rows). The
fold's validation rows are split in two halves (`validation_halves`: by speaker when there are two or more
validation speakers, else class-stratified alternate rows). The candidate chosen on one half is scored against
none on the other half, and vice versa; the gate augments only when BOTH confirmed gains exceed
`config.gate_margin` (with no real effect a noisy half beats none about half the time, both about a quarter of the
time). Choosing the best of several candidates and judging it on the same rows favours augmentation (the maximum
of noisy scores beats a single one); cross-fitting judges the choice on rows it did not see. When the gate
augments, the candidate best on all validation rows is fitted exactly as "none" is (`evaluate_unimodal`: every row
of the training speakers, the synthetic rows at their weight) and scored on the test rows; otherwise the fold's
test score is none's. The decision and every validation figure are returned for
results.json. A gated GAN method samples its own generator, trained on the training rows alone (its kept epoch
chosen on them, L_Iy through a W_y refitted on them: augmentation/job.py, subsets.train_only_heads): the validation
speakers shape nothing before the gate judges on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from misgan.augmentation.classifier import evaluate_unimodal
from misgan.augmentation.trainer import train_classifier
from misgan.metrics import uar


def validation_halves(fold: Any, speakers: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Two disjoint halves of the fold's validation rows (positions into `fold.valid()`), and how they were made:
    "speakers" (whole validation speakers, alternating in sorted order) or "rows" (one validation speaker, or
    none known: alternate rows within each class)."""
    idx = np.asarray(fold.valid_idx)
    pos = np.arange(len(idx))
    if speakers is not None:
        spk = np.asarray(speakers).astype(str)[idx]
        names = sorted(set(spk.tolist()))
        if len(names) >= 2:
            first = np.isin(spk, names[0::2])
            return pos[first], pos[~first], "speakers"
    y = np.asarray(fold.y)[idx]
    first = np.zeros(len(idx), bool)
    for k in np.unique(y):
        first[pos[y == k][0::2]] = True
    return pos[first], pos[~first], "rows"


def _fit(fold: Any, x_syn: np.ndarray | None, y_syn: np.ndarray | None, weight: float, config: Any, seed: int):
    """The gate's head: training rows (+ synthetic rows at `weight`), the stage-1 C, no validation rows used."""
    view = fold.train_view()
    x, y, sw = view.h, view.y, None
    if x_syn is not None and len(x_syn):
        x = np.concatenate([x, np.asarray(x_syn, dtype=np.float32)])
        y = np.concatenate([y, np.asarray(y_syn, dtype=np.int64)])
        sw = np.concatenate([np.ones(len(view.y)), np.full(len(x_syn), weight)]).astype(np.float32)
    init, c = fold.head_init(config), fold.stage1_c()
    return train_classifier(x, y, fold.n_classes, config, init=init, seed=seed, sample_weight=sw, c=c)


def _half_uars(clf: Any, hv: np.ndarray, yv: np.ndarray, halves: tuple[np.ndarray, np.ndarray]) -> list[float]:
    pred = clf.predict(hv)
    return [uar(yv, pred), *(uar(yv[h], pred[h]) if len(h) else float("nan") for h in halves)]


def gated_score(
    fold: Any,
    aug: Any,
    labels_for: Callable[[float], np.ndarray],
    config: Any,
    seed: int,
    none_metrics: dict[str, Any],
    speakers: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(test metrics of the gated classifier, the decision record) for one fold, seed and fraction."""
    hv, _, yv = fold.valid()
    a, b, how = validation_halves(fold, speakers)
    none = _half_uars(_fit(fold, None, None, 1.0, config.classifier, seed), hv, yv, (a, b))
    grid: list[dict[str, Any]] = []
    samples: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for ratio in config.gate_ratios:
        samples[float(ratio)] = aug.sample(labels_for(ratio), seed)
        for w in config.gate_weights:
            v = _half_uars(_fit(fold, *samples[float(ratio)], w, config.classifier, seed), hv, yv, (a, b))
            grid.append({"ratio": float(ratio), "weight": float(w), "valid_uar": v[0], "half_uars": v[1:]})
    decision: dict[str, Any] = {
        "valid_uar_none": none[0],
        "none_half_uars": none[1:],
        "grid": grid,
        "margin": config.gate_margin,
        "halves": how,
        "half_rows": [len(a), len(b)],
    }
    gains = []
    for choose, confirm in ((0, 1), (1, 0)):
        pick = max(grid, key=lambda g: g["half_uars"][choose]) if grid else None
        if pick is not None and np.isfinite(pick["half_uars"][confirm]):
            gains.append(pick["half_uars"][confirm] - none[1 + confirm])
    gain = float(np.mean(gains)) if len(gains) == 2 else float("nan")
    decision["crossfit_gain"] = gain
    decision["confirmed_gains"] = gains
    if len(gains) == 2 and min(gains) > config.gate_margin:
        best = max(grid, key=lambda g: g["valid_uar"])
        x_syn, y_syn = samples[best["ratio"]]
        metrics = evaluate_unimodal(fold, x_syn, y_syn, config.classifier, seed=seed, weight=best["weight"])
        decision.update(augmented=True, ratio=best["ratio"], weight=best["weight"], valid_uar=best["valid_uar"])
        return metrics, decision
    decision.update(augmented=False, ratio=0.0, weight=0.0, valid_uar=none[0])
    return dict(none_metrics), decision
