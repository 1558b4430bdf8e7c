"""Stage 1, adapter mode: align cached frozen-encoder features and train the heads (eq. 1-7).

Per fold, on the training speakers only:
  x  = (audio - μ_a) / σ_a                 statistics of the fold's training rows
  h  = adapter(x)                          linear (hidden=0) or one-hidden-layer MLP -> (N, h_dim)
  ŷ  = softmax(W_y·h + b_y)                eq. 2, L_SER = cross-entropy (eq. 3)
  L_CL = InfoNCE(P_t(t_std), P_h(h))       eq. 5 in a learned shared space (t and h differ in width)
  t̂  = W_t·h + b_t,  L_MI = InfoNCE(t, t̂)  eq. 6 against the cache's raw text features t
  L  = L_SER + α·L_CL + β·L_MI             eq. 7
W_t maps into the *raw* text space so stage 2 can compare W_t·ĥ + b_t with `store.read("text")` as is.
With β = 0 (the paper's "without cross-modal alignment" ablation when α = 0 too) W_t is fitted
afterwards on the frozen h (`config.text_head`: InfoNCE, or ridge least squares).
Early stopping on the validation speakers (Fold.valid), CE or UAR; the best epoch's weights are kept.
The mini-batch loop: `misgan.alignment.minibatch`; the end of a fold (W_t on frozen h, test score, arrays):
`misgan.alignment.finish`; the full-batch default (`optimizer="lbfgs"`): `misgan.alignment.fullfold`.
`misgan.alignment.run.align` runs every fold of a cache and writes `folds/<fold>/` (docs/stage1.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from misgan.alignment.config import AlignConfig
from misgan.data.folds import Fold
from misgan.errors import MisganError

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass
class AlignResult:
    h: np.ndarray  # (N, h_dim) for every row of the store
    heads: dict[str, np.ndarray]  # W_y (C, Dh), b_y (C,), W_t (Dt, Dh), b_t (Dt,)
    history: list[dict[str, float]]  # one record per epoch
    baseline: dict[str, Any]  # uar, wa, macro_f1 (+ confusion) of W_y on the test rows
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # standardisation + adapter weights
    retrieval: dict[str, float] = field(default_factory=dict)  # text -> audio on the test rows
    best_epoch: int = 0
    selection: dict[str, Any] = field(default_factory=dict)  # full batch: chosen C and inner-CV UAR per C
    reference: dict[str, Any] = field(default_factory=dict)  # logistic-regression reference on the same fold


def standardiser(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over `rows`; constant columns get std 1 so they map to 0 instead of NaN."""
    mu = x[rows].mean(axis=0, dtype=np.float64)
    sd = x[rows].std(axis=0, dtype=np.float64)
    sd[sd < 1e-8] = 1.0
    return mu.astype(np.float32), sd.astype(np.float32)


def build_adapter(d_in: int, config: AlignConfig) -> nn.Module:
    from torch import nn

    if config.hidden == 0:
        return nn.Sequential(nn.Dropout(config.dropout), nn.Linear(d_in, config.h_dim))
    return nn.Sequential(
        nn.Dropout(config.dropout),
        nn.Linear(d_in, config.hidden),
        nn.GELU(),
        nn.Dropout(config.dropout),
        nn.Linear(config.hidden, config.h_dim),
    )


def recompute_h(arrays: dict[str, np.ndarray], audio: np.ndarray, config: AlignConfig | dict) -> np.ndarray:
    """h from raw audio features and a fold's stored arrays (standardisation + `adapter.*` weights);
    `config` may be the fold's `attrs["config"]` dict."""
    import torch

    from misgan.config import from_dict

    if isinstance(config, dict):
        config = from_dict(AlignConfig, config, "fold config")
    x = (audio - arrays["audio_mean"]) / arrays["audio_std"]
    if config.adapter == "identity":
        return x.astype(np.float32)
    if config.adapter == "pca":
        return (x.astype(np.float64) @ np.asarray(arrays["adapter.basis"], np.float64)).astype(np.float32)
    adapter = build_adapter(audio.shape[1], config)
    prefix = "adapter."
    adapter.load_state_dict(
        {k[len(prefix) :]: torch.from_numpy(np.asarray(v)) for k, v in arrays.items() if k.startswith(prefix)}
    )
    adapter.eval()
    with torch.no_grad():
        return adapter(torch.from_numpy(x.astype(np.float32))).numpy()


