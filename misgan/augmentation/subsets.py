"""The low-resource protocol's training subsets: a fraction of every training speaker's rows of each class.

`fraction_rows(rows, y, speakers, fraction, seed)` keeps ceil(fraction · n) rows of each (speaker, class) group
(at least one), taking them in the order of ONE random permutation per group drawn from `seed`: the same seed
gives nested subsets (the 10 % rows are inside the 25 % rows, ...), and fraction 1 returns every row. Stage 3
applies it to the training and validation rows of a fold; the test rows are never touched.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def fraction_rows(rows: np.ndarray, y: np.ndarray, speakers: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted subset of `rows` (positions into y / speakers): stratified by class within each speaker."""
    rows = np.asarray(rows, dtype=np.int64)
    if fraction >= 1.0 or len(rows) == 0:
        return np.sort(rows)
    rng = np.random.default_rng(seed)
    spk = np.asarray(speakers).astype(str)[rows]
    cls = np.asarray(y)[rows]
    keep: list[np.ndarray] = []
    # sorted group keys: the draw does not depend on row order, only on the seed and the groups
    for s, c in sorted(set(zip(spk.tolist(), cls.tolist(), strict=True))):
        group = np.sort(rows[(spk == s) & (cls == c)])
        order = rng.permutation(len(group))
        keep.append(group[order[: max(1, math.ceil(fraction * len(group)))]])
    return np.sort(np.concatenate(keep))


def fraction_fold(fold: Any, speakers: np.ndarray, fraction: float, seed: int) -> Any:
    """A FoldData whose training and validation rows are the fraction's (test rows unchanged)."""
    import dataclasses

    if fraction >= 1.0:
        return fold
    return dataclasses.replace(
        fold,
        train_idx=fraction_rows(fold.train_idx, fold.y, speakers, fraction, seed),
        valid_idx=fraction_rows(fold.valid_idx, fold.y, speakers, fraction, seed + 1),
        requested=set(),
    )


def refit_stage1(fold: Any, audio: np.ndarray, speakers: np.ndarray) -> Any:
    """`fold` (a fraction's FoldData) with stage 1 refitted on its own training and validation rows.

    The align run's adapter, heads and C were fitted on every training row of the fold; below fraction 1 they
    would carry the left-out rows' labels into "none" (the head's C and h) and into the generator (L_Iy
    through W_y), so the low-resource comparison would not be low-resource. Same AlignConfig as the align run
    (its `attrs["config"]`), the test rows untouched; the fold attrs get this fit's `selection`, `baseline` and
    `stage1_arrays` (standardisation + adapter weights, as an align run's fold stores them)."""
    import dataclasses

    from misgan.alignment.adapter import train_fold
    from misgan.alignment.config import AlignConfig
    from misgan.augmentation.fold_data import AugmentError
    from misgan.config import from_dict
    from misgan.data.folds import Fold

    if "config" not in fold.attrs:
        raise AugmentError(f"fold {fold.name}: the align run holds no stage-1 config to refit on a train fraction")
    config = from_dict(AlignConfig, fold.attrs["config"], f"fold {fold.name}: stage-1 config")
    config = dataclasses.replace(config, reference=False, jobs=1)  # the job scores its own reference row
    text = fold.t if fold.t.shape[1] else None
    rows = Fold(fold.name, train=fold.train_idx, test=fold.test_idx, valid=fold.valid_idx)
    result = train_fold(audio, text, fold.y, rows, config, fold.n_classes, groups=speakers)
    heads = dict(result.heads)
    heads.update({k: result.extras[k] for k in ("text_mean", "text_std") if k in result.extras})
    if text is None:  # an audio-only fold: an empty text head, as misgan.augmentation.inputs.load_fold gives
        heads |= {"W_t": np.zeros((0, result.h.shape[1]), np.float32), "b_t": np.zeros(0, np.float32)}
    heads = {k: np.asarray(v, np.float32) for k, v in heads.items()}
    # stage1_arrays: the refit's standardisation and adapter, to map source-cache rows into this h space
    attrs = {**fold.attrs, "selection": result.selection, "baseline": result.baseline, "refit": True}
    attrs["stage1_arrays"] = dict(result.extras)
    return dataclasses.replace(fold, h=np.asarray(result.h, np.float32), heads=heads, attrs=attrs, requested=set())


def train_only_heads(fold: Any, view: Any, c_default: float = 1.0) -> dict[str, np.ndarray]:
    """The fold's heads with W_y, b_y refitted on the training rows alone (`view`), at the fold's stage-1 C.

    Stage 1 fits W_y on every row of the training speakers, the validation speakers' included; a generator
    trained through L_Iy on that W_y carries the validation speakers' labels into its rows, so augmenting with it
    looks better on those speakers than on unseen ones, which is what the validation gate must not see (gating.py).
    W_t, b_t stay: they were fitted without labels."""
    from misgan.alignment.fullbatch import fit_softmax

    cfg = fold.attrs.get("config") or {}
    c = fold.stage1_c() or c_default
    w, b = fit_softmax(
        view.h, view.y, fold.n_classes, float(c), class_weights=bool(cfg.get("class_weights", True)),
        max_iter=int(cfg.get("lbfgs_iter", 500)),
    )  # fmt: skip
    return {**view.heads, "W_y": w.astype(np.float32), "b_y": b.astype(np.float32)}
