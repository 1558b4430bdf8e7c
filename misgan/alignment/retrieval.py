"""Text -> audio retrieval: how well a transcript's feature t finds its own audio feature h.

Used to report cross-modal alignment before and after stage 1 (docs/stage1.md). Queries are text
features, candidates audio features mapped into a comparable space (W_t·h + b_t, or eq. 5's shared
space); ranking by cosine similarity. Corpora whose transcripts repeat (RAVDESS: two sentences) make
per-row retrieval nearly meaningless, so a per-transcript variant counts any audio row of the same
transcript as a hit.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def retrieval_accuracy(
    queries: np.ndarray, candidates: np.ndarray, ks: tuple[int, ...] = (1, 5), groups: np.ndarray | None = None
) -> dict[str, float]:
    """Recall@k of retrieving row i of `candidates` for query i by cosine similarity.

    With `groups` a hit is any candidate in the query's group (e.g. the same transcript), and
    `chance@1` is the expected top-1 hit rate of a random ranking."""
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    c = candidates / np.maximum(np.linalg.norm(candidates, axis=1, keepdims=True), 1e-12)
    order = np.argsort(-(q @ c.T), axis=1, kind="stable")
    n = len(q)
    g = np.arange(n) if groups is None else np.asarray(groups)
    hits = g[order] == g[:, None]
    out = {f"r@{k}": float(hits[:, : min(k, n)].any(axis=1).mean()) for k in ks}
    out["chance@1"] = float(np.mean([(g == gi).mean() for gi in g]))
    return out


def text_groups(text: np.ndarray) -> np.ndarray:
    """Group id per row: rows with identical text features (the same transcript) share one."""
    return np.unique(text, axis=0, return_inverse=True)[1].ravel()


def fold_retrieval(result: Any, text: np.ndarray, rows: np.ndarray, shared: bool) -> dict[str, float]:
    """Text -> audio retrieval on `rows`: through W_t·h + b_t (text space), and through eq. 5's shared
    space when it was trained (`shared`). Reported per row (`exact_*`) and per transcript (`text_*`)."""
    h, t = result.h[rows], text[rows]
    groups = text_groups(t)
    t_hat = h @ result.heads["W_t"].T + result.heads["b_t"]
    spaces = {"wt": (t, t_hat)}
    if shared:
        e = result.extras
        t_std = (t - e["text_mean"]) / e["text_std"]
        spaces["shared"] = (
            t_std @ e["proj_t.weight"].T + e["proj_t.bias"],
            h @ e["proj_h.weight"].T + e["proj_h.bias"],
        )
    out: dict[str, float] = {}
    for space, (q, c) in spaces.items():
        for kind, g in (("exact", None), ("text", groups)):
            for k, v in retrieval_accuracy(q, c, ks=(1, 5), groups=g).items():
                out[f"{space}_{kind}_{k}"] = v
    return out