def train_fold(
    audio: np.ndarray,
    text: np.ndarray | None,
    y: np.ndarray,
    fold: Fold,
    config: AlignConfig,
    n_classes: int | None = None,
    log: Any = None,
    progress: bool | None = None,
    *,
    groups: np.ndarray | None = None,
) -> AlignResult:
    """Stage 1 on one fold; W_y scored on `fold.test`. `optimizer="lbfgs"`: full batch on `fold.train_all`, C by
    inner grouped CV over `groups` (speaker per row; without them the fold's train/valid split), see fullfold.py.
    `optimizer="adam"`: train on `fold.train`, stop early on `fold.valid`. `text=None` (audio-only cache): no
    alignment terms (α = β = 0), no W_t. `log` gets one dict per epoch / selection step via `.write`;
    `progress` None shows a bar only on a TTY. With `config.reference` the fold's logistic-regression
    reference (misgan.reference) is scored too (`AlignResult.reference`)."""
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    _check_inputs(audio, text, y, fold)
    if config.optimizer == "lbfgs":
        from misgan.alignment.fullfold import train_fold_fullbatch

        result = train_fold_fullbatch(audio, text, y, fold, config, n_classes, groups, log)
    else:
        from misgan.alignment.minibatch import train_minibatch

        result = train_minibatch(audio, text, y, fold, config, n_classes, log, progress)
    if config.reference:
        from misgan.reference import lr_reference

        ref = lr_reference(audio, y, fold, groups=groups, grid=config.c_grid)
        result.reference = {k: ref[k] for k in ("uar", "wa", "macro_f1", "c")}
    return result


def make_heads(h_dim: int, n_classes: int, dim_t: int, shared_dim: int) -> nn.ModuleDict:
    """W_y (eq. 2), W_t (eq. 6) and eq. 5's two projections to the shared space."""
    from torch import nn

    return nn.ModuleDict(
        {
            "head_y": nn.Linear(h_dim, n_classes),
            "head_t": nn.Linear(h_dim, dim_t),
            "proj_t": nn.Linear(dim_t, shared_dim),
            "proj_h": nn.Linear(h_dim, shared_dim),
        }
    )


def stage1_losses(
    heads: Any,
    h: torch.Tensor,
    t_raw: torch.Tensor,
    t_std: torch.Tensor,
    y: torch.Tensor,
    config: Any,
    weights: Any,
) -> dict[str, torch.Tensor]:
    """Eq. 7: L_SER + α·L_CL + β·L_MI on one batch (terms with weight 0 are skipped)."""
    from misgan.alignment.losses import contrastive_alignment, cross_entropy, info_nce

    out = {"ser": cross_entropy(heads["head_y"](h), y, weights)}
    if config.alpha > 0:
        out["cl"] = contrastive_alignment(t_std, h, heads["proj_t"], heads["proj_h"], config.tau, config.symmetric)
    if config.beta > 0:
        out["mi"] = info_nce(t_raw, heads["head_t"](h), config.tau)
    out["loss"] = out["ser"] + config.alpha * out.get("cl", 0.0) + config.beta * out.get("mi", 0.0)
    return out


def _check_inputs(audio: np.ndarray, text: np.ndarray | None, y: np.ndarray, fold: Fold) -> None:
    n_text = len(audio) if text is None else len(text)
    if not (len(audio) == n_text == len(y)):
        raise MisganError(f"align: audio ({len(audio)}), text ({n_text}) and labels ({len(y)}) differ in rows")
    if len(fold.train) < 2:
        raise MisganError(f"align: fold {fold.name} has fewer than 2 training rows")
    for name, arr in (("audio", audio), ("text", audio if text is None else text)):
        if not np.isfinite(arr[fold.train_all]).all():
            raise MisganError(f"align: fold {fold.name}: {name} features contain NaN or inf")
