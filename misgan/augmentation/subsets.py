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
